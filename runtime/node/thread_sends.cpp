// Sends from threads other than the node loop (the master's driver, OpenMP or std::threads):
// they post their messages to the loop, and wait like a process when the link is out of
// credit, so a thread cannot queue more than a window of bytes per destination.
//
// The loop publishes, for each destination threads send to, whether the link is congested
// (Core::congested), and counts the bytes posted but not yet sent. A waiting thread wakes when
// either changes. A thread that waits while the loop makes no pass for a heartbeat interval
// is waiting on a loop that is held, typically by the task that started the thread (an
// OpenMP region inside a task): that wait would never end, so it ends in Timeout.

#include "node/thread_sends.hpp"

#include <fmt/format.h>

#include "cadre/errors.hpp"
#include "node/core.hpp"

namespace cadre::node {

ThreadSends::~ThreadSends() {
  if (chunks_)
    for (std::uint32_t c = 0; c < kChunks; ++c) delete[] chunks_[c].load();
}

void ThreadSends::size(std::uint32_t nodes) {
  if (!chunks_) {
    chunks_ = std::make_unique<std::atomic<Link*>[]>(kChunks);
    for (std::uint32_t c = 0; c < kChunks; ++c) chunks_[c].store(nullptr);
  }
  for (std::uint32_t c = 0; c * kChunk < nodes && c < kChunks; ++c)
    if (!chunks_[c].load(std::memory_order_relaxed))
      chunks_[c].store(new Link[kChunk], std::memory_order_release);
}

ThreadSends::Link* ThreadSends::link(std::uint32_t n) const {
  if (!chunks_ || n / kChunk >= kChunks) return nullptr;
  Link* c = chunks_[n / kChunk].load(std::memory_order_acquire);
  return c ? &c[n % kChunk] : nullptr;
}

void ThreadSends::wait(NodeId dst, std::size_t bytes) {
  Link* tl = link(dst.value());
  if (!tl) return;  // the send itself names the problem
  Link& l = *tl;
  auto open = [&] {
    return !l.congested.load(std::memory_order_acquire) &&
           l.posted.load(std::memory_order_acquire) < kWindow;
  };
  Core& c = core_;
  // The driver serves the loop meanwhile when it can have the loop's baton.
  if (!open() &&
      !c.driver_wait([&] { return open() || !c.is_up(dst) || c.stopping(); }, std::nullopt)) {
    std::unique_lock lock(mu_);
    waiters_.fetch_add(1);
    std::uint64_t pass = loop_passes_.load(std::memory_order_relaxed);
    auto quiet_since = Clock::now();
    while (!open() && c.is_up(dst) && !c.stopping()) {
      cv_.wait_for(lock, std::chrono::milliseconds(5));
      const auto now = Clock::now();
      if (const std::uint64_t p = loop_passes_.load(std::memory_order_relaxed); p != pass) {
        pass = p;
        quiet_since = now;
      } else if (now - quiet_since >= c.options().heartbeat_interval) {
        waiters_.fetch_sub(1);
        throw Timeout(fmt::format(
            "cadre::send from a thread to {}: the link has been out of credit for {} ms while "
            "this node's loop made no progress: the loop is held, most likely by the task that "
            "started this thread (an OpenMP region inside a task). Send less from such threads "
            "than the link's credit, or let the task's own thread send (it yields).",
            c.describe(dst), c.options().heartbeat_interval.count()));
      }
    }
    waiters_.fetch_sub(1);
  }
  l.posted.fetch_add(static_cast<std::int64_t>(bytes), std::memory_order_acq_rel);
}

void ThreadSends::done(NodeId dst, std::size_t bytes) {
  Link* tl = link(dst.value());
  if (!tl) return;
  Link& l = *tl;
  // Congestion is published before the bytes leave the window: a thread that sees room in
  // the window must also see a link out of credit, or it would post a second window ahead
  // of the loop's next publication (the promise is credit + one window, not more).
  if (core_.congested(dst)) l.congested.store(true, std::memory_order_release);
  l.posted.fetch_sub(static_cast<std::int64_t>(bytes), std::memory_order_acq_rel);
  if (!l.in_watch_list) {
    l.in_watch_list = true;
    watch_.push_back(dst.value());
  }
}

void ThreadSends::publish() {
  bool opened = false;
  for (std::uint32_t d : watch_) {
    Link& l = *link(d);
    const bool now = core_.congested(NodeId(d));
    if (now != l.congested.load(std::memory_order_relaxed)) {
      l.congested.store(now, std::memory_order_release);
      opened |= !now;
    }
    opened |= l.posted.load(std::memory_order_relaxed) < kWindow;
  }
  if (opened && waiters_.load(std::memory_order_relaxed) > 0) {
    std::lock_guard lock(mu_);
    cv_.notify_all();
  }
}

}  // namespace cadre::node
