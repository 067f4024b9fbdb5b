// Whole-job scenarios that end a job in a particular way; tests/CMakeLists.txt runs each
// under mpiexec and checks the exit status and output.
//   cadre-scenario driver_throws | driver_returns_3 | shutdown_waits | shutdown_overdue |
//                  single | explicit | user_mpi

#include <mpi.h>

#include <cadre/cadre.hpp>
#include <chrono>
#include <cstdio>
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
  // processes end last, so they see the workers' ones go.
  return cadre::launch(argc, argv, [] {
    for (auto n : cadre::nodes())
      if (n.value() != 0) cadre::spawn(cadre::local, shutdown_watcher, cadre::spawn(n, sleeper));
    std::this_thread::sleep_for(100ms);
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

int explicit_runtime(int argc, char** argv) {
  cadre::Runtime rt(argc, argv);
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
  if (s == "process_shutdown") return process_shutdown(argc, argv);
  if (s == "master_limits") return master_limits(argc, argv);
  if (s == "explicit") return explicit_runtime(argc, argv);
  if (s == "user_mpi") return user_mpi(argc, argv);
  std::fprintf(stderr, "usage: cadre-scenario NAME (unknown scenario '%s')\n", s.c_str());
  return 2;
}
