#include "scheduler/stack_pool.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

namespace cadre::sched {
namespace {
constexpr std::size_t kCanaryWords = 8;
constexpr std::uint64_t kCanary = 0xcad7ecad7ecad7e5ull;
constexpr std::size_t kMaxPooled = 4096;
}  // namespace

StackPool::StackPool(std::size_t stack_size) : size_((stack_size + 4095) & ~std::size_t(4095)) {}

StackPool::~StackPool() {
  for (void* p : free_) std::free(p);
}

boost::context::stack_context StackPool::allocate() {
  void* base;
  if (!free_.empty()) {
    base = free_.back();
    free_.pop_back();
  } else {
    base = std::aligned_alloc(4096, size_);
    if (!base) throw std::bad_alloc();
    auto* w = static_cast<std::uint64_t*>(base);
    for (std::size_t i = 0; i < kCanaryWords; ++i) w[i] = kCanary;
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
  for (void* p : free_) std::free(p);
  free_.clear();
  size_ = n;
}

void StackPool::deallocate(boost::context::stack_context& sc) noexcept {
  void* base = static_cast<char*>(sc.sp) - sc.size;
  --in_use_;
  if (sc.size == size_ && free_.size() < kMaxPooled) {
    free_.push_back(base);
  } else {
    std::free(base);
  }
}

bool StackPool::canary_intact(const boost::context::stack_context& sc) noexcept {
  auto* w = reinterpret_cast<const std::uint64_t*>(static_cast<const char*>(sc.sp) - sc.size);
  for (std::size_t i = 0; i < kCanaryWords; ++i)
    if (w[i] != kCanary) return false;
  return true;
}

}  // namespace cadre::sched
