#pragma once
// A process's mailbox: a ring of messages in arrival order. Taking the oldest and appending
// are O(1) without allocation once the ring has grown to the mailbox's high-water mark;
// selective receive takes from the middle by shifting the younger messages down.
//
// Thread rule: one owner at a time (the loop thread, or the driver's lock).

#include <cstddef>
#include <utility>
#include <vector>

#include "cadre/process.hpp"

namespace cadre::services {

class MailQueue {
 public:
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  /// The i-th oldest message (i < size()).
  detail::Mail& operator[](std::size_t i) { return ring_[(head_ + i) & mask()]; }
  detail::Mail& front() { return (*this)[0]; }

  void push_back(detail::Mail&& m) { emplace_back() = std::move(m); }

  /// Appends a message to be filled in place; its fields hold whatever the slot held last.
  detail::Mail& emplace_back() {
    if (size_ == ring_.size()) grow();
    return ring_[(head_ + size_++) & mask()];
  }

  /// Drops the oldest message (its slot keeps no payload; the rest is overwritten on reuse).
  void pop_front() {
    ring_[head_].payload.clear();
    head_ = (head_ + 1) & mask();
    --size_;
  }

  /// Drops the i-th oldest message; the younger ones keep their order.
  void erase_at(std::size_t i) {
    for (std::size_t k = i; k + 1 < size_; ++k) (*this)[k] = std::move((*this)[k + 1]);
    (*this)[size_ - 1] = detail::Mail{};
    --size_;
  }

  /// Drops every message for which `pred` holds; the others keep their order.
  template <class P>
  std::size_t erase_if(P pred) {
    std::size_t w = 0;
    for (std::size_t r = 0; r < size_; ++r) {
      if (pred((*this)[r])) continue;
      if (w != r) (*this)[w] = std::move((*this)[r]);
      ++w;
    }
    const std::size_t dropped = size_ - w;
    for (std::size_t k = w; k < size_; ++k) (*this)[k] = detail::Mail{};
    size_ = w;
    return dropped;
  }

 private:
  std::size_t mask() const { return ring_.size() - 1; }

  void grow() {
    std::vector<detail::Mail> bigger(ring_.empty() ? 8 : 2 * ring_.size());
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = std::move((*this)[i]);
    ring_ = std::move(bigger);
    head_ = 0;
  }

  std::vector<detail::Mail> ring_;  // a power of two long (or empty)
  std::size_t head_ = 0, size_ = 0;
};

}  // namespace cadre::services
