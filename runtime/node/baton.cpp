// Handing the loop's baton between the loop thread and a waiting driver (node/baton.hpp).
//
// The loop thread holds the baton while it runs passes. While serve_driver() runs, it gives
// the baton up whenever it would sleep and whenever the driver asks for it (at once when no
// fiber is ready, else after a few passes), and parks: it sleeps at most 1 ms at a time and
// takes the baton back when it finds it free, or at once when the driver left work for it.
// A driver's call (Core::execute) takes a free baton, does its work on the loop's state, and
// gives it back with its sends flushed; a driver's wait serves the loop until it is over.
// Either way no thread switch is needed. Fibers stay on the loop thread.

#include <fmt/format.h>

#include "cadre/errors.hpp"
#include "node/core.hpp"

namespace cadre::node {
namespace {
constexpr auto kDriverAsk = std::chrono::milliseconds(1);  // a driver's ask, then it looks again
// The driver's calls held back per node at most. Small frames keep a window of futures
// flowing: with up to 4 per frame a window of 64 ran 2-3x faster than with one per frame,
// with 8 the driver and the worker took turns waiting for each other's frames and lost
// most of that (measured, 2 ranks on 2 cores).
constexpr std::int64_t kHeldPerNode = 4;
}  // namespace

void Core::unbind_loop_thread() {
  if (baton_.held_here()) {
    baton_.close();
    baton_.release();
  }
  if (t_loop_node == this) t_loop_node = nullptr;
}

bool Core::serve_driver(const std::function<bool()>& done) {
  handover_ = baton_.open();
  const bool result = run_until(done);
  handover_ = false;
  baton_.close();  // the loop thread holds it: from now on the driver waits as any thread
  return result;
}

void Core::DriverTurn::failed(const std::exception& e) {
  log_local(Level::error, fmt::format("posted work failed: {}", e.what()));
}

void Core::driver_release() {
  // What the driver queued leaves now, unless it is task requests alone (since the last
  // flush), each to a node that still has at least as many of this node's requests in hand
  // as are held for it (what is sent now queues behind them there), fewer than kHeldPerNode
  // a node, and no fiber is ready (it could hold the loop thread): then they wait, for at most
  // Transport::kHoldBack while the driver goes on calling, for the driver's next wait (which
  // flushes), or the parked loop thread's next pass (within kParkMax). A burst of calls
  // between waits leaves in a few frames rather than one each, and the driver makes no MPI
  // call for the calls held back (Nagle's rule, with results as the answers).
  const bool fibers = sched_.has_ready();
  bool held = false;
  if (fibers || plain_sent_) {
    transport_->flush();
  } else {
    held = transport_->flush_unless_held([this](NodeId n, std::size_t envelopes) {
      const auto requests = static_cast<std::int64_t>(envelopes);
      return requests < kHeldPerNode && placer_.requests(n) - requests >= requests;
    });
  }
  plain_sent_ = false;
  driver_held_ = held;
  const bool pending =
      fibers || has_posted_.load(std::memory_order_acquire) || (!held && transport_->busy());
  // Ready fibers are the loop thread's: the driver takes the baton again only after the loop
  // thread had it (else, on a shared core, the driver could take it back before the loop
  // thread even runs).
  if (fibers) baton_.owe_loop_a_turn();
  baton_.release();
  if (pending) wake_loop();
}

void Core::wake_loop() {
  {
    std::lock_guard lock(post_mu_);
    wake_loop_ = true;
  }
  bell_.ring();
}

void Core::park_loop(Clock::time_point until, bool idle) {
  baton_.release();
  for (bool first = true;; first = false) {
    // The first sleep lasts until `until` unless work is waiting; later ones (the driver
    // holds the baton, and serves the loop meanwhile) until the driver leaves work or for at
    // most kDriverAsk. Senders on this host ring the doorbell only for an idle loop's first
    // sleep: while the driver serves the loop, a ring at every message it sends here would
    // wake this thread for nothing, on the core the driver runs on.
    const auto ringers =
        idle && first ? transport::Doorbell::Ringers::all : transport::Doorbell::Ringers::own_only;
    bell_.sleep_until(
        first ? until : Clock::now() + kDriverAsk,
        [&] {
          std::lock_guard lock(post_mu_);
          return wake_loop_ || (first && !posted_.empty());
        },
        ringers);
    {
      std::lock_guard lock(post_mu_);
      wake_loop_ = false;
    }
    if (baton_.try_take()) {
      baton_.loop_took_turn();
      return;
    }
  }
}

std::optional<bool> Core::driver_wait(const std::function<bool()>& ready,
                                      std::optional<Clock::time_point> deadline) {
  if (!t_driver_thread || on_loop_thread() || !baton_.open()) return std::nullopt;
  if (baton_.held_here())
    throw WrongRole("cadre: a blocking wait inside work run for the node loop would stop the node");
  for (;;) {
    if (ready()) return true;
    if (!baton_.open() || job_failed()) return std::nullopt;
    const auto now = Clock::now();
    if (deadline && now >= *deadline) return false;
    Clock::duration ask = kDriverAsk;
    if (deadline && *deadline - now < ask) ask = *deadline - now;
    // The loop thread has fibers to run (the master's processes are busy): the driver waits
    // as any thread does, and the loop thread wakes it.
    if (baton_.loop_owed_turn()) return std::nullopt;
    if (!baton_.try_take_open() && !baton_.take_within(ask)) continue;
    bool done = false;
    try {
      done = serve_as_driver(ready, deadline);
    } catch (...) {
      driver_release();
      throw;
    }
    driver_release();
    if (done) return true;
  }
}

}  // namespace cadre::node
