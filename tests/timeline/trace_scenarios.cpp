// Jobs the run timeline's test traces (tests/timeline/timeline_test.sh):
//   flood   a process on node 1 sends 30 000 messages to one on the last node, above the
//           recorded rate (trace.hpp: sampled), while tasks run beside it
//   spawn   the master spawns a node, runs a task there and stops it
#include <cadre/cadre.hpp>
#include <cstdio>
#include <string>

namespace {

constexpr int kFlood = 30000;

void sink(cadre::Pid boss) {
  long sum = 0;
  for (int i = 0; i < kFlood; ++i)
    sum += cadre::receive(cadre::match<int>([](int x) { return x; }));
  cadre::send(boss, sum);
}
CADRE_TASK(sink);

void source(cadre::Pid to) {
  for (int i = 0; i < kFlood; ++i) cadre::send(to, 1);
}
CADRE_TASK(source);

int twice(int x) { return 2 * x; }
CADRE_TASK(twice);

int flood() {
  const auto nodes = cadre::nodes();
  const cadre::NodeId last = nodes.back();
  const cadre::Pid to = cadre::spawn(cadre::on(last), sink, cadre::self());
  cadre::spawn(cadre::on(nodes[1]), source, to);
  int sum = 0;
  for (int i = 0; i < 50; ++i) sum += cadre::run(cadre::any, twice, i).get();
  const long got = cadre::receive(cadre::match<long>([](long s) { return s; }));
  std::printf("flood: %ld messages, tasks %d\n", got, sum);
  return got == kFlood && sum == 2450 ? 0 : 1;
}

int spawn() {
  const auto ids = cadre::spawn_nodes({.count = 1});
  const int r = cadre::run(cadre::on(ids.front()), twice, 21).get();
  cadre::stop_node(ids.front());
  std::printf("spawn: node %u answered %d\n", ids.front().value(), r);
  return r == 42 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // A spawned node runs this program without arguments: it serves, its driver never runs.
  const std::string what = argc > 1 ? argv[1] : "";
  return cadre::launch(argc, argv, [&] {
    if (what == "flood") return flood();
    if (what == "spawn") return spawn();
    std::fprintf(stderr, "usage: cadre-trace-scenario flood|spawn\n");
    return 2;
  });
}
