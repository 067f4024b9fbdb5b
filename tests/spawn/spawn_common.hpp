#pragma once
// Tasks and messages that both spawn test programs register (same names, same signatures).

#include <unistd.h>

#include <cadre/cadre.hpp>
#include <string>

namespace spawn_test {

/// Which node ran it, and whether it was spawned.
inline std::string where_am_i() {
  return std::to_string(cadre::self_node().value()) + ":" + std::to_string(::getpid());
}

/// Receives `n` numbered ints from anyone and answers `reply_to` with how many came in order.
inline void ordered_sink(cadre::Pid reply_to, int n) {
  int next = 0, in_order = 0;
  for (int i = 0; i < n; ++i) {
    int v = cadre::receive(cadre::match<int>([](int x) { return x; }));
    if (v == next) ++in_order;
    next = v + 1;
  }
  cadre::send(reply_to, in_order);
}

/// Sends 0..n-1 to `to`.
inline void numbered_source(cadre::Pid to, int n) {
  for (int i = 0; i < n; ++i) cadre::send(to, i);
}

/// Echoes one string back to its sender.
inline void echo_once(cadre::Pid to) {
  auto s = cadre::receive(cadre::match<std::string>([](const std::string& x) { return x; }));
  cadre::send(to, "echo:" + s);
}

/// The value of an environment variable on the node that runs it.
inline std::string env_of(std::string name) {
  const char* v = std::getenv(name.c_str());
  return v ? v : "<unset>";
}

/// Prints a line on the node's stdout.
inline int say(std::string line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  return 1;
}

}  // namespace spawn_test

CADRE_TASK(spawn_test::where_am_i);
CADRE_TASK(spawn_test::ordered_sink);
CADRE_TASK(spawn_test::numbered_source);
CADRE_TASK(spawn_test::echo_once);
CADRE_TASK(spawn_test::env_of);
CADRE_TASK(spawn_test::say);
