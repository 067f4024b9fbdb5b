#pragma once
// What the scenario programs (one mode per mpirun, checked by expect.sh) share: failing with a
// FAIL line, printing every node's pid for the orphan check, node events as words, and the
// short liveness settings they run with.

#include <cadre/cadre.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace scenario {

using namespace std::chrono_literals;

/// Prints "FAIL: what" (expect.sh counts them) and returns 1, for a driver to return.
inline int fail(const std::string& what) {
  std::printf("FAIL: %s\n", what.c_str());
  std::fflush(stdout);
  return 1;
}

/// Prints "pids: ..." with every node's process id (tests/spawn/no_orphans.sh reads it).
inline void print_pids() {
  std::string line = "pids:";
  for (cadre::NodeId n : cadre::all_nodes())
    if (cadre::node_info(n).pid > 0) line += " " + std::to_string(cadre::node_info(n).pid);
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

/// Prints every node's pid and "master: killing myself", then SIGKILLs this process: the
/// scenarios where the master dies (the other nodes must stop themselves).
[[noreturn]] inline void kill_master() {
  print_pids();
  std::printf("master: killing myself\n");
  std::fflush(stdout);
  raise(SIGKILL);
  std::abort();
}

/// The next NodeEvent in the mailbox as "up" or "down:<reason>", "timeout" after `limit`.
inline std::string next_node_event(std::chrono::seconds limit = 20s) {
  auto e = cadre::receive(limit, cadre::match<cadre::NodeEvent>([](const cadre::NodeEvent& e) {
                            return e.kind == cadre::NodeEvent::Kind::up ? std::string("up")
                                                                        : "down:" + e.reason;
                          }));
  return e.value_or("timeout");
}

/// True when `part` occurs in `s`.
inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

/// Losses found within a second: 100 ms heartbeats, `timeout` to be declared lost, 3 s for
/// shut-down.
inline cadre::Options quick_options(std::chrono::milliseconds timeout = 1000ms) {
  cadre::Options o;
  o.heartbeat_interval = 100ms;
  o.heartbeat_timeout = timeout;
  o.shutdown_timeout = 3s;
  return o;
}

}  // namespace scenario
