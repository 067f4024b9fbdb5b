// Whole-job scenarios for the core's promises under load; tests/CMakeLists.txt runs each
// under mpiexec and checks the exit status and output.
//   cadre-trust-scenario drain | driver_overflow receive|busy | stuck_task | plain

#include <cadre/cadre.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using cadre::Pid;

namespace {

struct Stop {
  template <class Ar>
  void serialize(Ar&, unsigned) {}
};
CADRE_MESSAGE(Stop);

/// Prints a count when its process ends, however it ends: a process ended at shut-down is
/// unwound, so this runs then too.
struct Report {
  const char* what;
  long n = 0;
  ~Report() {
    std::printf("%s %ld\n", what, n);
    std::fflush(stdout);
  }
};

/// Handles longs for ever (until shut-down ends it).
void drain_receiver() {
  Report handled{"handled"};
  for (;;) cadre::receive(cadre::match<long>([&](long) { ++handled.n; }));
}
CADRE_TASK(drain_receiver);

/// Sends longs to `to` for ever (until shut-down ends it), yielding now and then.
void drain_sender(Pid to) {
  Report sent{"sent"};
  for (long i = 0;; ++i) {
    cadre::send(to, i);
    ++sent.n;  // counted once send returned: accepted
    if (i % 64 == 0) cadre::yield();
  }
}
CADRE_TASK(drain_sender);

int drain(int argc, char** argv) {
  // Traffic in flight at shut-down, both ways between the master and the last node: every
  // message a send accepted is handled or counted as dropped.
  return cadre::launch(argc, argv, [] {
    const cadre::NodeId first = cadre::nodes().front(), last = cadre::nodes().back();
    Pid a = cadre::spawn(last, drain_receiver);
    Pid b = cadre::spawn(first, drain_receiver);
    cadre::spawn(first, drain_sender, a);
    cadre::spawn(last, drain_sender, b);
    std::this_thread::sleep_for(200ms);
    return 0;
  });
}

/// Floods `to` with `n` ints.
void flood(Pid to, long n) {
  for (long i = 0; i < n; ++i) {
    cadre::send(to, i);
    if (i % 256 == 0) cadre::yield();
  }
}
CADRE_TASK(flood);

int driver_overflow(int argc, char** argv, const std::string& how) {
  // The driver's mailbox passes its bound (CADRE_MAILBOX_LIMIT_MESSAGES): the job ends with a
  // non-zero status naming the overflow, whether the driver waits in receive or not at all.
  return cadre::launch(argc, argv, [how] {
    cadre::spawn(cadre::nodes().back(), flood, cadre::self(), 5000L);
    if (how == "receive")
      cadre::receive(cadre::match<Stop>([](const Stop&) {}));
    else
      std::this_thread::sleep_for(60s);
    std::printf("driver_overflow: the driver went on\n");
    return 0;
  });
}

/// Holds its node for ever: never yields.
int spin_forever() {
  volatile long x = 0;
  for (;;) x = x + 1;
  return static_cast<int>(x);
}
CADRE_TASK(spin_forever);

int stuck_task(int argc, char** argv) {
  // A task that never yields: the master declares its node lost, and the node's watchdog
  // ends it (its loop is stuck), so the job ends instead of spinning for ever.
  return cadre::launch(argc, argv, [] {
    try {
      cadre::run(cadre::on(cadre::nodes().back()), spin_forever).get();
    } catch (const cadre::NodeDown& e) {
      std::printf("stuck_task: NodeDown\n");
    }
    return 0;
  });
}

long square(long x) { return x * x; }
CADRE_TASK(square);

int plain(int argc, char** argv) {
  return cadre::launch(argc, argv, [] {
    long sum = 0;
    for (auto& f : cadre::map(cadre::any, square, std::vector<long>{1, 2, 3, 4})) sum += f.get();
    std::printf("plain: %ld\n", sum);
    return sum == 30 ? 0 : 1;
  });
}

}  // namespace

int main(int argc, char** argv) {
  std::string s = argc > 1 ? argv[1] : "";
  std::string arg = argc > 2 ? argv[2] : "";
  if (s == "drain") return drain(argc, argv);
  if (s == "driver_overflow") return driver_overflow(argc, argv, arg);
  if (s == "stuck_task") return stuck_task(argc, argv);
  if (s == "plain") return plain(argc, argv);
  std::fprintf(stderr, "usage: cadre-trust-scenario NAME (unknown scenario '%s')\n", s.c_str());
  return 2;
}
