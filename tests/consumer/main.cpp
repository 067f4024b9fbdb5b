#include <cadre/cadre.hpp>
#include <cstdio>
#include <string>

int triple(int x) { return 3 * x; }
CADRE_TASK(triple);

// Not registered, and static: no dynamic symbol names it, even with -rdynamic.
static int square_static(int x) { return x * x; }
static void body_static(int) {}

/// Whether calling `call` throws NotRegistered naming `name` (prints what it says).
template <class F>
bool names(const char* name, F call) {
  try {
    call();
  } catch (const cadre::NotRegistered& e) {
    std::printf("consumer: %s\n", e.what());
    return std::string(e.what()).find(name) != std::string::npos;
  }
  return false;
}

int main(int argc, char** argv) {
  return cadre::launch(argc, argv, [] {
    int v = cadre::run(cadre::any, triple, 14).get();
    std::printf("consumer: triple(14) = %d\n", v);
    const bool named = names("the function square_static(int) (0x",
                             [] { (void)cadre::run(cadre::any, square_static, 2); }) &&
                       names("the function body_static(int) (0x",
                             [] { cadre::spawn(cadre::any, body_static, 1); });
    std::printf("consumer: unregistered static functions %s\n", named ? "named" : "NOT named");
    return v == 42 && named ? 0 : 1;
  });
}
