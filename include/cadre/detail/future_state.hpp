#pragma once
/// \file future_state.hpp
/// Shared state behind Future<R>: one state per request; a map() chunk is one state with a
/// slot per input, so a future is a handle {state, slot} and map allocates per chunk, not per
/// input. Values are written on the node loop; waits may come from any thread or fiber.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "cadre/detail/archive.hpp"

namespace cadre::detail {

/// Marks a future made on a state whose count StateBase::attach already took.
struct AttachedTag {};
/// The one AttachedTag.
inline constexpr AttachedTag attached{};

/// Something blocked on one or more states (a thread or a fiber); defined by the runtime.
class Waiter {
 public:
  virtual ~Waiter() = default;
  /// Called with the state's mutex held, on the node loop thread.
  virtual void notify(std::size_t tag) = 0;
};

class StateBase {
 public:
  explicit StateBase(std::uint32_t slots) : slots_(slots) {}
  virtual ~StateBase() = default;
  StateBase(const StateBase&) = delete;
  StateBase& operator=(const StateBase&) = delete;

  std::uint32_t slots() const { return slots_; }
  bool ready() const { return ready_.load(std::memory_order_acquire); }

  // -- written by the node loop before complete() ---------------------------------------
  /// Decodes the value of slot `i`.
  virtual void decode_slot(std::uint32_t i, InArchive& in) = 0;
  void set_error(std::uint32_t i, std::exception_ptr e) {
    if (errors_.empty()) errors_.resize(slots_);
    errors_[i] = std::move(e);
  }
  void set_all_errors(std::exception_ptr e) {
    for (std::uint32_t i = 0; i < slots_; ++i) set_error(i, e);
  }
  /// Publishes the results and wakes every waiter.
  void complete() {
    std::lock_guard lock(mu_);
    ready_.store(true, std::memory_order_release);
    for (auto& [w, tag] : waiters_) w->notify(tag);
    waiters_.clear();
  }

  // -- readers, after ready() -----------------------------------------------------------
  std::exception_ptr error(std::uint32_t i) const { return errors_.empty() ? nullptr : errors_[i]; }

  // -- waiting ----------------------------------------------------------------------------
  /// Registers `w`; returns false (and registers nothing) when already ready.
  bool add_waiter(Waiter* w, std::size_t tag) {
    std::lock_guard lock(mu_);
    if (ready_.load(std::memory_order_relaxed)) return false;
    waiters_.emplace_back(w, tag);
    return true;
  }
  void remove_waiter(Waiter* w) {
    std::lock_guard lock(mu_);
    std::erase_if(waiters_, [w](const auto& p) { return p.first == w; });
  }

  // -- the futures on this state ----------------------------------------------------------
  // A Future is a plain pointer and a slot (16 bytes, where a shared_ptr made it 24: 80 MB
  // less for the futures of a map of 10^7 inputs). The futures count themselves here, and the
  // first keeps the state alive (its own shared_ptr, `self_`) until the last is gone.

  /// `n` futures are made on `self` (this state); the first `n` keep it alive. Only while no
  /// other thread can see a future of it yet (when run or map makes them) or one is held.
  static void attach(std::shared_ptr<StateBase> self, std::size_t n) {
    StateBase* s = self.get();
    if (n == 0) return;  // no future: nothing to keep alive
    if (s->handles_.fetch_add(n, std::memory_order_relaxed) == 0) s->self_ = std::move(self);
  }
  /// A copy of a future that is held.
  void add_handle() noexcept { handles_.fetch_add(1, std::memory_order_relaxed); }
  /// A future on `s` is gone: the last one releases the state.
  static void drop_handle(StateBase* s) noexcept {
    if (s->handles_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::shared_ptr<StateBase> last = std::move(s->self_);  // may delete the state
    }
  }

 private:
  std::atomic<std::size_t> handles_{0};
  std::shared_ptr<StateBase> self_;  // while futures are on this state
  std::uint32_t slots_;
  std::atomic<bool> ready_{false};
  std::vector<std::exception_ptr> errors_;
  std::mutex mu_;
  std::vector<std::pair<Waiter*, std::size_t>> waiters_;
};

/// A state of several slots (a map chunk) allocates its values when the first one arrives (on
/// the node loop), not when it is made: map() makes every chunk's state before it returns, and
/// a huge map would otherwise write all its slots twice, the first time long before they are
/// needed.
template <class R>
class ResultState final : public StateBase {
 public:
  explicit ResultState(std::uint32_t slots) : StateBase(slots) {
    if (slots == 1) values();
  }
  void decode_slot(std::uint32_t i, InArchive& in) override { in& values()[i]; }
  void set_value(std::uint32_t i, R v) { values()[i] = std::move(v); }
  /// Slot `i`'s value: only for a slot that has one (no error), after ready().
  const R& value(std::uint32_t i) const { return values_[i]; }
  R& value(std::uint32_t i) { return values_[i]; }

 private:
  R* values() {
    if (!values_) values_.reset(new R[slots()]());
    return values_.get();
  }
  std::unique_ptr<R[]> values_;
};

template <>
class ResultState<void> final : public StateBase {
 public:
  using StateBase::StateBase;
  void decode_slot(std::uint32_t, InArchive&) override {}
};

using Clock = std::chrono::steady_clock;

/// now + d, or no deadline when that would overflow the clock (a "wait for ever").
template <class Rep, class Per>
std::optional<Clock::time_point> deadline_after(std::chrono::duration<Rep, Per> d) {
  using namespace std::chrono;
  if (d <= duration<Rep, Per>::zero()) return Clock::now();
  const auto years = hours(24 * 365 * 100);
  if (duration_cast<duration<double>>(d) > duration_cast<duration<double>>(years))
    return std::nullopt;
  return Clock::now() + duration_cast<Clock::duration>(d);
}

/// Blocks the calling fiber or thread until `s` is ready or `deadline` passes; returns
/// readiness. Throws WrongRole on the node loop outside a fiber (it would deadlock).
bool wait_state(StateBase* s, std::optional<Clock::time_point> deadline);
/// Blocks until one of `states` is ready; returns its index, or states.size() at the
/// deadline.
std::size_t wait_any_state(std::span<StateBase* const> states,
                           std::optional<Clock::time_point> deadline);

}  // namespace cadre::detail
