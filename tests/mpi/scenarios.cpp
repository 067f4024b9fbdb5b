// Whole-job scenarios that end a job in a particular way; tests/CMakeLists.txt runs each
// under mpiexec and checks the exit status and output.
//   cadre-scenario driver_throws | driver_returns_3 | shutdown_waits | shutdown_overdue |
//                  single | explicit | user_mpi | output | terminal [raw] |
//                  lost kill|abort|stop-kill|stop-cont | lost_large | large_at_shutdown |
//                  die_default

#include <mpi.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cadre/cadre.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

int busy_ms(int ms) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) cadre::yield();
  return ms;
}
CADRE_TASK(busy_ms);

long square(long x) { return x * x; }
CADRE_TASK(square);

int fail(const char* what) {
  std::fprintf(stderr, "scenario failed: %s\n", what);
  return 1;
}

int driver_throws(int argc, char** argv) {
  return cadre::launch(argc, argv, []() -> int {
    cadre::run(cadre::any, square, 3L).get();
    throw std::runtime_error("deliberate");
  });
}

int driver_returns_3(int argc, char** argv) {
  return cadre::launch(argc, argv, [] { return 3; });
}

int shutdown_waits(int argc, char** argv) {
  cadre::Options o;
  o.shutdown_timeout = 10s;
  // Start tasks and return at once: shutdown lets them finish and delivers their results.
  static std::vector<cadre::Future<int>> fs;
  int st = cadre::launch(
      argc, argv,
      [] {
        for (int i = 0; i < 4; ++i) fs.push_back(cadre::run(cadre::any, busy_ms, 300));
        return 0;
      },
      o);
  if (!fs.empty()) {
    int n = 0;
    for (auto& f : fs) n += f.ready() && f.get() == 300;
    std::printf("tasks finished during shutdown: %d\n", n);
  }
  return st;
}

int shutdown_overdue(int argc, char** argv) {
  cadre::Options o;
  o.shutdown_timeout = 300ms;
  return cadre::launch(
      argc, argv,
      [] {
        for (auto n : cadre::nodes())
          if (n.value() != 0) cadre::run(cadre::on(n), busy_ms, 3000);
        std::this_thread::sleep_for(50ms);
        return 0;
      },
      o);
}

std::size_t blob_size(std::vector<char> v) { return v.size(); }
CADRE_TASK(blob_size);

int master_limits(int argc, char** argv) {
  // Run with workers whose own CADRE_PAYLOAD_CAP is 1 MiB: they adopt the master's 64 MiB.
  return cadre::launch(argc, argv, [] {
    for (auto n : cadre::nodes()) {
      auto got = cadre::run(cadre::on(n), blob_size, std::vector<char>(4 << 20, 'x')).get();
      if (got != (4u << 20)) return fail("4 MiB argument");
    }
    std::printf("limits: ok\n");
    return 0;
  });
}

void sleeper() {
  cadre::receive(cadre::match<int>([](int) {}));
}
CADRE_TASK(sleeper);

void shutdown_watcher(cadre::Pid target) {
  cadre::monitor(target);
  cadre::receive(cadre::on_down([](const cadre::Down& d) {
    std::printf("watcher saw %s\n", std::string(cadre::to_string(d.reason)).c_str());
    std::fflush(stdout);
  }));
}
CADRE_TASK(shutdown_watcher);

int process_shutdown(int argc, char** argv) {
  // Processes still running at shut-down end with reason shutdown; the master's own
  // processes end last, so they see the workers' ones go. Messages their receives never
  // accepted are named by type.
  return cadre::launch(argc, argv, [] {
    for (auto n : cadre::nodes())
      if (n.value() != 0) {
        cadre::Pid p = cadre::spawn(n, sleeper);
        cadre::spawn(cadre::local, shutdown_watcher, p);
        // A near miss of the int it waits for: named when shut-down ends it.
        cadre::send(p, 5L);
        cadre::send(p, std::string("x"));
      }
    std::this_thread::sleep_for(100ms);
    return 0;
  });
}

// -- output ------------------------------------------------------------------------------

void chatter(int lines) {
  for (int i = 0; i < lines; ++i) {
    cadre::log(cadre::Level::info, "seq {} of {}", i, cadre::self());
    cadre::log(cadre::Level::debug, "hidden debug line {}", i);  // below the threshold
    cadre::stat("lines", 1);
    if (i % 10 == 0) cadre::yield();
  }
}
CADRE_TASK(chatter);

int output(int argc, char** argv) {
  return cadre::launch(argc, argv, [] {
    const int lines = 50;
    std::vector<cadre::Future<void>> fs;
    for (auto n : cadre::nodes())
      if (n.value() != 0) fs.push_back(cadre::run(cadre::on(n), chatter, lines));
    cadre::stat("driver", 2.5);
    for (int i = 0; i <= 1000; ++i) cadre::progress(i, 1000);
    cadre::when_all(fs);
    // Statistics travel ahead of results on the same links: they are all in by now.
    const double expect = lines * double(fs.size());
    auto s = cadre::stats();
    if (s["lines"] != expect || s["driver"] != 2.5) return fail("stats do not add up");
    std::printf("stats ok: %g lines\n", s["lines"]);
    return 0;
  });
}

// -- the terminal: a live progress line from two senders, the program's lines, drops --------

struct Marker {
  int n = 0;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& n;
  }
};
CADRE_MESSAGE(Marker);

// One sender: `steps` reports, one every `ms`; then a line printed by the master.
int report_progress(int steps, int ms) {
  for (int i = 0; i <= steps; ++i) {
    cadre::progress(i, steps);
    busy_ms(ms);
  }
  cadre::print("program line {} of 12", 10 + cadre::self_node().value());
  return steps;
}
CADRE_TASK(report_progress);

void ends_at_once() {}
CADRE_TASK(ends_at_once);

void waits_for_an_int() {
  cadre::receive(cadre::match<int>([](int) {}));
}
CADRE_TASK(waits_for_an_int);

// argv[2] "raw": the program writes its lines with printf, as the demo did.
int terminal(int argc, char** argv) {
  const bool raw = argc > 2 && std::string(argv[2]) == "raw";
  return cadre::launch(argc, argv, [raw] {
    auto ns = cadre::nodes();
    if (ns.size() < 3) return fail("terminal needs 3 nodes");
    auto a = cadre::run(cadre::on(ns[1]), report_progress, 20, 60);
    auto b = cadre::run(cadre::on(ns[2]), report_progress, 20, 60);
    for (int i = 0; i < 10; ++i) {
      std::this_thread::sleep_for(120ms);
      if (raw)
        std::printf("program line %d of 12\n", i + 1);
      else
        cadre::print("program line {} of 12", i + 1);
    }
    const int sum = a.get() + b.get();
    // Dropped at shut-down: 3 messages to a process that had ended, on node 1; 2 left unread
    // by a process still running at shut-down, on node 2.
    auto [gone, ref] = cadre::spawn_monitor(ns[1], ends_at_once);
    cadre::receive(cadre::on_down([](const cadre::Down&) {}));
    cadre::send(gone, Marker{1});
    cadre::send(gone, std::string("to nobody"));
    cadre::send(gone, std::string("to nobody either"));
    auto waiting = cadre::spawn(ns[2], waits_for_an_int);
    cadre::send(waiting, Marker{2});
    cadre::send(waiting, Marker{3});
    if (raw)
      std::printf("sum of the senders' steps = %d\n", sum);
    else
      cadre::print("sum of the senders' steps = {}", sum);
    return 0;
  });
}

// -- lost nodes ----------------------------------------------------------------------------

std::string g_how;

// The job's last node (lost or not), from node_info, which knows lost nodes too.
cadre::NodeId last_node_of_job() {
  std::uint32_t k = 0;
  try {
    for (;; ++k) cadre::node_info(cadre::NodeId(k + 1));
  } catch (const cadre::InvalidNode&) {
  }
  return cadre::NodeId(k);
}

// The job's last node dies (as argv[2] says) at its first multiple of 100; all ranks share
// argv.
long maybe_die(long x) {
  if (x % 100 == 0 && cadre::self_node() == last_node_of_job()) {
    if (g_how == "kill") raise(SIGKILL);
    if (g_how == "abort") std::abort();
    if (g_how.rfind("stop", 0) == 0) raise(SIGSTOP);
  }
  auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(500);
  while (std::chrono::steady_clock::now() < until) cadre::yield();
  return x * x;
}
CADRE_TASK(maybe_die);

void wait_forever() {
  cadre::receive(cadre::match<int>([](int) {}));
}
CADRE_TASK(wait_forever);

long slow_square(long x) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < until) cadre::yield();
  return x * x;
}
CADRE_TASK(slow_square);

int lost(int argc, char** argv) {
  g_how = argc > 2 ? argv[2] : "kill";
  static std::atomic<int> downs{0};
  cadre::Options o;
  o.heartbeat_interval = 100ms;
  o.heartbeat_timeout = 1000ms;
  o.shutdown_timeout = 2s;
  o.on_node_down = [](cadre::NodeId n) {
    ++downs;
    std::printf("on_node_down: node %u\n", n.value());
    std::fflush(stdout);
  };
  return cadre::launch(
      argc, argv,
      [] {
        auto vnode = last_node_of_job();
        const int victim_pid = cadre::node_info(vnode).pid;
        // Whatever happens below, a stopped victim must not be left stopped (mpirun would
        // wait for it for ever).
        struct Release {
          int pid;
          ~Release() {
            if (g_how == "stop-kill") kill(pid, SIGKILL);
            if (g_how == "stop-cont") kill(pid, SIGCONT);
          }
        } release{victim_pid};
        auto [waiter, ref] = cadre::spawn_monitor(vnode, wait_forever);
        auto stuck = cadre::run(cadre::on(vnode), slow_square, 3L);
        // any() lists the victim while it is up (the placer keeps that list between changes
        // of the node table).
        for (long i = 0; i < 20; ++i)
          if (cadre::run(cadre::any, square, i).get() != i * i) return fail("run(any) before");
        std::vector<long> xs(2000);
        for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<long>(i);
        auto t0 = std::chrono::steady_clock::now();
        // The inputs moved in: the chunks the victim held are encoded again from the map's
        // own vector.
        auto fs = cadre::map(cadre::any, maybe_die, std::vector<long>(xs), {.chunk = 10});
        (void)t0;
        // A call to a process on the victim fails when the node is lost, not at its timeout.
        try {
          cadre::call<int>(waiter, std::string("never answered"), 60s);
          return fail("a call to a process on the lost node returned");
        } catch (const cadre::CallFailed& e) {
          if (std::string(e.what()).find("node_down") == std::string::npos)
            return fail((std::string("CallFailed without node_down: ") + e.what()).c_str());
          std::printf("CallFailed: node_down\n");
        }
        long bad = 0;
        for (std::size_t i = 0; i < xs.size(); ++i) bad += fs[i].get() != xs[i] * xs[i];
        if (bad) return fail("map results");
        std::printf("map complete: ok (%zu results)\n", xs.size());
        // The victim is lost by now (its chunk had to move): everything tied to it failed.
        auto d = cadre::receive(10s, cadre::on_down([](const cadre::Down& d) { return d; }));
        if (!d || d->reason != cadre::Reason::node_down) return fail("no Down node_down");
        std::printf("down: %s\n", std::string(cadre::to_string(d->reason)).c_str());
        try {
          stuck.get_for(10s);
          return fail("the task on the lost node did not fail");
        } catch (const cadre::NodeDown& e) {
          std::printf("NodeDown: ok\n");
        }
        if (downs.load() != 1) return fail("on_node_down");
        // The lost node is still listed by all_nodes, as down, and no longer by nodes.
        auto all = cadre::all_nodes();
        auto live = cadre::nodes();
        if (all.size() != live.size() + 1 || all.back() != vnode ||
            cadre::node_info(vnode).state != cadre::NodeState::down)
          return fail("all_nodes after a loss");
        std::printf("all_nodes: %zu, node %u down\n", all.size(), vnode.value());
        // any() never picks the lost node again: every run answers.
        for (long i = 0; i < 200; ++i)
          if (cadre::run(cadre::any, square, i).get_for(10s) != i * i)
            return fail("run(any) after");
        std::printf("run(any) after the loss: ok\n");
        return 0;
      },
      o);
}

void stop_self() { raise(SIGSTOP); }
CADRE_TASK(stop_self);

// Sends 4 MiB to `to` (read by MPI from this vector, the sender waiting until it has), then
// tells `parent` whether `to`'s node was already lost when the send returned; then the same
// again, to the node now lost (refused at once, as any send to a lost node).
void send_large_and_report(cadre::Pid to, cadre::Pid parent) {
  std::vector<char> big(std::size_t(4) << 20, 'q');
  cadre::send(to, big);
  big.assign(big.size(), 'x');  // the send has returned: the bytes are the program's again
  cadre::send(parent, std::string(cadre::node_info(to.node).state == cadre::NodeState::down
                                      ? "returned after the loss"
                                      : "returned while the node was up"));
  try {
    cadre::send(to, big);
    cadre::send(parent, std::string("second send returned"));
  } catch (const cadre::NodeDown& e) {
    cadre::send(parent, std::string("second send refused: ") + e.what());
  }
}
CADRE_TASK(send_large_and_report);

// A process sends a large message (borrowed: no copy) to a node that stopped: MPI cannot
// take it, so the sender waits; when the node is lost the send returns.
int lost_large(int argc, char** argv) {
  g_how = "stop-kill";
  cadre::Options o;
  o.heartbeat_interval = 100ms;
  o.heartbeat_timeout = 1000ms;
  o.shutdown_timeout = 2s;
  return cadre::launch(
      argc, argv,
      [] {
        auto vnode = last_node_of_job();
        struct Release {  // a stopped victim must not be left stopped
          int pid;
          ~Release() { kill(pid, SIGKILL); }
        } release{cadre::node_info(vnode).pid};
        cadre::Pid waiter = cadre::spawn(vnode, wait_forever);
        auto stopped = cadre::run(cadre::on(vnode), stop_self);
        std::this_thread::sleep_for(300ms);
        if (cadre::node_info(vnode).state == cadre::NodeState::down)
          return fail("the victim was lost too early");
        cadre::spawn(cadre::NodeId(0), send_large_and_report, waiter, cadre::self());
        for (int k = 0; k < 2; ++k) {
          auto said =
              cadre::receive(30s, cadre::match<std::string>([](std::string s) { return s; }));
          if (!said) return fail("a large send to a stopped node did not return");
          std::printf("large send: %s\n", said->c_str());
        }
        return 0;
      },
      o);
}

// Receives vectors until shut-down ends it.
void large_sink() {
  for (;;) cadre::receive(cadre::match<std::vector<char>>([](const std::vector<char>&) {}));
}
CADRE_TASK(large_sink);

// Sends 4 MiB vectors to `to` without end (each read in place by MPI), telling `parent`
// once the first send returned.
void large_streamer(cadre::Pid to, cadre::Pid parent) {
  std::vector<char> big(std::size_t(4) << 20);
  for (long i = 0;; ++i) {
    big.assign(big.size(), static_cast<char>('a' + i % 26));
    cadre::send(to, big);
    if (i == 0) cadre::send(parent, 1L);
  }
}
CADRE_TASK(large_streamer);

// Every node streams 4 MiB messages to the next one when the driver returns: shut-down
// meets sends that MPI is still reading from the senders' vectors, and must end cleanly.
int large_at_shutdown(int argc, char** argv) {
  return cadre::launch(argc, argv, [] {
    const auto ns = cadre::nodes();
    std::vector<cadre::Pid> sinks;
    for (auto n : ns) sinks.push_back(cadre::spawn(n, large_sink));
    for (std::size_t k = 0; k < ns.size(); ++k)
      cadre::spawn(ns[k], large_streamer, sinks[(k + 1) % ns.size()], cadre::self());
    for (std::size_t k = 0; k < ns.size(); ++k)
      if (!cadre::receive(30s, cadre::match<long>([](long v) { return v; })))
        return fail("a streamer's first large send did not return");
    std::printf("large at shutdown: streaming on %zu nodes\n", ns.size());
    std::this_thread::sleep_for(50ms);
    return 0;
  });
}

int die_default(int argc, char** argv) {
  g_how = "abort";
  return cadre::launch(argc, argv, [] {
    std::vector<long> xs(2000);
    for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<long>(i);
    for (auto& f : cadre::map(cadre::any, maybe_die, xs, {.chunk = 10})) f.get();
    return 0;
  });
}

int single(int argc, char** argv) {
  return cadre::launch(argc, argv, [] {
    if (cadre::nodes().size() != 1) return fail("expected one node");
    if (cadre::run(cadre::any, square, 9L).get() != 81) return fail("run any");
    if (cadre::run(cadre::random, square, 9L).get() != 81) return fail("run random");
    std::vector<long> xs(1000, 3);
    for (auto& f : cadre::map(cadre::any, square, xs))
      if (f.get() != 9) return fail("map");
    std::printf("single: ok\n");
    return 0;
  });
}

void on_sigpipe(int) {}

int explicit_runtime(int argc, char** argv) {
  // A program that chose what SIGPIPE does keeps its choice (cadre ignores it only when it
  // is still at its default).
  ::signal(SIGPIPE, on_sigpipe);
  cadre::Runtime rt(argc, argv);
  if (::signal(SIGPIPE, on_sigpipe) != on_sigpipe)
    return fail("the program's SIGPIPE handler was replaced");
  try {
    cadre::Runtime second(argc, argv);
    return fail("a second Runtime was allowed");
  } catch (const cadre::InitTwice&) {
  }
  if (rt.is_worker()) {
    try {
      rt.shutdown();
      return fail("shutdown on a worker was allowed");
    } catch (const cadre::WrongRole&) {
    }
    return rt.serve();
  }
  try {
    rt.serve();
    return fail("serve on the master was allowed");
  } catch (const cadre::WrongRole&) {
  }
  if (cadre::self() != cadre::Pid{cadre::NodeId(0), 0}) return fail("main thread is not <0.0>");
  std::vector<long> xs(5000);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<long>(i);
  long sum = 0;
  for (auto& f : cadre::map(cadre::any, square, xs)) sum += f.get();
  if (sum != 4999L * 5000 * 9999 / 6) return fail("map sum");
  int st = rt.shutdown();
  if (st != 0) return fail("shutdown status");
  if (rt.shutdown() != 0) return fail("second shutdown");
  std::printf("explicit: ok\n");
  return 0;
}

int user_mpi(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  int st = cadre::launch(argc, argv,
                         [] { return cadre::run(cadre::any, square, 5L).get() == 25 ? 0 : 1; });
  // cadre left MPI running and the user's communicator untouched.
  int finalized = 1;
  MPI_Finalized(&finalized);
  int one = 1, sum = 0;
  MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (st == 0 && !finalized && sum == size) std::printf("user mpi: ok (rank %d)\n", rank);
  MPI_Finalize();
  return st;
}

}  // namespace

int main(int argc, char** argv) {
  std::string s = argc > 1 ? argv[1] : "";
  if (s == "driver_throws") return driver_throws(argc, argv);
  if (s == "driver_returns_3") return driver_returns_3(argc, argv);
  if (s == "shutdown_waits") return shutdown_waits(argc, argv);
  if (s == "shutdown_overdue") return shutdown_overdue(argc, argv);
  if (s == "single") return single(argc, argv);
  if (s == "output") return output(argc, argv);
  if (s == "terminal") return terminal(argc, argv);
  if (s == "lost") return lost(argc, argv);
  if (s == "die_default") return die_default(argc, argv);
  if (s == "lost_large") return lost_large(argc, argv);
  if (s == "large_at_shutdown") return large_at_shutdown(argc, argv);
  if (s == "process_shutdown") return process_shutdown(argc, argv);
  if (s == "master_limits") return master_limits(argc, argv);
  if (s == "explicit") return explicit_runtime(argc, argv);
  if (s == "user_mpi") return user_mpi(argc, argv);
  std::fprintf(stderr, "usage: cadre-scenario NAME (unknown scenario '%s')\n", s.c_str());
  return 2;
}
