#pragma once
// A process's mailbox: messages in arrival order, in blocks of kBlock 64-byte slots.
//
// Why blocks: a mailbox may hold millions of messages (a flood to a process that waits for
// something else). Growing one contiguous ring means rebuilding it on the loop thread, which
// stalled a node for seconds (long enough to be declared lost) and held twice the memory
// while it ran. Appending here allocates at most one block; no step costs more than a block.
//
// Selective receive takes messages from the middle: such a slot is marked `taken` (its payload
// freed at once) instead of shifting the younger messages; taken slots at either end are
// dropped as they surface, and compact() reclaims the others when they outnumber the live
// messages (amortised over the takes that made them).
//
// Thread rule: one owner at a time (the loop thread, or the driver's thread).

#include <cstddef>
#include <deque>
#include <memory>
#include <utility>

#include "cadre/process.hpp"

namespace cadre::services {

class MailQueue {
 public:
  /// Slots per block (32 KiB).
  static constexpr std::size_t kBlock = 512;
  /// Memory one message holds besides its heap payload.
  static constexpr std::size_t kSlotBytes = sizeof(detail::Mail);

  /// Slots from the oldest message to the newest, taken ones included: the range of the
  /// indices operator[] accepts (a receive walks them in order).
  std::size_t size() const { return size_; }
  /// Messages queued (not taken).
  std::size_t live() const { return live_; }
  bool empty() const { return live_ == 0; }
  /// Memory the queued messages hold: kSlotBytes each plus their heap payloads.
  std::size_t bytes() const { return bytes_; }

  /// The slot i places after the oldest (i < size()); it may be `taken`.
  detail::Mail& operator[](std::size_t i) {
    const std::size_t k = head_ + i;
    return blocks_[k / kBlock][k % kBlock];
  }
  detail::Mail& front() { return (*this)[0]; }

  void push_back(detail::Mail&& m) {
    const std::size_t n = m.payload.heap_bytes();
    emplace_back(0) = std::move(m);
    bytes_ += n;
  }

  /// Appends a message to be filled in place with a payload of `payload_size` bytes; its
  /// fields hold whatever the slot held last, so the caller sets every one.
  detail::Mail& emplace_back(std::size_t payload_size) {
    const std::size_t k = head_ + size_;
    if (k == blocks_.size() * kBlock) add_block();
    ++size_;
    ++live_;
    bytes_ += kSlotBytes + (payload_size > detail::InlineBytes::kInline ? payload_size : 0);
    return blocks_[k / kBlock][k % kBlock];
  }

  /// Drops the oldest message (and any taken slots behind it).
  void pop_front() {
    forget((*this)[0]);
    drop_front_slot();
    trim_front();
  }

  /// Moves the i-th slot's message out and removes it.
  detail::Mail take_at(std::size_t i) {
    detail::Mail& m = (*this)[i];
    forget(m);
    detail::Mail out = std::move(m);
    mark_taken(i);
    return out;
  }

  /// Removes the i-th slot's message; the others keep their order and indices.
  void erase_at(std::size_t i) {
    forget((*this)[i]);
    (*this)[i].payload.clear();
    mark_taken(i);
  }

  /// Removes every message for which `pred` holds; the others keep their order.
  template <class P>
  std::size_t erase_if(P pred) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < size_; ++i) {
      detail::Mail& m = (*this)[i];
      if (m.kind == detail::MailKind::taken || !pred(m)) continue;
      forget(m);
      m.payload.clear();
      m.kind = detail::MailKind::taken;
      ++taken_;
      ++n;
    }
    trim_front();
    trim_back();
    return n;
  }

  /// Removes every message; returns how many there were.
  std::size_t clear() {
    const std::size_t n = live_;
    blocks_.clear();
    spare_.reset();
    head_ = size_ = live_ = taken_ = bytes_ = 0;
    return n;
  }

  /// True when taken slots are worth reclaiming: more of them than messages.
  bool should_compact() const { return taken_ > 64 && taken_ > live_; }

  /// Moves the messages together over the taken slots. Indices change: call it only when no
  /// receive is walking the mailbox.
  void compact() {
    std::size_t w = 0;
    for (std::size_t r = 0; r < size_; ++r) {
      detail::Mail& m = (*this)[r];
      if (m.kind == detail::MailKind::taken) continue;
      if (w != r) (*this)[w] = std::move(m);
      ++w;
    }
    size_ = w;
    taken_ = 0;
    release_blocks_after_end();
  }

 private:
  using Block = std::unique_ptr<detail::Mail[]>;

  void forget(const detail::Mail& m) {
    --live_;
    bytes_ -= kSlotBytes + m.payload.heap_bytes();
  }

  void mark_taken(std::size_t i) {
    (*this)[i].kind = detail::MailKind::taken;
    ++taken_;
    if (i == 0) trim_front();
    trim_back();
  }

  void drop_front_slot() {
    (*this)[0].payload.clear();
    --size_;
    if (++head_ == kBlock) {
      spare_ = std::move(blocks_.front());
      blocks_.pop_front();
      head_ = 0;
    }
    if (size_ == 0) reset_empty();
  }

  void trim_front() {
    while (size_ > 0 && (*this)[0].kind == detail::MailKind::taken) {
      --taken_;
      drop_front_slot();
    }
  }

  void trim_back() {
    while (size_ > 0 && (*this)[size_ - 1].kind == detail::MailKind::taken) {
      --taken_;
      --size_;
    }
    if (size_ == 0)
      reset_empty();
    else
      release_blocks_after_end();
  }

  // An empty mailbox keeps one block (the common case: a few messages come and go).
  void reset_empty() {
    head_ = 0;
    while (blocks_.size() > 1) blocks_.pop_back();
  }

  void release_blocks_after_end() {
    const std::size_t needed = (head_ + size_ + kBlock - 1) / kBlock;
    while (blocks_.size() > needed && blocks_.size() > 1) blocks_.pop_back();
  }

  void add_block() {
    if (spare_)
      blocks_.push_back(std::move(spare_));
    else
      blocks_.push_back(std::make_unique<detail::Mail[]>(kBlock));
  }

  std::deque<Block> blocks_;
  Block spare_;  // the last block freed at the front, kept for the next one needed
  std::size_t head_ = 0;   // slot of the oldest message in blocks_.front()
  std::size_t size_ = 0;   // slots in use, taken ones included
  std::size_t live_ = 0;   // messages
  std::size_t taken_ = 0;  // taken slots between the oldest and the newest message
  std::size_t bytes_ = 0;
};

}  // namespace cadre::services
