#pragma once
// Pooled fiber stacks. No guard pages (vm.max_map_count allows ~65 000 mappings, and tens of
// thousands of processes must fit on one node); a canary at the low end of each stack is
// checked whenever its fiber switches out, so an overflow is reported instead of corrupting
// memory silently for long.

#include <boost/context/stack_context.hpp>
#include <cstddef>
#include <vector>

namespace cadre::sched {

class StackPool {
 public:
  explicit StackPool(std::size_t stack_size);
  ~StackPool();
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  boost::context::stack_context allocate();
  void deallocate(boost::context::stack_context&) noexcept;
  /// True while the canary below `sc` is intact.
  static bool canary_intact(const boost::context::stack_context& sc) noexcept;
  std::size_t stack_size() const { return size_; }
  /// Stacks allocated from now on have `n` bytes; pooled stacks of the old size are freed.
  void set_stack_size(std::size_t n);
  std::size_t pooled() const { return free_.size(); }
  std::size_t in_use() const { return in_use_; }

 private:
  std::size_t size_;
  std::vector<void*> free_;
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
