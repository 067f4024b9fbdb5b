// Sends from threads other than the node loop (the master's driver, OpenMP or std::threads):
// they post their messages to the loop, and wait like a process when the link is out of
// credit, so a thread cannot queue more than a window of bytes per destination.
//
// The loop publishes, for each destination threads send to, whether the link is congested
// (Core::congested), and counts the bytes posted but not yet sent. A waiting thread wakes when
// either changes. A thread that waits while the loop makes no pass for a heartbeat interval
// is waiting on a loop that is held, typically by the task that started the thread (an
// OpenMP region inside a task): that wait would never end, so it ends in Timeout.

#include <fmt/format.h>

#include "cadre/errors.hpp"
#include "node/core.hpp"

namespace cadre::node {

void Core::size_thread_sends(std::uint32_t nodes) {
  if (!thread_chunks_) {
    thread_chunks_ = std::make_unique<std::atomic<ThreadLink*>[]>(kThreadChunks);
    for (std::uint32_t c = 0; c < kThreadChunks; ++c) thread_chunks_[c].store(nullptr);
  }
  for (std::uint32_t c = 0; c * kThreadChunk < nodes && c < kThreadChunks; ++c)
    if (!thread_chunks_[c].load(std::memory_order_relaxed))
      thread_chunks_[c].store(new ThreadLink[kThreadChunk], std::memory_order_release);
}

Core::ThreadLink* Core::thread_link(std::uint32_t n) const {
  if (!thread_chunks_ || n / kThreadChunk >= kThreadChunks) return nullptr;
  ThreadLink* c = thread_chunks_[n / kThreadChunk].load(std::memory_order_acquire);
  return c ? &c[n % kThreadChunk] : nullptr;
}

void Core::wait_thread_send(NodeId dst, std::size_t bytes) {
  ThreadLink* tl = thread_link(dst.value());
  if (!tl) return;  // the send itself names the problem
  ThreadLink& l = *tl;
  auto open = [&] {
    return !l.congested.load(std::memory_order_acquire) &&
           l.posted.load(std::memory_order_acquire) < kThreadWindow;
  };
  // The driver serves the loop meanwhile when it can have the loop's baton.
  if (!open() && !driver_wait([&] { return open() || !is_up(dst) || stopping(); }, std::nullopt)) {
    std::unique_lock lock(thread_mu_);
    thread_waiters_.fetch_add(1);
    std::uint64_t pass = loop_passes_.load(std::memory_order_relaxed);
    auto quiet_since = Clock::now();
    while (!open() && is_up(dst) && !stopping()) {
      thread_cv_.wait_for(lock, std::chrono::milliseconds(5));
      const auto now = Clock::now();
      if (const std::uint64_t p = loop_passes_.load(std::memory_order_relaxed); p != pass) {
        pass = p;
        quiet_since = now;
      } else if (now - quiet_since >= options_.heartbeat_interval) {
        thread_waiters_.fetch_sub(1);
        throw Timeout(fmt::format(
            "cadre::send from a thread to {}: the link has been out of credit for {} ms while "
            "this node's loop made no progress: the loop is held, most likely by the task that "
            "started this thread (an OpenMP region inside a task). Send less from such threads "
            "than the link's credit, or let the task's own thread send (it yields).",
            describe(dst), options_.heartbeat_interval.count()));
      }
    }
    thread_waiters_.fetch_sub(1);
  }
  l.posted.fetch_add(static_cast<std::int64_t>(bytes), std::memory_order_acq_rel);
}

void Core::thread_send_done(NodeId dst, std::size_t bytes) {
  ThreadLink* tl = thread_link(dst.value());
  if (!tl) return;
  ThreadLink& l = *tl;
  // Congestion is published before the bytes leave the window: a thread that sees room in
  // the window must also see a link out of credit, or it would post a second window ahead
  // of the loop's next publication (the promise is credit + one window, not more).
  if (congested(dst)) l.congested.store(true, std::memory_order_release);
  l.posted.fetch_sub(static_cast<std::int64_t>(bytes), std::memory_order_acq_rel);
  if (!l.in_watch_list) {
    l.in_watch_list = true;
    thread_watch_.push_back(dst.value());
  }
}

void Core::publish_thread_links() {
  bool opened = false;
  for (std::uint32_t d : thread_watch_) {
    ThreadLink& l = *thread_link(d);
    const bool now = congested(NodeId(d));
    if (now != l.congested.load(std::memory_order_relaxed)) {
      l.congested.store(now, std::memory_order_release);
      opened |= !now;
    }
    opened |= l.posted.load(std::memory_order_relaxed) < kThreadWindow;
  }
  if (opened && thread_waiters_.load(std::memory_order_relaxed) > 0) {
    std::lock_guard lock(thread_mu_);
    thread_cv_.notify_all();
  }
}

}  // namespace cadre::node
