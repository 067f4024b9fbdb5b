#pragma once
// Fibers, the run queue and timers of one node loop. No MPI here: the scheduler is driven by
// the node loop (or by a unit test) and knows nothing of transports.
//
// Thread rule: every member is called on the loop thread only.

#include <boost/context/fiber.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "scheduler/stack_pool.hpp"
#include "scheduler/timer_wheel.hpp"

namespace cadre::sched {

/// A move-only `void()` callable (std::function needs copyable captures; ours hold buffers).
class Job {
 public:
  Job() = default;
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, Job>>>
  Job(F&& f) : p_(std::make_unique<Impl<std::decay_t<F>>>(std::forward<F>(f))) {}
  explicit operator bool() const { return p_ != nullptr; }
  void operator()() { p_->call(); }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual void call() = 0;
  };
  template <class F>
  struct Impl final : Base {
    explicit Impl(F&& f) : f(std::move(f)) {}
    explicit Impl(const F& f) : f(f) {}
    void call() override { f(); }
    F f;
  };
  std::unique_ptr<Base> p_;
};

class Scheduler;
class Fiber;

/// The fiber running on this thread, or nullptr (Scheduler::current()).
inline thread_local Fiber* t_current = nullptr;

/// One cooperatively scheduled thread of control.
class Fiber {
 public:
  std::uint64_t serial() const { return serial_; }
  /// The lowest stack pointer this fiber may switch out with (StackPool::stack_limit);
  /// null before the fiber first ran.
  const char* stack_limit() const { return stack_.sp ? StackPool::stack_limit(stack_) : nullptr; }
  /// Owner data for the services (a process record); the scheduler never touches it.
  void* local = nullptr;

 private:
  friend class Scheduler;
  std::uint64_t serial_ = 0;
  boost::context::fiber ctx_;     // the fiber itself, while it is not running
  boost::context::fiber caller_;  // the loop, while the fiber runs
  boost::context::stack_context stack_{};
  Job body_;
  bool queued_ = false;
  bool done_ = false;
  bool overflowed_ = false;          // switched out with its stack pointer below the limit
  const char* parked_sp_ = nullptr;  // its frame at its last switch out (wake() prefetches)
  void* asan_fake_stack_ = nullptr;
};

class Scheduler {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Scheduler(std::size_t stack_size);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  /// Creates a fiber that runs `body` and queues it. `body` must not let exceptions escape
  /// (the scheduler terminates the program if one does: the services catch everything).
  Fiber* spawn(Job body, std::uint64_t serial);
  /// Runs every fiber that is ready now, once each. Returns how many ran.
  std::size_t run_ready();
  /// The fiber running on this thread, or nullptr outside fibers.
  static Fiber* current() { return t_current; }
  /// Suspends the calling fiber until wake() is called for it. Fiber only. Aborts the
  /// program when the fiber's stack pointer is below its stack's limit (an overflow).
  void suspend();
  /// Makes a suspended fiber ready; a no-op when it is already queued.
  void wake(Fiber*);
  /// Lets other ready fibers run, then continues. Fiber only.
  void yield();

  /// Calls `fn` on the loop at or after `at`. Returns an id for cancel_timer. O(1).
  std::uint64_t add_timer(Clock::time_point at, std::function<void()> fn) {
    return timers_.add(at, std::move(fn));
  }
  /// Forgets a timer; a no-op once it fired. O(1).
  void cancel_timer(std::uint64_t id) { timers_.cancel(id); }
  /// Fires due timers in deadline order; returns how many fired.
  std::size_t fire_timers(Clock::time_point now) { return timers_.fire(now); }
  /// At or before the earliest timer's deadline (TimerWheel::next_deadline).
  std::optional<Clock::time_point> next_deadline() const { return timers_.next_deadline(); }

  std::size_t live_fibers() const { return live_; }
  /// Stack size of fibers created from now on.
  void set_stack_size(std::size_t n);
  bool has_ready() const { return !ready_.empty(); }
  const StackPool& stacks() const { return pool_; }

 private:
  void resume(Fiber*);

  StackPool pool_;
  std::deque<Fiber*> ready_;
  std::size_t live_ = 0;
  TimerWheel timers_;
  // The loop's own stack, for ASan's fiber-switch annotations.
  const void* loop_stack_bottom_ = nullptr;
  std::size_t loop_stack_size_ = 0;
};

}  // namespace cadre::sched
