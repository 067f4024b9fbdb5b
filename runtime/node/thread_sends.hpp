#pragma once
// Sends from threads other than the node loop (the master's driver, OpenMP or std::threads):
// the per-destination windows that keep a thread from queuing more than kWindow bytes ahead
// of the loop, and the wait of a thread whose window is full or whose link is out of credit.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "cadre/runtime.hpp"

namespace cadre::node {

class Core;

/// The thread-send windows of one node, one per destination node id. Threads read them
/// without a lock: they live in chunks that the loop allocates as nodes join and never moves.
class ThreadSends {
 public:
  /// Bytes the threads may have posted to one destination and not yet sent.
  static constexpr std::int64_t kWindow = 256 * 1024;

  explicit ThreadSends(Core& core) : core_(core) {}
  ~ThreadSends();
  ThreadSends(const ThreadSends&) = delete;
  ThreadSends& operator=(const ThreadSends&) = delete;

  /// Makes room for destinations below `nodes`. Loop thread.
  void size(std::uint32_t nodes);
  /// Called by a thread before it posts a send of `bytes` to `dst`: waits while the link is
  /// congested or the window is full. Throws Timeout when the loop makes no pass for a
  /// heartbeat interval meanwhile (it is held: the wait could not end). Any thread but the
  /// loop.
  void wait(NodeId dst, std::size_t bytes);
  /// The loop sent a thread's message of `bytes` to `dst`. Loop thread.
  void done(NodeId dst, std::size_t bytes);
  /// The loop made pass number `n` (a waiting thread that sees none for a heartbeat interval
  /// gives up). Loop thread.
  void loop_pass(std::uint64_t n) { loop_passes_.store(n, std::memory_order_relaxed); }
  /// True when some destination has thread sends whose state the loop publishes.
  bool watched() const { return !watch_.empty(); }
  /// Publishes each watched link's congestion and wakes the threads whose window opened.
  /// Loop thread.
  void publish();

 private:
  struct Link {
    std::atomic<bool> congested{false};   // published by the loop
    std::atomic<std::int64_t> posted{0};  // bytes posted by threads, not yet sent
    bool in_watch_list = false;           // loop's
  };
  static constexpr std::uint32_t kChunk = 256, kChunks = 4096;
  Link* link(std::uint32_t n) const;

  Core& core_;
  std::unique_ptr<std::atomic<Link*>[]> chunks_;
  std::vector<std::uint32_t> watch_;  // destinations whose state the loop publishes
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<int> waiters_{0};
  std::atomic<std::uint64_t> loop_passes_{0};
};

}  // namespace cadre::node
