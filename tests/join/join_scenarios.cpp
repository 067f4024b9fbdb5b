// Joining a running job, both sides in one program (run by tests/join/join_test.sh):
//   master PORTFILE leave|remove|refuse   the joinable job: listen(PORTFILE), then
//     leave   a joiner does work, then a task on it calls leave()
//     remove  a joiner does work, then remove_node() while it runs a short and a long task
//     refuse  the job does its own work while bad joiners knock; then one good joiner joins
//     killed  the joined node is killed: node_down "lost", the job goes on (status 1: a loss)
//   joiner PORTFILE                       a separately launched job: join("@PORTFILE"), serve
// The master prints "<mode>: ok" once everything held; a joiner prints how serve() ended.

#include <unistd.h>

#include <cadre/cadre.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "../common/scenario.hpp"

using namespace std::chrono_literals;
using cadre::NodeId;
using scenario::contains;
using scenario::fail;
using scenario::next_node_event;

namespace {

std::uint32_t node_of(int) { return cadre::self_node().value(); }
CADRE_TASK(node_of);

/// Works for `ms`, yielding so that its node serves on meanwhile.
int nap(int ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(1ms);
    cadre::yield();
  }
  return ms;
}
CADRE_TASK(nap);

bool please_leave() {
  cadre::leave();
  return true;
}
CADRE_TASK(please_leave);

/// Sends `to` the first relay a subscriber on this node receives (the history comes first).
void first_relay(cadre::Pid to) {
  cadre::subscribe_relay<std::string>();
  cadre::send(to,
              cadre::receive(cadre::match<std::string>([](const std::string& s) { return s; })));
}
CADRE_TASK(first_relay);

/// A log line from the node it runs on.
bool say_hello() {
  cadre::log(cadre::Level::info, "hello from joined node {}", cadre::self_node().value());
  return true;
}
CADRE_TASK(say_hello);

/// A process that lives until it is ended.
void resident() {
  cadre::receive(cadre::match<std::string>([](const std::string&) {}));
}
CADRE_TASK(resident);

/// The first node with an id from `first` on that is up, within `limit`.
std::optional<NodeId> wait_for_joiner(std::size_t first, std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    auto all = cadre::all_nodes();
    for (NodeId n : all)
      if (n.value() >= first && cadre::node_info(n).state == cadre::NodeState::up) return n;
    std::this_thread::sleep_for(20ms);
  }
  return std::nullopt;
}

/// Work on every node, the joined one included: each input answered exactly once.
bool map_everywhere(NodeId joined) {
  std::vector<int> in(400);
  for (int i = 0; i < 400; ++i) in[i] = i;
  auto fs = cadre::map(cadre::any, node_of, in, {.chunk = 4});
  bool reached = false;
  for (auto& f : fs) reached |= f.get() == joined.value();
  return reached && cadre::run(cadre::on(joined), node_of, 0).get() == joined.value();
}

int master(const std::string& port_file, const std::string& mode) {
  const std::size_t world = cadre::nodes().size();
  cadre::relay(std::string("relayed before the join"));
  const std::string port = cadre::listen(port_file);
  if (cadre::listen() != port) return fail("a second listen() gave another port");
  std::printf("listening at %s\n", port.c_str());
  std::fflush(stdout);
  if (mode == "refuse") {
    // The job's own work goes on while bad joiners knock (the script sends them now).
    const auto until = std::chrono::steady_clock::now() + 3s;
    long done = 0;
    while (std::chrono::steady_clock::now() < until) {
      std::vector<int> in(50, 1);
      for (auto& f : cadre::map(cadre::any, node_of, in)) done += f.get() < world ? 1 : 0;
    }
    std::printf("own work while refusing: %ld tasks\n", done);
    std::fflush(stdout);
  }
  auto joined = wait_for_joiner(world, 60s);
  if (!joined) return fail("nobody joined within 60 s");
  const NodeId n = *joined;
  std::printf("joined: node %u\n", n.value());
  std::fflush(stdout);
  cadre::monitor_node(n);
  if (next_node_event() != "up") return fail("no up event");
  if (mode == "killed") {
    // The script kills it now: lost as any node is, and the job goes on without it.
    const std::string ev = next_node_event();
    if (ev != "down:lost") return fail("node event: " + ev);
    if (!map_everywhere(NodeId(1))) return fail("work after the loss");
    std::printf("killed: ok\n");
    return 0;
  }
  if (!map_everywhere(n)) return fail("work on the joined node");
  // The relay history reached it first; its log lines reach the master.
  cadre::spawn(n, first_relay, cadre::self());
  const auto relayed =
      cadre::receive(10s, cadre::match<std::string>([](const std::string& s) { return s; }));
  if (relayed.value_or("timeout") != "relayed before the join")
    return fail("relay history: " + relayed.value_or("timeout"));
  if (!cadre::run(cadre::on(n), say_hello).get()) return fail("say_hello");
  const cadre::Pid p = cadre::spawn(n, resident);
  cadre::monitor(p);
  if (mode == "leave" || mode == "refuse") {
    if (mode == "leave") {
      if (!cadre::run(cadre::on(n), please_leave).get()) return fail("please_leave");
    } else {
      cadre::remove_node(n);
    }
  } else {
    auto short_task = cadre::run(cadre::on(n), nap, 300);
    auto long_task = cadre::run(cadre::on(n), nap, 8000);  // past shutdown_timeout (3 s)
    std::this_thread::sleep_for(100ms);
    try {
      cadre::remove_node(NodeId(1));
      return fail("remove_node of a world rank was allowed");
    } catch (const cadre::WrongRole& e) {
      std::printf("remove world rank: %s\n", e.what());
    }
    cadre::remove_node(n);
    if (short_task.get() != 300) return fail("the short task");
    try {
      long_task.get();
      return fail("the long task returned");
    } catch (const cadre::NodeDown& e) {
      std::printf("long task: NodeDown: %s\n", e.what());
      if (!contains(e.what(), "left the job")) return fail("the long task's error");
    }
  }
  const std::string ev = next_node_event();
  if (ev != "down:left") return fail("node event: " + ev);
  auto down = cadre::receive(10s, cadre::on_down([](const cadre::Down& d) { return d.detail; }));
  std::printf("process monitor: %s\n", down.value_or("timeout").c_str());
  if (!contains(down.value_or(""), "left the job")) return fail("the process monitor's detail");
  if (cadre::node_info(n).state != cadre::NodeState::left) return fail("state");
  for (NodeId m : cadre::all_nodes())
    if (m.value() >= world && m != n && cadre::node_info(m).state == cadre::NodeState::up)
      return fail("a bad joiner is a node");
  try {
    cadre::run(cadre::on(n), node_of, 0).get();
    return fail("a call to a node that left succeeded");
  } catch (const cadre::NodeDown& e) {
    std::printf("after leaving: %s\n", e.what());
  }
  try {
    cadre::respawn_node(n);
    return fail("respawn of a node that left was allowed");
  } catch (const cadre::SpawnError&) {
  }
  std::printf("%s: ok\n", mode.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string role = argc > 1 ? argv[1] : "";
  const std::string port_file = argc > 2 ? argv[2] : "";
  const std::string mode = argc > 3 ? argv[3] : "";
  const cadre::Options o = scenario::quick_options(2000ms);
  if (role == "joiner") {
    cadre::join("@" + port_file);
    int status = 0;
    try {
      cadre::Runtime rt(argc, argv, o);
      std::printf("joiner: joined as node %u\n", cadre::self_node().value());
      std::fflush(stdout);
      status = rt.serve();
    } catch (const std::exception& e) {
      std::printf("joiner: %s\n", e.what());
      std::fflush(stdout);
      return 3;
    }
    std::printf("joiner: serve returned %d; pid %d goes on by itself\n", status, ::getpid());
    std::fflush(stdout);
    return status;
  }
  return cadre::launch(
      argc, argv, [&]() -> int { return master(port_file, mode); }, o);
}
