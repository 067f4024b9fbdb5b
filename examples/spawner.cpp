// Nodes started while the job runs: two anywhere in the job's hosts, then one on a named host
// (the argument, else the host of the last world rank), each asked where it runs.
//   mpirun -np 2 ./build/examples/cadre-spawner [HOST]    (inside an allocation: sbatch, salloc)
// Inside an allocation HOST may be one of its hosts where no rank runs yet: on_host(HOST) is
// refused until a node is spawned there.
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
  const std::string wanted = argc > 1 ? argv[1] : "";
  return cadre::launch(argc, argv, [&] {
    auto world = cadre::nodes();
    const std::string host = wanted.empty() ? cadre::node_info(world.back()).host : wanted;
    try {
      cadre::run<std::string>(cadre::on_host(host), host_of_node).get();
      std::printf("a node already runs on %s\n", host.c_str());
    } catch (const cadre::InvalidNode& e) {
      std::printf("before the spawn: %s\n", e.what());
    }
    auto anywhere = cadre::spawn_nodes({.count = 2});
    auto there = cadre::spawn_nodes({.count = 1, .host = host});
    for (auto ids : {anywhere, there})
      for (cadre::NodeId n : ids)
        std::printf("spawned node %u runs on %s\n", n.value(),
                    cadre::run<std::string>(n, host_of_node).get().c_str());
    if (cadre::run<std::string>(cadre::on_host(host), host_of_node).get() != host) {
      std::printf("the node asked for on %s is elsewhere\n", host.c_str());
      return 1;
    }
    for (auto ids : {anywhere, there})
      for (cadre::NodeId n : ids) cadre::stop_node(n);
    std::printf("spawner: ok (%zu world nodes, 3 spawned)\n", world.size());
    return 0;
  });
}
