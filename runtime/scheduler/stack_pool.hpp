#pragma once
// Pooled fiber stacks. No guard pages (vm.max_map_count allows ~65 000 mappings, and tens of
// thousands of processes must fit on one node). Stacks are carved from large anonymous
// mappings, so a fresh stack is zero and untouched: a fiber that runs a little and parks has
// made resident only the pages near its top. The lowest kCanaryBytes of each stack are its
// canary: they stay zero (never written, so never resident) unless a fiber overflows into
// them. The scheduler checks the stack pointer against stack_limit() at every switch, and
// the canary once, when the fiber ends and its stack returns to the pool.

#include <boost/context/stack_context.hpp>
#include <cstddef>
#include <utility>
#include <vector>

namespace cadre::sched {

class StackPool {
 public:
  /// Bytes at the low end of a stack that no frame may reach (checked when a stack returns).
  static constexpr std::size_t kCanaryBytes = 256;
  /// Bytes above the canary that a fiber switching out must still have free: the switch
  /// itself stores registers below the switching frame.
  static constexpr std::size_t kSwitchReserve = 768;

  explicit StackPool(std::size_t stack_size);
  ~StackPool();
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  boost::context::stack_context allocate();
  void deallocate(boost::context::stack_context&) noexcept;
  /// True while the canary below `sc` is intact (all zero).
  static bool canary_intact(const boost::context::stack_context& sc) noexcept;
  /// The lowest address a fiber on `sc` may have as its stack pointer when it switches out.
  static const char* stack_limit(const boost::context::stack_context& sc) noexcept {
    return static_cast<const char*>(sc.sp) - sc.size + kCanaryBytes + kSwitchReserve;
  }
  std::size_t stack_size() const { return size_; }
  /// Stacks allocated from now on have `n` bytes; pooled stacks of the old size are freed.
  void set_stack_size(std::size_t n);
  /// Stacks ready for reuse (those kept resident and those whose pages were returned).
  std::size_t pooled() const { return hot_.size() + cold_.size(); }
  std::size_t in_use() const { return in_use_; }

 private:
  void carve();

  std::size_t size_;
  std::vector<void*> hot_;   // returned recently: their top pages are likely still resident
  std::vector<void*> cold_;  // their pages were given back to the system (zero again)
  std::vector<std::pair<void*, std::size_t>> slabs_;
  char* next_ = nullptr;  // the uncarved part of the newest slab
  char* end_ = nullptr;
  std::size_t in_use_ = 0;
};

/// Boost.Context StackAllocator adaptor over a pool; remembers the stack it handed out.
class PooledStack {
 public:
  PooledStack(StackPool& p, boost::context::stack_context* out) : pool_(&p), out_(out) {}
  boost::context::stack_context allocate() {
    *out_ = pool_->allocate();
    return *out_;
  }
  void deallocate(boost::context::stack_context& sc) noexcept { pool_->deallocate(sc); }

 private:
  StackPool* pool_;
  boost::context::stack_context* out_;
};

}  // namespace cadre::sched
