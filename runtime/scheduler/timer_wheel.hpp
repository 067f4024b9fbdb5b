#pragma once
// The timers of one node loop: a hierarchical timing wheel. Adding and cancelling a timer
// cost O(1) whatever the number of timers (a receive with a timeout does both, and its
// timer is nearly always cancelled before it fires); a timer is moved at most once per
// level on its way down to the finest one.
//
// Time is counted in ticks of 2^16 ns (about 66 µs). Level l has 64 slots of 64^l ticks
// each; 8 levels cover every 64-bit tick. A timer lives at the level of the highest 6-bit
// digit in which its deadline's tick differs from the wheel's current tick, so each level
// holds only timers later than every timer of the levels below it. Deadlines are kept
// exactly: a timer fires when fire() is given a time at or after its deadline, never
// earlier, and timers due together fire in deadline order (equal deadlines in the order
// they were added).
//
// Thread rule: one thread (the loop's) uses a wheel.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace cadre::sched {

/// Timers with O(1) add and cancel; see the file comment.
class TimerWheel {
 public:
  using Clock = std::chrono::steady_clock;

  TimerWheel();

  /// Calls `fn` from fire() at or after `at`. Returns a nonzero id for cancel().
  std::uint64_t add(Clock::time_point at, std::function<void()> fn);
  /// Forgets a timer that has not fired yet; a no-op for a timer that fired or was cancelled.
  void cancel(std::uint64_t id);
  /// Fires every timer due at `now`, including timers that callbacks add with a deadline at
  /// or before `now`. Returns how many fired.
  std::size_t fire(Clock::time_point now);
  /// A time at or before the earliest pending deadline, or nullopt when no timer is
  /// pending. It is exact when that timer is in the finest level (less than 64 ticks
  /// away); otherwise it is the start of the slot holding it, and fire() at that time moves
  /// the timer to a finer level, after which the answer is closer.
  std::optional<Clock::time_point> next_deadline() const;
  /// How many timers are pending.
  std::size_t size() const { return live_; }

 private:
  static constexpr int kLevels = 8;
  static constexpr int kSlots = 64;
  static constexpr int kTickShift = 16;
  static constexpr std::uint32_t kNone = UINT32_MAX;
  enum class State : std::uint8_t { free, slotted, due, cancelled };

  struct Entry {
    Clock::time_point at{};
    std::function<void()> fn;
    std::uint64_t seq = 0;  // the order of adds, for equal deadlines
    std::uint32_t gen = 1;  // bumped when the entry is freed: stale ids do nothing
    std::uint32_t prev = kNone, next = kNone;
    std::uint8_t level = 0, slot = 0;
    State state = State::free;
  };

  static std::uint64_t tick_of(Clock::time_point t);
  void place(std::uint32_t i);
  void unlink(std::uint32_t i);
  void release(std::uint32_t i);
  // Moves the wheel to `target` (>= now_tick_), collecting due entries into due_.
  void advance(std::uint64_t target);
  void take_slot(int level, int slot, bool all_due);
  void collect_current(Clock::time_point now);

  std::vector<Entry> entries_;
  std::vector<std::uint32_t> free_;
  std::array<std::array<std::uint32_t, kSlots>, kLevels> heads_;
  std::array<std::uint64_t, kLevels> occupied_{};  // bit s: slot s of that level has timers
  std::vector<std::uint32_t> due_;
  std::vector<std::uint32_t> spill_;
  std::uint64_t now_tick_ = 0;
  std::uint64_t next_seq_ = 0;
  std::size_t live_ = 0;
  // next_deadline()'s answer, kept until a change may make it wrong.
  mutable bool cache_ok_ = false;
  mutable std::optional<Clock::time_point> cached_;
};

}  // namespace cadre::sched
