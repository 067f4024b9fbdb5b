// A second program that spawned tests start: it shares the tasks of spawn_common.hpp and has
// one of its own, and serves (a spawned program builds its Runtime as usual).

#include <cadre/cadre.hpp>

#include "spawn_common.hpp"

namespace {
int other_triple(int x) { return 3 * x; }
CADRE_TASK(other_triple);
}  // namespace

int main(int argc, char** argv) {
  cadre::Runtime rt(argc, argv);
  if (!rt.is_spawned()) {
    std::fprintf(stderr, "spawn_other: start me with spawn_nodes\n");
    return rt.is_master() ? rt.shutdown() ^ 2 : rt.serve();
  }
  return rt.serve();
}
