// Must not compile: spawn_hub with a wrong argument count, an argument of the wrong type and
// a body whose hub has other types than spawn_hub's. The test checks the compiler's messages
// (tests/CMakeLists.txt, compile_fail_hub_args).

#include <cadre/cadre.hpp>
#include <string>

void greeter(cadre::Hub<std::string>& hub, std::string greeting, int times) {
  for (int i = 0; i < times; ++i) hub.send_to_all(greeting);
}
CADRE_TASK(greeter);

struct Unrelated {};

int main(int argc, char** argv) {
  return cadre::launch(argc, argv, [] {
    cadre::spawn_hub<std::string>(cadre::any, greeter, "hello");               // one missing
    cadre::spawn_hub<std::string>(cadre::any, greeter, "hello", Unrelated{});  // wrong type
    cadre::spawn_hub<std::string, int>(cadre::any, greeter, "hello", 2);       // other types
    return 0;
  });
}
