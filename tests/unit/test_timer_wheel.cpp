// The timing wheel alone (runtime/scheduler/timer_wheel.hpp): many timers added and
// cancelled, firing order across levels, far deadlines, timers added or cancelled while
// others fire, cancels after firing, equal deadlines.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <stdexcept>
#include <vector>

#include "scheduler/timer_wheel.hpp"

using cadre::sched::TimerWheel;
using Clock = TimerWheel::Clock;
using namespace std::chrono_literals;

namespace {

// Fires the wheel the way the loop does: at its next deadline, until `until`. Returns how
// many fired; fails if a timer fires before its deadline.
std::size_t run_until(TimerWheel& w, Clock::time_point until) {
  std::size_t fired = 0;
  for (int guard = 0; guard < 1000000; ++guard) {
    auto next = w.next_deadline();
    if (!next || *next > until) return fired + w.fire(until);
    fired += w.fire(*next);
  }
  ADD_FAILURE() << "the wheel did not converge";
  return fired;
}

}  // namespace

TEST(TimerWheel, ManyTimersAddedAndCancelled) {
  TimerWheel w;
  const auto t0 = Clock::now();
  std::mt19937_64 rng(7);
  const int n = 100000;
  std::vector<std::uint64_t> ids;
  std::vector<Clock::time_point> fired_at;
  std::vector<Clock::time_point> deadline(n);
  std::vector<Clock::time_point> now_seen;
  Clock::time_point now = t0;
  for (int i = 0; i < n; ++i) {
    deadline[i] = t0 + std::chrono::microseconds(rng() % 10000000);  // within 10 s
    ids.push_back(w.add(deadline[i], [&, i] {
      EXPECT_LE(deadline[i], now) << "fired early";
      fired_at.push_back(deadline[i]);
    }));
  }
  EXPECT_EQ(w.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; i += 2) w.cancel(ids[i]);
  EXPECT_EQ(w.size(), static_cast<std::size_t>(n / 2));
  // Move time forward in uneven steps, as a loop would.
  std::size_t fired = 0;
  while (now < t0 + 11s) {
    now += std::chrono::microseconds(1 + rng() % 200000);
    fired += w.fire(now);
  }
  EXPECT_EQ(fired, static_cast<std::size_t>(n / 2));
  EXPECT_EQ(fired_at.size(), static_cast<std::size_t>(n / 2));
  EXPECT_TRUE(std::is_sorted(fired_at.begin(), fired_at.end())) << "fired out of order";
  EXPECT_EQ(w.size(), 0u);
  EXPECT_FALSE(w.next_deadline().has_value());
}

TEST(TimerWheel, FiresInDeadlineOrderFromMicrosecondsToYears) {
  TimerWheel w;
  const auto t0 = Clock::now();
  std::vector<Clock::duration> offsets = {10us,
                                          70us,
                                          1ms,
                                          4ms,
                                          5ms,
                                          300ms,
                                          2s,
                                          20s,
                                          1h,
                                          30h,
                                          std::chrono::hours(24 * 400),
                                          std::chrono::hours(24 * 365 * 100)};
  std::vector<Clock::duration> order;
  Clock::time_point now = t0;
  std::shuffle(offsets.begin(), offsets.end(), std::mt19937(3));
  for (auto d : offsets)
    w.add(t0 + d, [&, d] {
      EXPECT_LE(t0 + d, now) << "fired early";
      order.push_back(d);
    });
  // Fired at each next deadline, every timer fires when its time comes, not earlier.
  for (int guard = 0; guard < 10000 && w.size() > 0; ++guard) {
    now = *w.next_deadline();
    EXPECT_GE(now, t0 - 1s);
    w.fire(now);
  }
  EXPECT_EQ(w.size(), 0u);
  auto sorted = offsets;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(order, sorted);
}

// Checks next_deadline() for a near timer added at `t0`: never late, and exact after at
// most one early wake-up (at the start of the coarser slot that may still hold it).
static void expect_near_deadline_is_found(Clock::time_point t0) {
  TimerWheel w;
  w.fire(t0);
  w.add(t0 + 2h, [] {});
  ASSERT_TRUE(w.next_deadline());
  EXPECT_LE(*w.next_deadline(), t0 + 2h);
  w.add(t0 + 100us, [] {});
  EXPECT_LE(*w.next_deadline(), t0 + 100us);
  w.fire(t0 + 50us);
  auto next = *w.next_deadline();
  EXPECT_LE(next, t0 + 100us) << "never late";
  if (next != t0 + 100us) {
    EXPECT_EQ(w.fire(next), 0u) << "an early wake-up fires nothing";
    next = *w.next_deadline();
  }
  EXPECT_EQ(next, t0 + 100us) << "a timer a tick away is known exactly after one step";
  EXPECT_EQ(run_until(w, t0 + 3h), 2u);
}

TEST(TimerWheel, NextDeadlineIsNeverLateAndExactWhenNear) {
  // A tick is 2^16 ns and a level-1 slot 2^22 ns. Deadlines inside one level-1 slot, and
  // deadlines on both sides of a slot's edge (the timer then starts in level 1).
  const Clock::time_point edge{std::chrono::nanoseconds(std::int64_t{1} << 40)};
  expect_near_deadline_is_found(edge + 1ms);
  expect_near_deadline_is_found(edge - 75us);
  expect_near_deadline_is_found(edge - 30us);
  expect_near_deadline_is_found(Clock::now());
}

TEST(TimerWheel, FarFutureTimersWaitTheirTurn) {
  TimerWheel w;
  const auto t0 = Clock::now();
  int fired = 0;
  w.add(Clock::time_point::max(), [&] { ++fired; });
  w.add(t0 + std::chrono::hours(24 * 365 * 200), [&] { ++fired; });
  EXPECT_EQ(w.fire(t0 + std::chrono::hours(24 * 365)), 0u);
  EXPECT_EQ(run_until(w, t0 + std::chrono::hours(24 * 365 * 199)), 0u);
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(run_until(w, t0 + std::chrono::hours(24 * 365 * 201)), 1u);
  EXPECT_EQ(w.fire(Clock::time_point::max()), 1u);
  EXPECT_EQ(fired, 2);
}

TEST(TimerWheel, PastDeadlinesFireAtOnce) {
  TimerWheel w;
  const auto t0 = Clock::now();
  int fired = 0;
  w.add(t0 - 1h, [&] { ++fired; });
  w.add(Clock::time_point::min(), [&] { ++fired; });
  EXPECT_LE(*w.next_deadline(), t0);
  EXPECT_EQ(w.fire(t0), 2u);
  EXPECT_EQ(fired, 2);
}

TEST(TimerWheel, EqualDeadlinesFireInTheOrderAdded) {
  TimerWheel w;
  const auto at = Clock::now() + 3s;
  std::vector<int> order;
  for (int i = 0; i < 50; ++i) w.add(at, [&, i] { order.push_back(i); });
  EXPECT_EQ(w.fire(at - 1ns), 0u);
  EXPECT_EQ(w.fire(at), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(order[i], i);
}

TEST(TimerWheel, TimersAddedWhileFiring) {
  TimerWheel w;
  const auto t0 = Clock::now();
  std::vector<int> order;
  w.add(t0 + 1ms, [&] {
    order.push_back(1);
    // Due at the time being fired: fires in the same call.
    w.add(t0 + 1ms, [&] { order.push_back(2); });
    w.add(t0, [&] { order.push_back(3); });
    // Later: waits.
    w.add(t0 + 10s, [&] { order.push_back(4); });
  });
  EXPECT_EQ(w.fire(t0 + 1ms), 3u);
  EXPECT_EQ(order, (std::vector<int>{1, 3, 2}));
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(w.fire(t0 + 9s), 0u);
  EXPECT_EQ(w.fire(t0 + 10s), 1u);
  EXPECT_EQ(order.back(), 4);
}

TEST(TimerWheel, CancelWhileFiringAndAfterFiring) {
  TimerWheel w;
  const auto t0 = Clock::now();
  int a = 0, b = 0;
  std::uint64_t id_b = 0;
  auto id_a = w.add(t0 + 1ms, [&] {
    ++a;
    w.cancel(id_b);  // due in the same batch: it must not fire
  });
  id_b = w.add(t0 + 2ms, [&] { ++b; });
  EXPECT_EQ(w.fire(t0 + 5ms), 1u);
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 0);
  EXPECT_EQ(w.size(), 0u);
  // Cancelling fired or cancelled timers does nothing, even to timers that reuse their
  // storage.
  int c = 0;
  w.add(t0 + 6ms, [&] { ++c; });
  w.add(t0 + 6ms, [&] { ++c; });
  w.cancel(id_a);
  w.cancel(id_b);
  w.cancel(0);
  w.cancel(~std::uint64_t(0));
  EXPECT_EQ(w.size(), 2u);
  EXPECT_EQ(w.fire(t0 + 6ms), 2u);
  EXPECT_EQ(c, 2);
}

TEST(TimerWheel, AThrowingCallbackLeavesTheOthersPending) {
  TimerWheel w;
  const auto t0 = Clock::now();
  int fired = 0;
  w.add(t0 + 1ms, [] { throw std::runtime_error("boom"); });
  w.add(t0 + 2ms, [&] { ++fired; });
  EXPECT_THROW(w.fire(t0 + 3ms), std::runtime_error);
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(w.fire(t0 + 3ms), 1u);
  EXPECT_EQ(fired, 1);
  EXPECT_THROW(w.add(t0, nullptr), std::invalid_argument);
}
