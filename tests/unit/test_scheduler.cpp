// The scheduler without any transport: fibers, yields, suspension, timers.

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "scheduler/scheduler.hpp"

using cadre::sched::Fiber;
using cadre::sched::Scheduler;
using Clock = Scheduler::Clock;

TEST(Scheduler, RunsFibersInOrderAndInterleavesYields) {
  Scheduler s(64 * 1024);
  std::vector<std::string> log;
  for (int i = 0; i < 3; ++i)
    s.spawn(
        [&, i] {
          log.push_back("a" + std::to_string(i));
          s.yield();
          log.push_back("b" + std::to_string(i));
        },
        static_cast<std::uint64_t>(i + 1));
  EXPECT_EQ(s.live_fibers(), 3u);
  while (s.has_ready()) s.run_ready();
  EXPECT_EQ(log, (std::vector<std::string>{"a0", "a1", "a2", "b0", "b1", "b2"}));
  EXPECT_EQ(s.live_fibers(), 0u);
}

TEST(Scheduler, SuspendUntilWoken) {
  Scheduler s(64 * 1024);
  Fiber* waiting = nullptr;
  int stage = 0;
  s.spawn(
      [&] {
        waiting = Scheduler::current();
        stage = 1;
        s.suspend();
        stage = 2;
      },
      1);
  s.run_ready();
  EXPECT_EQ(stage, 1);
  s.run_ready();
  EXPECT_EQ(stage, 1) << "a suspended fiber must not run again by itself";
  s.wake(waiting);
  s.wake(waiting);  // idempotent while queued
  s.run_ready();
  EXPECT_EQ(stage, 2);
  EXPECT_EQ(s.live_fibers(), 0u);
}

TEST(Scheduler, ExceptionsInsideFibersAreCaughtThere) {
  Scheduler s(64 * 1024);
  int caught = 0;
  for (int i = 0; i < 1000; ++i)
    s.spawn(
        [&] {
          try {
            throw std::runtime_error("inside");
          } catch (const std::runtime_error&) {
            ++caught;
          }
        },
        1);
  while (s.has_ready()) s.run_ready();
  EXPECT_EQ(caught, 1000);
}

TEST(Scheduler, TensOfThousandsOfParkedFibers) {
  Scheduler s(32 * 1024);
  std::vector<Fiber*> parked;
  const int n = 20000;
  int finished = 0;
  for (int i = 0; i < n; ++i)
    s.spawn(
        [&] {
          parked.push_back(Scheduler::current());
          s.suspend();
          ++finished;
        },
        static_cast<std::uint64_t>(i + 1));
  s.run_ready();
  EXPECT_EQ(s.live_fibers(), static_cast<std::size_t>(n));
  for (auto* f : parked) s.wake(f);
  s.run_ready();
  EXPECT_EQ(finished, n);
  EXPECT_EQ(s.live_fibers(), 0u);
  EXPECT_GT(s.stacks().pooled(), 0u) << "stacks go back to the pool";
  // Again, on the pooled stacks (most of them given back to the system meanwhile).
  parked.clear();
  finished = 0;
  for (int i = 0; i < n; ++i)
    s.spawn(
        [&] {
          parked.push_back(Scheduler::current());
          s.suspend();
          ++finished;
        },
        static_cast<std::uint64_t>(i + 1));
  s.run_ready();
  EXPECT_EQ(s.stacks().in_use(), static_cast<std::size_t>(n));
  for (auto* f : parked) s.wake(f);
  s.run_ready();
  EXPECT_EQ(finished, n);
}

TEST(Scheduler, TimersFireInDeadlineOrderAndCanBeCancelled) {
  Scheduler s(64 * 1024);
  std::vector<int> fired;
  auto t0 = Clock::now();
  s.add_timer(t0 + std::chrono::milliseconds(3), [&] { fired.push_back(3); });
  s.add_timer(t0 + std::chrono::milliseconds(1), [&] { fired.push_back(1); });
  auto id = s.add_timer(t0 + std::chrono::milliseconds(2), [&] { fired.push_back(2); });
  s.cancel_timer(id);
  // At or before the earliest deadline (exact when it is in the wheel's finest level).
  ASSERT_TRUE(s.next_deadline().has_value());
  EXPECT_LE(*s.next_deadline(), t0 + std::chrono::milliseconds(1));
  EXPECT_EQ(s.fire_timers(t0), 0u);
  EXPECT_EQ(s.fire_timers(t0 + std::chrono::milliseconds(10)), 2u);
  EXPECT_EQ(fired, (std::vector<int>{1, 3}));
  EXPECT_FALSE(s.next_deadline().has_value());
}

TEST(Scheduler, DeepRecursionWithinTheStackIsFine) {
  Scheduler s(128 * 1024);
  long result = 0;
  std::function<long(int)> rec = [&](int d) -> long {
    volatile char pad[256];
    pad[0] = static_cast<char>(d);
    return d == 0 ? pad[0] : d + rec(d - 1);
  };
  s.spawn([&] { result = rec(100); }, 1);
  s.run_ready();
  EXPECT_EQ(result, 5050);
}

namespace {
// Recurses until the frame is just above `stop`, then switches out.
__attribute__((noinline)) void dive(Scheduler& s, const char* stop) {
  volatile char pad[256];
  pad[0] = 1;
  if (static_cast<const char*>(__builtin_frame_address(0)) > stop)
    dive(s, stop);
  else
    s.yield();
  pad[1] = pad[0];  // keeps the call from being a tail call
}
}  // namespace

TEST(SchedulerDeathTest, SwitchingWithTheStackPointerBelowTheLimitIsAnOverflow) {
  EXPECT_DEATH(
      {
        Scheduler s(64 * 1024);
        s.spawn([&] { dive(s, Scheduler::current()->stack_limit() + 64); }, 7);
        s.run_ready();
      },
      "fiber 7 overflowed its stack \\(stack pointer below the limit at a switch\\)");
}

TEST(SchedulerDeathTest, ADamagedCanaryIsReportedWhenTheStackReturns) {
  EXPECT_DEATH(
      {
        Scheduler s(64 * 1024);
        s.spawn(
            [&] {
              const char* base = Scheduler::current()->stack_limit() -
                                 cadre::sched::StackPool::kSwitchReserve -
                                 cadre::sched::StackPool::kCanaryBytes;
              // What a frame deeper than the stack would have written (without the jump
              // into neighbouring memory that a real overflow would also make).
              const_cast<volatile char*>(base)[100] = 42;
            },
            8);
        s.run_ready();
      },
      "fiber 8 overflowed its stack \\(canary destroyed\\)");
}

TEST(Scheduler, FibersThatParkLeaveTheCanaryAndTheLimitAlone) {
  Scheduler s(32 * 1024);
  int done = 0;
  for (int i = 0; i < 100; ++i)
    s.spawn(
        [&] {
          volatile char pad[8 * 1024];
          pad[0] = 1;
          s.yield();
          done += pad[0];
        },
        static_cast<std::uint64_t>(i + 1));
  while (s.has_ready()) s.run_ready();
  EXPECT_EQ(done, 100);
}
