// The core's promises under load: mailbox bounds (overflow seen by monitors and links, the
// node serving on), sends from threads held by link credit (the driver's, and OpenMP threads
// inside a task, whose wait on a held loop ends in a clear error), and results above the
// payload cap. Runs with a small mailbox bound, link credit and payload cap (see main).

#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>
#include <cadre/cadre.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using cadre::Pid;

namespace {

constexpr std::size_t kMailboxMessages = 5000;
constexpr std::size_t kCredit = 64 * 1024;
constexpr std::size_t kPayloadCap = 1 << 20;

struct Stop {
  template <class Ar>
  void serialize(Ar&, unsigned) {}
};
CADRE_MESSAGE(Stop);
struct Unregistered {
  int n = 0;
  template <class Ar>
  void serialize(Ar& ar, unsigned) {
    ar& n;
  }
};

cadre::NodeId last_node() { return cadre::nodes().back(); }

/// Waits for Stop only: everything else piles up in its mailbox.
void hoarder() {
  cadre::receive(cadre::match<Stop>([](const Stop&) {}));
}
CADRE_TASK(hoarder);

/// Sends `n` ints to `to`, yielding now and then, then tells `parent` it is done.
void flooder(Pid to, Pid parent, long n) {
  for (long i = 0; i < n; ++i) {
    cadre::send(to, i);
    if (i % 256 == 0) cadre::yield();
  }
  cadre::send(parent, std::string("flooded"));
}
CADRE_TASK(flooder);

/// Linked to `other` and trapping exits: forwards the Exit's reason to `parent`.
void trapper(Pid other, Pid parent) {
  cadre::trap_exits(true);
  cadre::link(other);
  cadre::send(parent, std::string("linked"));
  cadre::receive(cadre::on_exit([&](const cadre::Exit& e) {
    cadre::send(parent, std::string("exit: ") + std::string(cadre::to_string(e.reason)));
  }));
}
CADRE_TASK(trapper);

/// Counts the longs it takes until Stop, then tells `parent`.
void counter(Pid parent) {
  long got = 0;
  bool more = true;
  while (more)
    cadre::receive(cadre::match<long>([&](long) { ++got; }),
                   cadre::match<Stop>([&](const Stop&) { more = false; }));
  cadre::send(parent, got);
}
CADRE_TASK(counter);

/// Holds its node for `ms` without yielding.
int hold(int ms) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) {
  }
  return ms;
}
CADRE_TASK(hold);

/// Tells `who` that it starts holding its node's loop, lets the loop send that, then holds it
/// for `ms` without yielding.
int hold_after_telling(Pid who, int ms) {
  cadre::send(who, std::string("holding"));
  cadre::yield();  // one loop pass: the notice leaves before the loop is held
  return hold(ms);
}
CADRE_TASK(hold_after_telling);

/// OpenMP threads inside a task send `per_thread` longs each to `to` (thread 0, the task's
/// own, sends nothing and waits at the region's end, holding the loop). Returns
/// {sends that returned, sends that threw Timeout naming the held loop}.
std::pair<long, long> omp_sends(Pid to, long per_thread) {
  std::atomic<long> sent{0}, held{0};
#pragma omp parallel num_threads(3)
  {
    if (omp_get_thread_num() != 0) {
      try {
        for (long i = 0; i < per_thread; ++i) {
          cadre::send(to, i);
          ++sent;
        }
      } catch (const cadre::Timeout& e) {
        if (std::string(e.what()).find("the loop is held") != std::string::npos) ++held;
      }
    }
  }
  return {sent.load(), held.load()};
}
CADRE_TASK(omp_sends);

std::vector<char> big_result(int bytes) { return std::vector<char>(std::size_t(bytes), 'x'); }
CADRE_TASK(big_result);

}  // namespace

TEST(Trust, AnOverflowingMailboxEndsItsOwnerAndTheNodeServesOn) {
  // A flood of twice the bound to a process that waits for something else: it ends with
  // overflow, its monitor and its trapping link see it, its node answers pings meanwhile.
  const cadre::NodeId n = last_node();
  auto [h, mon] = cadre::spawn_monitor(n, hoarder);
  Pid t = cadre::spawn(cadre::nodes().front(), trapper, h, cadre::self());
  EXPECT_EQ(cadre::receive(10s, cadre::match<std::string>([](const std::string& s) { return s; })),
            std::string("linked"));
  cadre::spawn(cadre::nodes().front(), flooder, h, cadre::self(), long(2 * kMailboxMessages));
  EXPECT_LT(cadre::ping(n, 5s), 5s);
  std::string reason;
  ASSERT_TRUE(cadre::receive(30s, cadre::on_down([&](const cadre::Down& d) {
                               reason = std::string(cadre::to_string(d.reason));
                               EXPECT_NE(d.detail.find("mailbox"), std::string::npos) << d.detail;
                             })));
  EXPECT_EQ(reason, "overflow");
  std::set<std::string> got;
  for (int i = 0; i < 2; ++i)
    if (auto s =
            cadre::receive(30s, cadre::match<std::string>([](const std::string& x) { return x; })))
      got.insert(*s);
  EXPECT_EQ(got, (std::set<std::string>{"flooded", "exit: overflow"}));
  EXPECT_LT(cadre::ping(n, 5s), 5s);
  // The node still runs tasks and processes.
  EXPECT_EQ(cadre::run(cadre::on(n), hold, 1).get(), 1);
  (void)t;
  (void)mon;
}

TEST(Trust, TheDriversSendsWaitForLinkCredit) {
  // The receiving node computes for 1.5 s without looking at its links. A thread of the
  // driver streaming to it gets at most the link's credit and the threads' window through,
  // then waits; afterwards every message arrives.
  auto ns = cadre::nodes();
  if (ns.size() < 2) GTEST_SKIP() << "needs two nodes: a node's messages to itself take no link";
  const long n = 200000;
  Pid c = cadre::spawn(ns.back(), counter, cadre::self());
  // The stream starts once the loop is held (on a loaded machine the task may start late).
  auto held = cadre::run(cadre::on(ns.back()), hold_after_telling, cadre::self(), 1500);
  ASSERT_TRUE(
      cadre::receive(30s, cadre::match<std::string>([](const std::string& s) { return s; })))
      << "the holding task did not start";
  std::atomic<long> sent{0};
  std::thread sender([&] {
    for (long i = 0; i < n; ++i) {
      cadre::send(c, i);
      ++sent;
    }
  });
  std::this_thread::sleep_for(700ms);
  const long at_sample = sent.load();
  // A message is a 48-byte envelope and 8 bytes: the credit, and the window counted as 56 each.
  const long bound = static_cast<long>((kCredit + 256 * 1024) / 56) + 64;
  std::printf("driver-thread sends returned 700 ms into the hold: %ld (bound %ld)\n", at_sample,
              bound);
  EXPECT_LE(at_sample, bound) << "a thread's sends got past the link's credit";
  sender.join();
  held.get();
  cadre::send(c, Stop{});
  auto got = cadre::receive(60s, cadre::match<long>([](long v) { return v; }));
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, n);
}

TEST(Trust, OpenMPThreadsInATaskSendOrFailClearly) {
  auto ns = cadre::nodes();
  if (ns.size() < 2) GTEST_SKIP() << "needs two nodes";
  Pid c = cadre::spawn(ns.back(), counter, cadre::self());
  // The task holds its loop from its start, so the link must be open then: the credit of the
  // earlier tests' streams comes back while the loop runs (a ping, then a pause for the loop).
  cadre::ping(ns.back(), 5s);
  std::this_thread::sleep_for(50ms);
  // Few messages: they fit in the threads' window, and go once the task returns.
  auto few = cadre::run(cadre::on(ns.front()), omp_sends, c, 100L).get();
  EXPECT_EQ(few.first, 200);
  EXPECT_EQ(few.second, 0);
  // Many: the window fills while the task holds the loop; the waits end in Timeout naming
  // the held loop, and what was sent before arrives.
  auto many = cadre::run(cadre::on(ns.front()), omp_sends, c, 1000000L).get();
  EXPECT_EQ(many.second, 2) << "each thread's wait should end in a Timeout naming the held loop";
  EXPECT_LT(many.first, 2000000);
  cadre::send(c, Stop{});
  auto got = cadre::receive(60s, cadre::match<long>([](long v) { return v; }));
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, few.first + many.first) << "a send that returned was not delivered";
}

TEST(Trust, AResultAboveThePayloadCapIsPayloadTooLarge) {
  EXPECT_EQ(cadre::run(cadre::on(last_node()), big_result, 1000).get().size(), 1000u);
  EXPECT_THROW(cadre::run(cadre::on(last_node()), big_result, int(2 * kPayloadCap)).get(),
               cadre::PayloadTooLarge);
  auto fs = cadre::map(cadre::on(last_node()), big_result,
                       std::vector<int>{10, int(2 * kPayloadCap)}, {.chunk = 1});
  EXPECT_EQ(fs[0].get().size(), 10u);
  EXPECT_THROW(fs[1].get(), cadre::PayloadTooLarge);
}

TEST(Trust, ReceivingAnUnregisteredTypeFailsAtOnce) {
  EXPECT_THROW(cadre::receive(10s, cadre::match<Unregistered>([](const Unregistered&) {})),
               cadre::NotRegistered);
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  cadre::Options o;
  o.shutdown_timeout = 5s;
  o.link_credit = kCredit;
  o.payload_cap = kPayloadCap;
  o.mailbox_limit = {.messages = kMailboxMessages, .bytes = 64 << 20};
  return cadre::launch(
      argc, argv, [] { return RUN_ALL_TESTS(); }, o);
}
