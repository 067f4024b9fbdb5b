#pragma once
// The loop's baton: whichever thread holds it runs the node loop's passes and may call MPI.
// The loop thread holds it except while it parks; a waiting driver takes it and serves the
// loop itself (DESIGN.md, Threads), so a driver's call costs no thread switch. The mutex gives
// acquire/release ordering at every hand-over. Fibers never run on the driver's thread.

#include <atomic>
#include <chrono>
#include <mutex>

namespace cadre::node {

class LoopBaton;
/// The baton the calling thread holds, if any.
inline thread_local const LoopBaton* t_baton_held = nullptr;

class LoopBaton {
 public:
  using Clock = std::chrono::steady_clock;

  /// Allows the driver to take the baton (MPI initialised SERIALIZED or more). Before the
  /// loop starts.
  void enable() { enabled_ = true; }
  /// True while the driver may still take the baton: enabled and not closed. Any thread.
  bool open() const { return enabled_ && !closed_.load(std::memory_order_acquire); }
  /// True when the calling thread holds the baton.
  bool held_here() const { return t_baton_held == this; }

  // -- the loop thread ------------------------------------------------------------------
  /// Takes the baton, waiting for it. Loop thread.
  void take() {
    mu_.lock();
    t_baton_held = this;
  }
  /// Takes the baton when it is free; returns whether it did. Loop thread.
  bool try_take() {
    if (!mu_.try_lock()) return false;
    t_baton_held = this;
    return true;
  }
  /// Gives the baton up (to park). Loop thread.
  void release() {
    t_baton_held = nullptr;
    mu_.unlock();
  }
  /// True when the driver waits for the baton. Any thread.
  bool wanted() const { return wanted_.load(std::memory_order_relaxed); }
  /// The driver never takes the baton again. Called by the holder (the loop thread).
  void close() { closed_.store(true, std::memory_order_release); }
  /// The loop thread took the baton back after parking. Loop thread.
  void loop_took_turn() { owed_.store(false, std::memory_order_release); }

  // -- the driver -----------------------------------------------------------------------
  /// The driver leaves work only the loop thread may do (ready fibers): it does not take
  /// the baton again until the loop thread had it. The holder, before release().
  void owe_loop_a_turn() { owed_.store(true, std::memory_order_relaxed); }
  /// True while the loop thread is owed a turn. Any thread.
  bool loop_owed_turn() const { return owed_.load(std::memory_order_acquire); }
  /// Takes the baton if it is free, open, and no turn is owed to the loop thread; returns
  /// whether it did. Any thread.
  bool try_take_open() {
    if (!open() || loop_owed_turn() || !mu_.try_lock()) return false;
    if (closed_.load(std::memory_order_acquire)) {
      mu_.unlock();
      return false;
    }
    t_baton_held = this;
    return true;
  }
  /// Asks the loop for the baton and waits for it up to `wait`; returns whether the caller
  /// holds it (false when closed).
  bool take_within(Clock::duration wait) {
    if (!open()) return false;
    wanted_.store(true, std::memory_order_relaxed);
    const bool got = mu_.try_lock_for(wait);
    wanted_.store(false, std::memory_order_relaxed);
    if (!got) return false;
    if (closed_.load(std::memory_order_acquire)) {
      mu_.unlock();
      return false;
    }
    t_baton_held = this;
    return true;
  }

 private:
  std::timed_mutex mu_;
  std::atomic<bool> wanted_{false};
  std::atomic<bool> closed_{false};
  std::atomic<bool> owed_{false};  // the loop thread is owed a turn
  bool enabled_ = false;
};

}  // namespace cadre::node
