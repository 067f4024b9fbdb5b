#pragma once
/// \file future.hpp
/// Future<R>: the result of a task, and the combinators over many.

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cadre/detail/future_state.hpp"
#include "cadre/errors.hpp"

namespace cadre {

/// The result of a task run elsewhere. Cheap to copy (a handle into shared state); waiting
/// blocks only the calling fiber or thread, never the node.
template <class R>
class Future {
 public:
  /// An empty future (valid() is false).
  Future() = default;
  /// A handle on slot `slot` of state `s` (made by run and map, not by users).
  Future(std::shared_ptr<detail::ResultState<R>> s, std::uint32_t slot) : s_(s.get()), slot_(slot) {
    if (s_) detail::StateBase::attach(std::move(s), 1);
  }
  /// A handle on slot `slot` of `s`, counted already by StateBase::attach (map makes a
  /// chunk's futures so: one count for all of them, not an atomic add each).
  Future(detail::AttachedTag, detail::ResultState<R>* s, std::uint32_t slot) noexcept
      : s_(s), slot_(slot) {}
  /// Another handle on the same result.
  Future(const Future& o) noexcept : s_(o.s_), slot_(o.slot_) {
    if (s_) s_->add_handle();
  }
  /// Takes `o`'s handle; `o` becomes empty.
  Future(Future&& o) noexcept : s_(std::exchange(o.s_, nullptr)), slot_(o.slot_) {}
  /// Refers to what `o` refers to.
  Future& operator=(const Future& o) noexcept {
    Future copy(o);
    swap(copy);
    return *this;
  }
  /// Takes `o`'s handle; `o` becomes empty.
  Future& operator=(Future&& o) noexcept {
    Future taken(std::move(o));
    swap(taken);
    return *this;
  }
  /// Releases the handle (the last one releases the result).
  ~Future() {
    if (s_) detail::StateBase::drop_handle(s_);
  }

  /// True when the future refers to a task.
  bool valid() const { return s_ != nullptr; }
  /// True once the result (or error) is there. Never blocks.
  bool ready() const { return s_ && s_->ready(); }
  /// Blocks until ready.
  void wait() const {
    detail::StateBase* s = check();
    if (!s->ready()) detail::wait_state(s, std::nullopt);
  }
  /// Blocks until ready or `d` passes; returns readiness.
  template <class Rep, class Per>
  bool wait_for(std::chrono::duration<Rep, Per> d) const {
    return detail::wait_state(check(), detail::deadline_after(d));
  }
  /// Blocks until ready and returns the value (a copy; may be called again), or throws the
  /// task's error: RemoteError, NodeDown, NotRegistered, DecodeError, InvalidNode.
  R get() const& {
    wait();
    return take();
  }
  /// As get(), moving the value out.
  R get() && {
    wait();
    if constexpr (std::is_void_v<R>) {
      take();
    } else {
      rethrow();
      return std::move(s_->value(slot_));
    }
  }
  /// As get(), but throws Timeout after `d` (the task itself goes on).
  template <class Rep, class Per>
  R get_for(std::chrono::duration<Rep, Per> d) const {
    if (!wait_for(d))
      throw Timeout(fmt_timeout(std::chrono::duration_cast<std::chrono::milliseconds>(d)));
    return take();
  }

  /// The shared state (for combinators).
  detail::StateBase* state() const { return s_; }

 private:
  void swap(Future& o) noexcept {
    std::swap(s_, o.s_);
    std::swap(slot_, o.slot_);
  }
  detail::StateBase* check() const {
    if (!s_) throw Error("cadre::Future: waiting on an empty future (default-constructed)");
    return s_;
  }
  void rethrow() const {
    if (auto e = s_->error(slot_)) std::rethrow_exception(e);
  }
  R take() const {
    rethrow();
    if constexpr (!std::is_void_v<R>) return s_->value(slot_);
  }
  static std::string fmt_timeout(std::chrono::milliseconds ms) {
    return "cadre::Future::get_for: no result within " + std::to_string(ms.count()) +
           " ms (the task goes on)";
  }

  detail::ResultState<R>* s_ = nullptr;  // counted on the state (StateBase::attach)
  std::uint32_t slot_ = 0;
};

namespace detail {
template <class R>
std::vector<StateBase*> states_of(std::span<const Future<R>> fs) {
  std::vector<StateBase*> v;
  v.reserve(fs.size());
  for (auto& f : fs) v.push_back(f.state());
  return v;
}
}  // namespace detail

/// Blocks until one of `fs` is ready and returns its index (the lowest ready one).
template <class R>
std::size_t wait_any(const std::vector<Future<R>>& fs) {
  if (fs.empty()) throw Error("cadre::wait_any: no futures given");
  for (std::size_t i = 0; i < fs.size(); ++i)
    if (fs[i].ready()) return i;
  auto st = detail::states_of<R>(fs);
  for (auto* s : st)
    if (!s) throw Error("cadre::wait_any: an empty (default-constructed) future was given");
  return detail::wait_any_state(st, std::nullopt);
}

/// Blocks until every future in `fs` is ready (errors are not thrown).
template <class R>
void wait_all(const std::vector<Future<R>>& fs) {
  for (auto& f : fs) f.wait();
}

/// Blocks until every future is ready; returns the values in order, or throws the first
/// error in input order.
template <class R>
auto when_all(const std::vector<Future<R>>& fs) {
  wait_all(fs);
  if constexpr (std::is_void_v<R>) {
    for (auto& f : fs) f.get();
  } else {
    std::vector<R> out;
    out.reserve(fs.size());
    for (auto& f : fs) out.push_back(f.get());
    return out;
  }
}

/// A range over futures in the order they complete: `for (auto& f : as_completed(fs))`.
/// Yields references into `fs`; each future once.
template <class R>
class AsCompleted {
 public:
  /// Over `fs`, which must outlive the range (Error for an empty future).
  explicit AsCompleted(std::vector<Future<R>>& fs) : fs_(&fs) {
    // Futures of one map chunk share a state: wait per distinct state, yield its futures.
    std::unordered_map<detail::StateBase*, std::size_t> index;
    for (std::size_t i = 0; i < fs.size(); ++i) {
      auto* s = fs[i].state();
      if (!s) throw Error("cadre::as_completed: an empty future was given");
      auto [it, added] = index.emplace(s, groups_.size());
      if (added) {
        groups_.emplace_back();
        states_.push_back(s);
      }
      groups_[it->second].push_back(i);
    }
    for (std::size_t g = 0; g < groups_.size(); ++g) remaining_groups_.push_back(g);
  }
  /// Walks the futures as they complete; the end is std::default_sentinel.
  class iterator {
   public:
    using value_type = Future<R>;            ///< what it yields
    using difference_type = std::ptrdiff_t;  ///< as an input iterator has
    /// The future that completed (a reference into the vector).
    Future<R>& operator*() const { return (*o_->fs_)[o_->current()]; }
    /// Waits for the next future to complete.
    iterator& operator++() {
      o_->advance();
      return *this;
    }
    /// True once every future was yielded.
    bool operator==(std::default_sentinel_t) const { return o_->done(); }

   private:
    friend class AsCompleted;
    explicit iterator(AsCompleted* o) : o_(o) {}
    AsCompleted* o_;
  };
  /// Waits for the first future to complete.
  iterator begin() {
    if (!started_) {
      started_ = true;
      next_group();
    }
    return iterator(this);
  }
  /// The end of the range.
  std::default_sentinel_t end() { return {}; }

 private:
  bool done() const { return group_ == SIZE_MAX; }
  std::size_t current() const { return groups_[group_][pos_]; }
  void advance() {
    if (++pos_ < groups_[group_].size()) return;
    next_group();
  }
  void next_group() {
    pos_ = 0;
    if (states_.empty()) {
      group_ = SIZE_MAX;
      return;
    }
    std::size_t k = SIZE_MAX;
    for (std::size_t i = 0; i < states_.size(); ++i)
      if (states_[i]->ready()) {
        k = i;
        break;
      }
    if (k == SIZE_MAX) k = detail::wait_any_state(states_, std::nullopt);
    group_ = remaining_groups_[k];
    states_.erase(states_.begin() + static_cast<std::ptrdiff_t>(k));
    remaining_groups_.erase(remaining_groups_.begin() + static_cast<std::ptrdiff_t>(k));
  }

  std::vector<Future<R>>* fs_;
  std::vector<std::vector<std::size_t>> groups_;
  std::vector<detail::StateBase*> states_;
  std::vector<std::size_t> remaining_groups_;
  bool started_ = false;
  std::size_t group_ = 0, pos_ = 0;
};

/// Futures in completion order; see AsCompleted.
template <class R>
AsCompleted<R> as_completed(std::vector<Future<R>>& fs) {
  return AsCompleted<R>(fs);
}

}  // namespace cadre
