// Waiting on futures (include/cadre/future.hpp): a fiber parks itself on the node loop; any
// other thread sleeps on a condition variable. Completion always happens on the node loop, under
// the state's mutex, so a waiter that has removed itself can never be notified afterwards.

#include <condition_variable>
#include <mutex>

#include "api/node_services.hpp"
#include "cadre/detail/future_state.hpp"
#include "cadre/errors.hpp"

namespace cadre::detail {
namespace {

constexpr std::size_t kTimedOut = SIZE_MAX;

class ThreadWaiter final : public Waiter {
 public:
  void notify(std::size_t tag) override {
    std::lock_guard lock(mu_);
    if (!fired_) {
      fired_ = true;
      tag_ = tag;
    }
    cv_.notify_one();
  }
  std::size_t wait(std::optional<Clock::time_point> deadline) {
    std::unique_lock lock(mu_);
    if (deadline) {
      cv_.wait_until(lock, *deadline, [&] { return fired_; });
    } else {
      cv_.wait(lock, [&] { return fired_; });
    }
    return fired_ ? tag_ : kTimedOut;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool fired_ = false;
  std::size_t tag_ = kTimedOut;
};

class FiberWaiter final : public Waiter {
 public:
  FiberWaiter(sched::Scheduler& s, sched::Fiber* f) : s_(s), f_(f) {}
  void notify(std::size_t tag) override { fire(tag); }
  void fire(std::size_t tag) {
    if (fired_) return;
    fired_ = true;
    tag_ = tag;
    s_.wake(f_);
  }
  std::size_t tag() const { return tag_; }

 private:
  sched::Scheduler& s_;
  sched::Fiber* f_;
  bool fired_ = false;
  std::size_t tag_ = kTimedOut;
};

}  // namespace

std::size_t wait_any_state(std::span<StateBase* const> states,
                           std::optional<Clock::time_point> deadline) {
  for (std::size_t i = 0; i < states.size(); ++i)
    if (states[i]->ready()) return i;
  auto* core = node::Core::try_get();
  const bool on_loop = core && core->on_loop_thread();
  std::size_t registered = 0;
  auto unregister = [&](Waiter* w) {
    for (std::size_t i = 0; i < registered; ++i) states[i]->remove_waiter(w);
  };
  auto register_all = [&](Waiter* w) -> std::size_t {
    for (; registered < states.size(); ++registered)
      if (!states[registered]->add_waiter(w, registered)) return registered;  // ready meanwhile
    return kTimedOut;
  };
  std::size_t got;
  if (on_loop) {
    sched::Fiber* self = sched::Scheduler::current();
    if (!self)
      throw WrongRole(
          "cadre: a blocking wait on the node loop outside a task or process would stop the "
          "node");
    auto& s = core->scheduler();
    FiberWaiter w(s, self);
    if (std::size_t ready = register_all(&w); ready != kTimedOut) {
      unregister(&w);
      return ready;
    }
    std::uint64_t timer = 0;
    if (deadline) timer = s.add_timer(*deadline, [&w] { w.fire(kTimedOut); });
    core->flush_if_last();
    s.suspend();
    if (deadline) s.cancel_timer(timer);
    unregister(&w);
    // A killed process resumes here too: it ends now.
    api::processes().check_killed(api::processes().current());
    got = w.tag();
  } else {
    ThreadWaiter w;
    if (std::size_t ready = register_all(&w); ready != kTimedOut) {
      unregister(&w);
      return ready;
    }
    got = w.wait(deadline);
    unregister(&w);
  }
  if (got != kTimedOut) return got;
  for (std::size_t i = 0; i < states.size(); ++i)
    if (states[i]->ready()) return i;
  return states.size();
}

bool wait_state(StateBase* s, std::optional<Clock::time_point> deadline) {
  if (s->ready()) return true;
  StateBase* one[1] = {s};
  return wait_any_state(one, deadline) == 0;
}

}  // namespace cadre::detail
