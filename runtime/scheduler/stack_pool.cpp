#include "scheduler/stack_pool.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <new>

namespace cadre::sched {
namespace {
// Stacks kept with their pages; beyond that, a returned stack's pages go back to the system.
constexpr std::size_t kMaxHot = 4096;
constexpr std::size_t kSlabBytes = std::size_t(4) << 20;

// Gives a stack's pages back; its addresses stay reserved in their slab, which is unmapped
// only as a whole (an address range unmapped alone could be reused by another mapping).
void drop(void* p, std::size_t n) noexcept { ::madvise(p, n, MADV_DONTNEED); }
}  // namespace

StackPool::StackPool(std::size_t stack_size) : size_((stack_size + 4095) & ~std::size_t(4095)) {}

StackPool::~StackPool() {
  if (in_use_ == 0) {
    for (auto& [p, n] : slabs_) ::munmap(p, n);
    return;
  }
  // Fibers that never ended keep their stacks (nothing may run on them any more, but a
  // leaked fiber object may still refer to them).
  for (void* p : hot_) drop(p, size_);
}

void StackPool::carve() {
  std::size_t n = kSlabBytes > size_ ? kSlabBytes / size_ * size_ : size_;
  void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  // A huge page would make a whole slab resident for one touched stack.
  ::madvise(p, n, MADV_NOHUGEPAGE);
  slabs_.emplace_back(p, n);
  next_ = static_cast<char*>(p);
  end_ = next_ + n;
}

boost::context::stack_context StackPool::allocate() {
  void* base;
  if (!hot_.empty()) {
    base = hot_.back();
    hot_.pop_back();
  } else if (!cold_.empty()) {
    base = cold_.back();
    cold_.pop_back();
  } else {
    if (next_ == end_) carve();
    base = next_;
    next_ += size_;
  }
  ++in_use_;
  boost::context::stack_context sc;
  sc.size = size_;
  sc.sp = static_cast<char*>(base) + size_;
  return sc;
}

void StackPool::set_stack_size(std::size_t n) {
  n = (n + 4095) & ~std::size_t(4095);
  if (n == size_) return;
  for (void* p : hot_) drop(p, size_);
  hot_.clear();
  cold_.clear();
  next_ = end_ = nullptr;
  size_ = n;
}

void StackPool::deallocate(boost::context::stack_context& sc) noexcept {
  void* base = static_cast<char*>(sc.sp) - sc.size;
  --in_use_;
  try {
    if (sc.size != size_) {
      drop(base, sc.size);
    } else if (hot_.size() < kMaxHot) {
      hot_.push_back(base);
    } else {
      // The pages come back zero: the canary stays intact.
      drop(base, sc.size);
      cold_.push_back(base);
    }
  } catch (const std::bad_alloc&) {
    drop(base, sc.size);  // not pooled: its addresses are lost until the pool ends
  }
}

bool StackPool::canary_intact(const boost::context::stack_context& sc) noexcept {
  auto* w = reinterpret_cast<const std::uint64_t*>(static_cast<const char*>(sc.sp) - sc.size);
  std::uint64_t any = 0;
  for (std::size_t i = 0; i < kCanaryBytes / sizeof(std::uint64_t); ++i) any |= w[i];
  return any == 0;
}

}  // namespace cadre::sched
