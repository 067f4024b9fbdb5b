#pragma once
// The watchdog: a thread that ends the process when its node can no longer do its part. It
// fires when the loop stops ticking (a task holds it without yielding) or, on a worker, when
// no heartbeat of the master was processed, for three heartbeat timeouts. It only reads
// clocks; the loop writes them.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace cadre::node {

class Watchdog {
 public:
  using Clock = std::chrono::steady_clock;
  Watchdog() = default;
  ~Watchdog() { stop(); }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  /// Starts the thread: it looks every heartbeat_timeout / 4 and fires after 3 x
  /// `heartbeat_timeout` of silence. A master does not watch for its own heartbeats.
  void start(Clock::duration heartbeat_timeout, bool master);
  /// Stops the thread (shut-down). Idempotent.
  void stop();
  /// The loop made a pass. Loop thread.
  void ticked(Clock::time_point now) {
    ticked_at_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
  }
  /// A heartbeat of the master was processed. Loop thread.
  void heard_master(Clock::time_point now) {
    master_heard_at_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
  }
  /// The loop is in a call that blocks by design (MPI_Comm_spawn, bounded by a watchdog of its
  /// own): its silence meanwhile is not a stuck task. Loop thread.
  void blocking_call(bool in_call) {
    if (!in_call) ticked(Clock::now());
    blocked_.store(in_call);
  }
  /// The master's last word came: from now on it may go silent.
  void master_done() { master_done_.store(true); }

 private:
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  // Steady-clock times, as counts.
  std::atomic<Clock::rep> ticked_at_{0}, master_heard_at_{0};
  std::atomic<bool> master_done_{false};
  std::atomic<bool> blocked_{false};
};

}  // namespace cadre::node
