// Nodes started while the job runs: two anywhere in the job's hosts, then one on the host of
// the last world rank, each asked where it runs.
//   mpirun -np 2 ./build/examples/cadre-spawner      (inside an allocation: sbatch, salloc)
#include <unistd.h>

#include <cadre/cadre.hpp>
#include <cstdio>
#include <string>

std::string host_of_node() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  return name;
}
CADRE_TASK(host_of_node);

int main(int argc, char** argv) {
  return cadre::launch(argc, argv, [] {
    auto world = cadre::nodes();
    const std::string last_host = cadre::node_info(world.back()).host;
    auto anywhere = cadre::spawn_nodes({.count = 2});
    auto there = cadre::spawn_nodes({.count = 1, .host = last_host});
    for (auto ids : {anywhere, there})
      for (cadre::NodeId n : ids)
        std::printf("spawned node %u runs on %s\n", n.value(),
                    cadre::run<std::string>(n, host_of_node).get().c_str());
    if (cadre::run<std::string>(there[0], host_of_node).get() != last_host) {
      std::printf("the node asked for on %s is elsewhere\n", last_host.c_str());
      return 1;
    }
    for (auto ids : {anywhere, there})
      for (cadre::NodeId n : ids) cadre::stop_node(n);
    std::printf("spawner: ok (%zu world nodes, 3 spawned)\n", world.size());
    return 0;
  });
}
