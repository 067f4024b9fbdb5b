// The driver's calls while it serves the node loop itself (the loop's baton, DESIGN.md
// "Threads"): round trips to workers and to processes on the master, with the master's loop
// kept busy by fibers that never park, receive timeouts, bursts of sends out of credit, sends
// followed by long computation, runs held back for a frame of several (in a window, in a
// burst, and before long computation), a second user thread calling at the same time, and
// spawns.
// A loop thread parked meanwhile must sleep through the round trips (not be woken by each
// reply). The same cases run with MPI initialised FUNNELED by the program (argument "funneled"),
// where the driver posts to the loop's queue instead.

#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <atomic>
#include <cadre/cadre.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using cadre::Pid;
using Clock = std::chrono::steady_clock;

namespace {

bool g_funneled = false;  // MPI initialised FUNNELED by the program: no baton

long twice(long x) { return 2 * x; }
CADRE_TASK(twice);

/// Replies to every long with its double until it gets a negative one.
void doubler() {
  for (;;) {
    auto [from, v] = cadre::receive(
        cadre::match<std::pair<Pid, long>>([](const std::pair<Pid, long>& m) { return m; }));
    if (v < 0) return;
    cadre::send(from, 2 * v);
  }
}
CADRE_TASK(doubler);

/// Yields without ever parking until `stop` is set: the master's loop always has a ready
/// fiber, so it hands the baton over only after a few passes.
std::atomic<bool> g_stop_spinner{false};
void spinner() {
  while (!g_stop_spinner.load()) cadre::yield();
}
CADRE_TASK(spinner);

/// Counts `n` longs, checking their order, then tells `parent` how many came in order.
void counter(Pid parent, long n) {
  long in_order = 0;
  for (long i = 0; i < n; ++i)
    in_order += cadre::receive(cadre::match<long>([](long v) { return v; })) == i;
  cadre::send(parent, in_order);
}
CADRE_TASK(counter);

/// Sends `v` to `to` at once.
void echo_to(Pid to, long v) { cadre::send(to, v); }
CADRE_TASK(echo_to);

cadre::NodeId last() { return cadre::nodes().back(); }

/// Spins for `ms` milliseconds; returns when it started, in steady-clock nanoseconds (the
/// host's monotonic clock, the same in every process on it).
long long busy_for(long ms) {
  const auto start = Clock::now();
  while (Clock::now() < start + std::chrono::milliseconds(ms)) {
  }
  return std::chrono::duration_cast<std::chrono::nanoseconds>(start.time_since_epoch()).count();
}
CADRE_TASK(busy_for);

TEST(Driver, RoundTripsToEveryNodeAreRight) {
  for (long i = 0; i < 3000; ++i)
    ASSERT_EQ(
        cadre::run(cadre::on(cadre::nodes()[std::size_t(i) % cadre::nodes().size()]), twice, i)
            .get(),
        2 * i);
}

/// Times the threads of this process other than the caller went to sleep (voluntary context
/// switches, from /proc/self/task/*/status): the loop thread's parks, mostly.
long sleeps_of_other_threads() {
  const std::string me = std::to_string(static_cast<long>(::gettid()));
  long total = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    if (task.path().filename() == me) continue;
    std::ifstream status(task.path() / "status");
    for (std::string line; std::getline(status, line);)
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0) total += std::stol(line.substr(24));
  }
  return total;
}

TEST(Driver, TheParkedLoopThreadSleepsThroughRoundTrips) {
  // While the driver serves the loop, the loop thread sleeps in up to 1 ms waits: a reply
  // from a worker on this host must not wake it (it would take the driver's core at every
  // round trip). So its sleeps follow the time, not the number of round trips.
  if (g_funneled) GTEST_SKIP() << "MPI FUNNELED: the loop thread does the driver's calls itself";
  for (long i = 0; i < 200; ++i) ASSERT_EQ(cadre::run(cadre::on(last()), twice, i).get(), 2 * i);
  const long n = 5000;
  const long before = sleeps_of_other_threads();
  const auto t0 = Clock::now();
  for (long i = 0; i < n; ++i) ASSERT_EQ(cadre::run(cadre::on(last()), twice, i).get(), 2 * i);
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  const long sleeps = sleeps_of_other_threads() - before;
  std::printf("%ld round trips in %.1f ms; the other threads slept %ld times\n", n, ms, sleeps);
  EXPECT_LE(sleeps, static_cast<long>(2 * ms) + 100)
      << "the loop thread was woken about once per round trip while the driver served the loop";
}

TEST(Driver, CallsToAProcessOnTheMasterWhileItsLoopIsBusy) {
  g_stop_spinner = false;
  Pid spin = cadre::spawn(cadre::on(cadre::NodeId(0)), spinner);
  Pid local = cadre::spawn(cadre::on(cadre::NodeId(0)), doubler);
  Pid remote = cadre::spawn(cadre::on(last()), doubler);
  for (long i = 0; i < 500; ++i) {
    cadre::send(local, std::make_pair(cadre::self(), i));
    ASSERT_EQ(cadre::receive(5s, cadre::match<long>([](long v) { return v; })), 2 * i);
    cadre::send(remote, std::make_pair(cadre::self(), i));
    ASSERT_EQ(cadre::receive(5s, cadre::match<long>([](long v) { return v; })), 2 * i);
    ASSERT_EQ(cadre::run(cadre::on(cadre::NodeId(0)), twice, i).get(), 2 * i);
  }
  cadre::send(local, std::make_pair(cadre::self(), -1L));
  cadre::send(remote, std::make_pair(cadre::self(), -1L));
  g_stop_spinner = true;
  auto ref = cadre::monitor(spin);
  EXPECT_TRUE(cadre::receive(5s, cadre::on_down([](const cadre::Down&) {})));
  (void)ref;
}

TEST(Driver, ReceiveTimeoutsHoldWhileServing) {
  auto t0 = Clock::now();
  EXPECT_FALSE(cadre::receive(30ms, cadre::match<long>([](long) {})));
  auto waited = Clock::now() - t0;
  EXPECT_GE(waited, 30ms);
  EXPECT_LT(waited, 2s);
  cadre::Future<long> never = cadre::run(cadre::on(last()), twice, 1L);
  EXPECT_EQ(never.get(), 2);
}

TEST(Driver, ABurstOutOfCreditArrivesWholeAndInOrder) {
  const long n = 200000;  // far beyond a link's credit
  Pid c = cadre::spawn(cadre::on(last()), counter, cadre::self(), n);
  for (long i = 0; i < n; ++i) cadre::send(c, i);
  EXPECT_EQ(cadre::receive(60s, cadre::match<long>([](long v) { return v; })), n);
}

TEST(Driver, ASendFollowedByComputationLeavesAtOnce) {
  // The driver sends, then computes without calling cadre: its send must not wait for the
  // driver's next call (the reply is there when the computation ends).
  Pid e = cadre::spawn(cadre::on(last()), doubler);
  cadre::send(e, std::make_pair(cadre::self(), 21L));
  auto until = Clock::now() + 200ms;
  while (Clock::now() < until) {
  }
  auto got = cadre::receive(0ms, cadre::match<long>([](long v) { return v; }));
  ASSERT_TRUE(got.has_value()) << "the reply had not arrived 200 ms after the send";
  EXPECT_EQ(*got, 42);
  cadre::send(e, std::make_pair(cadre::self(), -1L));
}

TEST(Driver, ARunHeldBackLeavesWhileTheDriverComputes) {
  // A run to a node that has the driver's earlier tasks in hand may wait for the driver's next
  // call (a burst of calls leaves a few to a frame), but not past the loop thread's next pass
  // (about a millisecond): here the driver computes for 300 ms after the second run, which
  // must start on its node as soon as the first (20 ms long) is done.
  // A round trip first: the driver takes the loop's baton for its wait, and the calls
  // right after it find the baton free and run on the driver's thread.
  ASSERT_EQ(cadre::run(cadre::on(last()), twice, 1L).get(), 2);
  auto first = cadre::run(cadre::on(last()), busy_for, 20L);
  const auto sent = Clock::now();
  auto second = cadre::run(cadre::on(last()), busy_for, 0L);
  while (Clock::now() < sent + 300ms) {
  }
  (void)first.get();
  const auto started = Clock::time_point(std::chrono::nanoseconds(second.get()));
  const double ms = std::chrono::duration<double, std::milli>(started - sent).count();
  std::printf("the second run started %.1f ms after it was called\n", ms);
  EXPECT_LT(ms, 150) << "the second run waited for the driver's next call";
}

TEST(Driver, AWindowAndABurstOfRunsComeBackWhole) {
  // Runs go out a few to a frame while the node has others in hand: every one comes back,
  // with its own result.
  const long window = 64, n = 30000;
  std::vector<cadre::Future<long>> slots(window);
  long bad = 0;
  for (long i = 0; i < n; ++i) {
    auto& slot = slots[static_cast<std::size_t>(i % window)];
    if (slot.valid()) bad += slot.get() != 2 * (i - window);
    slot = cadre::run(cadre::any, twice, i);
  }
  for (long i = n - window; i < n; ++i)
    bad += slots[static_cast<std::size_t>(i % window)].get() != 2 * i;
  std::vector<cadre::Future<long>> burst;
  for (long i = 0; i < n; ++i) burst.push_back(cadre::run(cadre::any, twice, i));
  for (long i = 0; i < n; ++i) bad += burst[static_cast<std::size_t>(i)].get() != 2 * i;
  EXPECT_EQ(bad, 0);
}

TEST(Driver, AnotherThreadCallsAtTheSameTime) {
  std::atomic<long> bad{0};
  std::thread other([&] {
    for (long i = 0; i < 2000; ++i) bad += cadre::run(cadre::any, twice, i).get() != 2 * i;
  });
  for (long i = 0; i < 2000; ++i) bad += cadre::run(cadre::any, twice, -i).get() != -2 * i;
  other.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(Driver, SpawnsOneAfterAnother) {
  for (long i = 0; i < 2000; ++i) cadre::spawn(cadre::on(last()), echo_to, cadre::self(), i);
  long sum = 0;
  for (long i = 0; i < 2000; ++i)
    sum += *cadre::receive(10s, cadre::match<long>([](long v) { return v; }));
  EXPECT_EQ(sum, 1999L * 2000 / 2);
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const bool funneled = argc > 1 && std::strcmp(argv[1], "funneled") == 0;
  g_funneled = funneled;
  int provided = 0;
  if (funneled) MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int status = cadre::launch(argc, argv, [] { return RUN_ALL_TESTS(); });
  if (funneled) MPI_Finalize();
  return status;
}
