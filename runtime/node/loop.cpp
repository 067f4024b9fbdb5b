// The node loop: one pass (poll, posted work, fibers, timers, flush), running passes until a
// condition holds, and the idle backoff between them; posting work from other threads.

#include <sched.h>

#include <algorithm>

#include "node/core.hpp"
#include "node/end_signal.hpp"

namespace cadre::node {
namespace {

constexpr unsigned kQuickPasses = 256;
// Passes a driver waits for the baton while fibers keep the loop busy.
constexpr unsigned kHandoverPasses = 64;
// The longest a parked loop thread sleeps before it looks for the baton again.
constexpr auto kParkMax = std::chrono::milliseconds(1);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

// -- the loop ---------------------------------------------------------------------------

void Core::post(sched::Job fn) {
  {
    std::lock_guard lock(post_mu_);
    if (closed_) throw NotRunning("cadre: the runtime has shut down; no more work is accepted");
    posted_.push_back(std::move(fn));
    has_posted_.store(true, std::memory_order_release);
  }
  bell_.ring();
}

std::size_t Core::drain_posted() {
  if (!has_posted_.load(std::memory_order_acquire)) return 0;
  {
    std::lock_guard lock(post_mu_);
    draining_.swap(posted_);
    has_posted_.store(false, std::memory_order_relaxed);
  }
  std::size_t n = draining_.size();
  for (auto& fn : draining_) {
    sched::Job job = std::move(fn);
    try {
      job();
    } catch (const std::exception& e) {
      log_local(Level::error, fmt::format("posted work failed: {}", e.what()));
    }
  }
  draining_.clear();
  return n;
}

std::size_t Core::step() {
  thread_sends_.loop_pass(++pass_count_);
  if (int sig = end_signal_received(); sig != 0 && is_master()) end_on_signal(sig);
  // Requests a driver's call held back leave before any fiber runs: one may hold the loop.
  if (driver_held_) {
    driver_held_ = false;
    transport_->flush();
  }
  std::size_t work = transport_->poll(*this);
  work += drain_posted();
  // Threads see each link's state as this poll left it before a fiber may hold the loop (a
  // task running OpenMP threads that send): a grant that just came opens their window.
  if (thread_sends_.watched()) thread_sends_.publish();
  // Fibers run on the loop thread only: a driver serving the loop hands them back.
  if (on_loop_thread()) work += sched_.run_ready();
  // Timers are checked every few passes only: reading the clock costs more than a pass.
  if ((++passes_ & 7) == 0) {
    if (auto next = sched_.next_deadline()) {
      auto now = Clock::now();
      if (*next <= now) work += sched_.fire_timers(now);
    }
  }
  // The loop flushes every pass: what the fibers of this pass sent is coalesced already.
  work += transport_->flush();
  if (thread_sends_.watched()) thread_sends_.publish();
  return work;
}

bool Core::run_until(const std::function<bool()>& done, std::optional<Clock::time_point> deadline) {
  Clock::time_point last_work{};
  bool timing = false;  // the quiet period's start is known
  unsigned quiet = 0;   // passes without work since the last work
  while (!done()) {
    // The driver waits for the baton: it is handed over at once when no fiber is ready, and
    // after kHandoverPasses passes when fibers keep the loop busy.
    if (handover_ && baton_.wanted() &&
        (!sched_.has_ready() || ++wanted_passes_ >= kHandoverPasses)) {
      wanted_passes_ = 0;
      park_loop(Clock::now() + kParkMax, false);
      quiet = kQuickPasses - 4;
      continue;
    }
    if (step() > 0) {
      // How long the node waited for this work (when it waited long enough to be timed):
      // the next wait spins at least twice as long (see idle()).
      if (timing) last_quiet_ = Clock::now() - last_work;
      quiet = 0;
      timing = false;
      continue;
    }
    if (done()) break;
    // The first quiet passes poll at once, without reading the clock: a reply is usually a
    // few microseconds away.
    if (++quiet < kQuickPasses) continue;
    auto now = Clock::now();
    if (!timing) {
      timing = true;
      last_work = now;
    }
    if (deadline && now >= *deadline) return done();
    // After a sleep, poll a few times again before the next one (a single probe can miss
    // what arrived during the sleep).
    if (idle(now, last_work, deadline)) quiet = kQuickPasses - 4;
  }
  return true;
}

bool Core::serve_as_driver(const std::function<bool()>& ready,
                           std::optional<Clock::time_point> deadline) {
  Clock::time_point last_work{};
  bool timing = false;
  unsigned quiet = 0;
  for (;;) {
    if (ready()) return true;
    // Fibers run on the loop thread, and a failed job is ended there.
    if (sched_.has_ready() || job_failed()) return false;
    if (step() > 0) {
      if (timing) last_quiet_ = Clock::now() - last_work;
      quiet = 0;
      timing = false;
      continue;
    }
    if (++quiet < kQuickPasses) continue;
    auto now = Clock::now();
    if (!timing) {
      timing = true;
      last_work = now;
    }
    if (deadline && now >= *deadline) return ready();
    if (idle(now, last_work, deadline)) quiet = kQuickPasses - 4;
  }
}

// After work the loop polls for `idle_spin` (pausing, then yielding the core), then sleeps up
// to `idle_sleep` at a time: an idle node costs a few percent of a core, and a message to it
// waits about a millisecond. Posting threads wake it at once. When the last wait ended with
// work after less than 20 spins' time, the loop spins twice that wait: an exchange whose
// round trips take a few milliseconds (large messages) is not slowed by a sleep on every hop,
// while a node that hears only heartbeats still sleeps.
bool Core::idle(Clock::time_point now, Clock::time_point last_work,
                std::optional<Clock::time_point> deadline) {
  auto since = now - last_work;
  auto spin = std::chrono::duration_cast<Clock::duration>(options_.idle_spin);
  if (last_quiet_ < 20 * spin) spin = std::max(spin, 2 * last_quiet_);
  // Sends in flight keep the loop polling, but not for ever: a peer stuck in a long task may
  // not take a large message for a while.
  if (since < spin || (transport_->busy() && since < 10 * spin)) {
    if (since < spin / 2 && !yield_when_idle_) {
      cpu_relax();  // one pause: on recent x86 it alone costs ~140 cycles
    } else {
      sched_yield();
    }
    return false;
  }
  auto until = now + options_.idle_sleep;
  if (auto next = sched_.next_deadline(); next && *next < until) until = *next;
  if (deadline && *deadline < until) until = *deadline;
  if (handover_ && on_loop_thread()) {
    // The loop thread sleeps without the baton: a driver's call finds it free.
    park_loop(std::min(until, now + kParkMax), true);
    return true;
  }
  // Posted work and senders on this host ring the doorbell (transport/doorbell.hpp).
  return bell_.sleep_until(until, [this] { return has_posted_.load(std::memory_order_acquire); });
}

void Core::connect_doorbells() {
  if (!options_.doorbell) return;
  for (const NodeInfo& i : *table()) {
    const std::uint32_t n = i.id.value();
    if (i.id == self_ || i.state != NodeState::up || i.pid <= 0 || i.host != host_) continue;
    if (n >= bell_tried_.size()) bell_tried_.resize(n + 1);
    if (bell_tried_[n]) continue;
    bell_tried_[n] = true;
    if (auto bell = transport::PeerDoorbell::open(i.pid)) transport_->set_doorbell(i.id, bell);
  }
}

void Core::send_control(NodeId dst, Cls cls, const detail::ByteBuffer& payload) {
  const wire::Envelope env = envelope({.cls = cls, .src = Pid{self_, 0}, .dst = Pid{dst, 0}});
  plain_sent_ = true;
  transport_->send(dst, env, payload.data(), payload.size());
}

}  // namespace cadre::node
