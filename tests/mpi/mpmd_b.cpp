// Program B of an MPMD job: a worker with `square` and `greet` (as in A) and a task of its
// own. Built a second time with CADRE_MPMD_MISMATCH, where `square` has another signature:
// start-up must then fail on every rank with RegistryMismatch.

#include <cadre/cadre.hpp>
#include <string>

#ifdef CADRE_MPMD_MISMATCH
double square(double x) { return x * x; }
#else
long square(long x) { return x * x; }
#endif
CADRE_TASK(square);

std::string greet(std::string who) { return "hello " + who + " from B"; }
CADRE_TASK(greet);

int only_in_b(int x) { return -x; }
CADRE_TASK(only_in_b);

int main(int argc, char** argv) {
  return cadre::launch(argc, argv, [] { return 0; });
}
