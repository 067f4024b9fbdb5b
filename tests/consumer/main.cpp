#include <cadre/cadre.hpp>
#include <cstdio>

int triple(int x) { return 3 * x; }
CADRE_TASK(triple);

int main(int argc, char** argv) {
  return cadre::launch(argc, argv, [] {
    int v = cadre::run(cadre::any, triple, 14).get();
    std::printf("consumer: triple(14) = %d\n", v);
    return v == 42 ? 0 : 1;
  });
}
