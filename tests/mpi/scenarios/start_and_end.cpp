// Scenarios of start-up and shut-down: what the driver returns or throws, tasks and processes
// still running when it returns, runs it left held back, large sends in flight, a single rank,
// an explicit Runtime, and MPI initialised by the program.

#include <mpi.h>
#include <signal.h>

#include <cadre/cadre.hpp>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "scenarios.hpp"

using namespace std::chrono_literals;

namespace scenario {

int driver_throws(int argc, char** argv) {
  return cadre::launch(argc, argv, []() -> int {
    cadre::run(cadre::any, square, 3L).get();
    throw std::runtime_error("deliberate");
  });
}

int driver_returns_3(int argc, char** argv) {
  return cadre::launch(argc, argv, [] { return 3; });
}

int driver_returns_with_runs_held(int argc, char** argv) {
  // The driver calls runs to a node that has its earlier ones in hand, and returns at once:
  // runs its last call held back for a frame of several (Nagle's rule, Core::driver_release)
  // still leave, run, and answer before the job ends.
  static std::vector<cadre::Future<long>> fs;
  const long n = 7;
  int st = cadre::launch(argc, argv, [] {
    const auto to = cadre::on(cadre::nodes().back());
    // A round trip first: the driver holds the loop's baton for it, and the calls after it
    // run on the driver's thread.
    if (cadre::run(to, square, 2L).get() != 4) return fail("round trip");
    (void)cadre::run(to, busy_ms, 100);  // in hand on the node while the rest are called
    for (long i = 0; i < n; ++i) fs.push_back(cadre::run(to, square, i));
    return 0;
  });
  if (!fs.empty()) {
    long answered = 0;
    for (long i = 0; i < n; ++i) {
      auto& f = fs[static_cast<std::size_t>(i)];
      answered += f.ready() && f.get() == i * i;
    }
    std::printf("runs held at return: %ld of %ld answered\n", answered, n);
  }
  return st;
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

}  // namespace scenario
