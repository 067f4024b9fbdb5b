// Program A of an MPMD job (`mpirun -np 1 a : -np N b`): the master. It shares `square` and
// `greet` with program B, has `only_in_a` alone, and uses B's tasks by name.

#include <cadre/cadre.hpp>
#include <cstdio>
#include <string>

long square(long x) { return x * x; }
CADRE_TASK(square);

std::string greet(std::string who) { return "hello " + who + " from A"; }
CADRE_TASK(greet);

int only_in_a(int x) { return x; }
CADRE_TASK(only_in_a);

namespace {
int fail(const char* what) {
  std::fprintf(stderr, "mpmd failed: %s\n", what);
  return 1;
}
}  // namespace

int main(int argc, char** argv) {
  return cadre::launch(argc, argv, [] {
    auto b = cadre::NodeId(1);
    if (cadre::run(cadre::on(b), square, 12L).get() != 144) return fail("square on B");
    if (cadre::run(cadre::on(b), greet, std::string("x")).get() != "hello x from B")
      return fail("greet on B");
    try {
      cadre::run(cadre::on(b), only_in_a, 1).get();
      return fail("only_in_a ran on B");
    } catch (const cadre::NotRegistered& e) {
      if (std::string(e.what()).find("only_in_a") == std::string::npos)
        return fail("NotRegistered does not name the task");
    }
    std::printf("mpmd: ok\n");
    return 0;
  });
}
