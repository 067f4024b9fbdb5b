// The master's side of native nodes (C programs on <cadre/cadre.h>), one mode per mpirun:
//   calls NODE      spawn two NODEs (tests/native/test_node.c): every handler by name, the
//                   errors, a flood of calls, monitors, stop_node
//   crash NODE      under --enable-recovery: a handler segfaults; the master sees node_down,
//                   the call fails with NodeDown, the other native node and a respawned one
//                   go on (under default mpirun the job ends instead: run it that way too)
//   world           an MPMD job whose later rank is the native node: it serves as a world node
//   example NODE    the installed example (examples/native_node.c built with gcc alone)

#include <cadre/cadre.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../common/scenario.hpp"

using namespace std::chrono_literals;
using cadre::NodeId;
using Bytes = std::vector<char>;
using scenario::contains;
using scenario::fail;
using scenario::next_node_event;
using scenario::print_pids;

namespace {

Bytes bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
std::string text(const Bytes& b) { return std::string(b.begin(), b.end()); }

cadre::Future<Bytes> call(NodeId n, const char* name, Bytes in) {
  return cadre::run<Bytes>(cadre::on(n), name, std::move(in));
}

/// The message of what `f` throws, prefixed with its type ("RemoteError: ...").
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const cadre::NodeDown& e) {
    return std::string("NodeDown: ") + e.what();
  } catch (const cadre::RemoteError& e) {
    return std::string("RemoteError: ") + e.what();
  } catch (const cadre::NotRegistered& e) {
    return std::string("NotRegistered: ") + e.what();
  } catch (const cadre::RegistryMismatch& e) {
    return std::string("RegistryMismatch: ") + e.what();
  } catch (const std::exception& e) {
    return std::string("other: ") + e.what();
  }
  return "no error";
}

int calls(const std::string& program) {
  auto ids = cadre::spawn_nodes({.count = 2, .program = program});
  for (NodeId n : ids) {
    cadre::monitor_node(n);
    if (next_node_event() != "up") return fail("monitor_node: no up event");
  }
  const NodeId a = ids[0];
  // Bytes in, bytes out: empty, text, 1 MiB with every byte value.
  if (!call(a, "echo", {}).get().empty()) return fail("echo of no bytes");
  if (text(call(a, "echo", bytes("hello")).get()) != "hello") return fail("echo");
  Bytes big(1 << 20);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + 7);
  if (call(a, "echo", big).get() != big) return fail("echo of 1 MiB");
  // The user pointer: a counter per node, every call exactly once, from a flood.
  std::vector<cadre::Future<Bytes>> fs;
  for (int i = 0; i < 2000; ++i) fs.push_back(call(ids[i % 2], "count", {}));
  std::vector<int> seen(1001, 0);
  for (int i = 0; i < 2000; ++i) {
    const int k = std::stoi(text(fs[i].get()));
    if (k < 1 || k > 1000) return fail("count out of range: " + std::to_string(k));
    ++seen[k];
  }
  for (int k = 1; k <= 1000; ++k)
    if (seen[k] != 2)
      return fail("count " + std::to_string(k) + " seen " + std::to_string(seen[k]));
  std::printf("flood: ok (2000 calls, each once)\n");
  // The node knows its id, and its log line reaches the master.
  if (text(call(a, "whoami", {}).get()) != std::to_string(a.value())) return fail("whoami");
  // Failures are errors of the call, named; the node goes on.
  std::string e = error_of([&] { call(a, "fail", {}).get(); });
  std::printf("fail: %s\n", e.c_str());
  if (!contains(e, "RemoteError") ||
      !contains(e, "native handler 'fail' returned status 3: asked to fail"))
    return fail("fail: " + e);
  e = error_of([&] { call(a, "no_buffer", {}).get(); });
  std::printf("no_buffer: %s\n", e.c_str());
  if (!contains(e, "returned 5 bytes of output but no buffer")) return fail("no_buffer: " + e);
  e = text(call(a, "late_register", {}).get());
  std::printf("late_register: %s\n", e.c_str());
  if (!contains(e, "-2 cadre_register('too_late'): the node already joined")) return fail("late");
  e = error_of([&] { call(a, "no_such_handler", {}).get(); });
  std::printf("unknown: %s\n", e.c_str());
  if (!contains(e, "NotRegistered") || !contains(e, "no_such_handler"))
    return fail("unknown: " + e);
  e = error_of([&] { cadre::run<int>(cadre::on(a), "echo", 3).get(); });
  std::printf("signature: %s\n", e.c_str());
  if (!contains(e, "RegistryMismatch") || !contains(e, "'echo'")) return fail("signature: " + e);
  if (text(call(a, "echo", bytes("still here")).get()) != "still here") return fail("after errors");
  // Stopped: a down event, the state, and calls refused.
  cadre::stop_node(a);
  if (next_node_event() != "down:stopped") return fail("no down:stopped event");
  if (cadre::node_info(a).state != cadre::NodeState::stopped) return fail("state after stop");
  e = error_of([&] { call(a, "echo", {}).get(); });
  std::printf("after stop: %s\n", e.c_str());
  if (e == "no error") return fail("a call to a stopped node succeeded");
  if (text(call(ids[1], "echo", bytes("b")).get()) != "b") return fail("the other node");
  std::printf("native calls: ok\n");
  return 0;
}

int crash(const std::string& program) {
  auto ids = cadre::spawn_nodes({.count = 2, .program = program});
  print_pids();
  cadre::monitor_node(ids[0]);
  if (next_node_event() != "up") return fail("monitor_node: no up event");
  std::string e = error_of([&] { call(ids[0], "crash", {}).get_for(20s); });
  std::printf("crash: %s\n", e.c_str());
  if (!contains(e, "NodeDown")) return fail("the crashed call: " + e);
  const std::string ev = next_node_event();
  std::printf("event: %s\n", ev.c_str());
  if (ev != "down:lost") return fail("no down:lost event");
  if (text(call(ids[1], "echo", bytes("alive")).get()) != "alive") return fail("the survivor");
  const NodeId fresh = cadre::respawn_node(ids[0]);
  if (text(call(fresh, "echo", bytes("fresh")).get()) != "fresh") return fail("the replacement");
  print_pids();
  std::printf("native crash: ok\n");
  return 0;
}

int world() {
  if (cadre::nodes().size() != 2) return fail("expected a master and one native world rank");
  const NodeId n(1);
  if (text(call(n, "echo", bytes("world")).get()) != "world") return fail("echo");
  if (text(call(n, "whoami", {}).get()) != "1") return fail("whoami");
  std::printf("native world node: ok\n");
  return 0;
}

int example(const std::string& program) {
  auto ids = cadre::spawn_nodes({.count = 1, .program = program});
  if (text(call(ids[0], "reverse", bytes("abc")).get()) != "cba") return fail("reverse");
  std::vector<double> xs{1.5, 2.25, -0.75};
  Bytes in(xs.size() * sizeof(double));
  std::memcpy(in.data(), xs.data(), in.size());
  Bytes out = call(ids[0], "sum_doubles", in).get();
  double sum = 0;
  if (out.size() != sizeof sum) return fail("sum_doubles: size");
  std::memcpy(&sum, out.data(), sizeof sum);
  if (sum != 3.0) return fail("sum_doubles: " + std::to_string(sum));
  std::string e = error_of([&] { call(ids[0], "sum_doubles", bytes("abc")).get(); });
  std::printf("sum_doubles of 3 bytes: %s\n", e.c_str());
  if (!contains(e, "not a whole number of doubles")) return fail("sum_doubles error");
  cadre::stop_node(ids[0]);
  std::printf("native example: ok\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  const std::string arg = argc > 2 ? argv[2] : "";
  const cadre::Options o = scenario::quick_options();
  return cadre::launch(
      argc, argv,
      [&]() -> int {
        if (mode == "calls") return calls(arg);
        if (mode == "crash") return crash(arg);
        if (mode == "world") return world();
        if (mode == "example") return example(arg);
        return fail("unknown mode " + mode);
      },
      o);
}
