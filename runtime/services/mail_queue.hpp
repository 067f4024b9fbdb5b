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
// An empty mailbox holds no block: its last block goes to a small pool of the thread's, where
// the next mailbox to receive on that thread takes it (still warm in the cache). Tens of
// thousands of parked processes with empty mailboxes then hold no 32 KiB block each.
//
// A mailbox that was empty starts with a small block of kFirstBlock slots, followed by full
// blocks when it holds more (no slot ever moves: a receive keeps its place). A burst that leaves
// one message in each of tens of thousands of mailboxes at once (a message to every process,
// delivered before any of them runs) then makes 256 bytes resident for each, not 32 KiB.
//
// Thread rule: one owner at a time (the loop thread, or the driver's thread).

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "cadre/process.hpp"

namespace cadre::services {

class MailQueue {
 public:
  /// Slots per block (32 KiB).
  static constexpr std::size_t kBlock = 512;
  /// Slots of the block a mailbox that was empty starts with (256 bytes).
  static constexpr std::size_t kFirstBlock = 4;
  /// Memory one message holds besides its heap payload.
  static constexpr std::size_t kSlotBytes = sizeof(detail::Mail);

  MailQueue() = default;
  MailQueue(const MailQueue&) = delete;
  MailQueue& operator=(const MailQueue&) = delete;

  /// Slots from the oldest message to the newest, taken ones included: the range of the
  /// indices operator[] accepts (a receive walks them in order).
  std::size_t size() const { return size_; }
  /// Messages queued (not taken).
  std::size_t live() const { return live_; }
  bool empty() const { return live_ == 0; }
  /// Memory the queued messages hold: kSlotBytes each plus their heap payloads.
  std::size_t bytes() const { return bytes_; }
  /// Slots the mailbox's blocks have room for (0 when it is empty).
  std::size_t capacity() const {
    const std::size_t n = block_count();
    return n == 0 ? 0 : (small_ ? kFirstBlock : kBlock) + (n - 1) * kBlock;
  }

  /// The slot i places after the oldest (i < size()); it may be `taken`.
  detail::Mail& operator[](std::size_t i) {
    const auto in_first = static_cast<std::size_t>(head_end_ - head_);
    if (i < in_first) return head_[i];  // the first block
    const std::size_t k = i - in_first;
    return block(1 + k / kBlock)[k % kBlock];
  }
  detail::Mail& front() { return *head_; }

  void push_back(detail::Mail&& m) {
    const std::size_t n = m.payload.heap_bytes();
    emplace_back(0) = std::move(m);
    bytes_ += n;
  }

  /// Appends a message to be filled in place with a payload of `payload_size` bytes; its
  /// fields hold whatever the slot held last, so the caller sets every one.
  detail::Mail& emplace_back(std::size_t payload_size) {
    if (tail_ == tail_end_) add_block();
    if (size_++ == 0) head_ = tail_;
    ++live_;
    bytes_ += kSlotBytes + (payload_size > detail::InlineBytes::kInline ? payload_size : 0);
    return *tail_++;
  }

  /// Drops the oldest message (and any taken slots behind it).
  void pop_front() {
    forget(*head_);
    drop_front_slot();
    if (size_ > 0 && head_->kind == detail::MailKind::taken) trim_front();
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
    if (i == 0) {
      pop_front();
      return;
    }
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
    first_ = 0;
    small_ = false;
    head_ = head_end_ = tail_ = tail_end_ = nullptr;
    size_ = live_ = taken_ = bytes_ = 0;
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
    taken_ = 0;
    set_size(w);
  }

 private:
  using Block = std::unique_ptr<detail::Mail[]>;

  // Layout: blocks_ holds the blocks in order from first_ on (those before it are done with);
  // the oldest slot is head_, in the first block
  // (which ends at head_end_); the next slot to fill is tail_, in the last block (ending at
  // tail_end_). With no slot in use, head_ is where the next one goes. The first block has
  // kFirstBlock slots while small_ holds; every other block has kBlock.

  std::size_t block_count() const { return blocks_.size() - first_; }
  Block& block(std::size_t i) { return blocks_[first_ + i]; }

  // The first block is done with: it goes to its pool. The vector drops the slots of such
  // blocks when they are half of it (each block leaves in O(1), amortised).
  void drop_first_block() {
    if (small_)
      put_small(std::move(block(0)));
    else
      put_block(std::move(block(0)));
    small_ = false;
    if (++first_ * 2 >= blocks_.size()) {
      blocks_.erase(blocks_.begin(), blocks_.begin() + static_cast<std::ptrdiff_t>(first_));
      first_ = 0;
    }
  }

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
    head_->payload.clear();
    if (--size_ == 0) {
      reset_empty();
      return;
    }
    if (++head_ == head_end_) {
      drop_first_block();
      head_ = block(0).get();
      head_end_ = head_ + kBlock;
    }
  }

  void trim_front() {
    while (size_ > 0 && head_->kind == detail::MailKind::taken) {
      --taken_;
      drop_front_slot();
    }
  }

  void trim_back() {
    std::size_t n = size_;
    while (n > 0 && (*this)[n - 1].kind == detail::MailKind::taken) {
      --taken_;
      --n;
    }
    set_size(n);
  }

  // Keeps the first n slots; the blocks after them go.
  void set_size(std::size_t n) {
    if (n == 0) {
      size_ = 0;
      reset_empty();
      return;
    }
    const auto in_first = static_cast<std::size_t>(head_end_ - head_);
    // Blocks needed: the first, then full ones for the slots beyond it.
    const std::size_t beyond = n > in_first ? n - in_first : 0;
    const std::size_t needed = 1 + (beyond + kBlock - 1) / kBlock;
    while (block_count() > needed) blocks_.pop_back();
    size_ = n;
    if (needed == 1) {
      tail_ = head_ + n;
      tail_end_ = head_end_;
    } else {
      tail_ = blocks_.back().get() + (beyond - (needed - 2) * kBlock);
      tail_end_ = blocks_.back().get() + kBlock;
    }
  }

  // An empty mailbox gives its blocks to the thread's pools (every slot in them was consumed).
  void reset_empty() {
    while (block_count() > 0) drop_first_block();
    blocks_.clear();
    first_ = 0;
    head_ = head_end_ = tail_ = tail_end_ = nullptr;
  }

  // Blocks that emptied mailboxes gave back on this thread (the most recent last): full ones,
  // and small first ones.
  static std::vector<Block>& pool() {
    thread_local std::vector<Block> blocks;
    return blocks;
  }
  static std::vector<Block>& small_pool() {
    thread_local std::vector<Block> blocks;
    return blocks;
  }
  static constexpr std::size_t kPooledBlocks = 16;
  static constexpr std::size_t kPooledSmallBlocks = 256;
  static void put_block(Block b) {
    auto& p = pool();
    if (p.size() < kPooledBlocks) p.push_back(std::move(b));
  }
  static void put_small(Block b) {
    auto& p = small_pool();
    if (p.size() < kPooledSmallBlocks) p.push_back(std::move(b));
  }
  static Block take(std::vector<Block>& pool, std::size_t slots) {
    if (pool.empty()) return std::make_unique<detail::Mail[]>(slots);
    Block b = std::move(pool.back());
    pool.pop_back();
    return b;
  }

  // Called when tail_ reached tail_end_: an empty mailbox takes a small block; a mailbox
  // that fills its last block adds a full one.
  void add_block() {
    if (block_count() == 0) {
      blocks_.push_back(take(small_pool(), kFirstBlock));
      small_ = true;
      head_ = tail_ = blocks_.back().get();
      head_end_ = tail_end_ = tail_ + kFirstBlock;
      return;
    }
    blocks_.push_back(take(pool(), kBlock));
    tail_ = blocks_.back().get();
    tail_end_ = tail_ + kBlock;
  }

  // A vector, not a deque: an empty one allocates nothing (a deque allocates its map and a
  // node at construction, in every mailbox). The blocks in use are those from first_ on.
  std::vector<Block> blocks_;
  std::size_t first_ = 0;
  bool small_ = false;  // the first block has kFirstBlock slots (the others have kBlock)
  detail::Mail* head_ = nullptr;
  detail::Mail* head_end_ = nullptr;
  detail::Mail* tail_ = nullptr;
  detail::Mail* tail_end_ = nullptr;
  std::size_t size_ = 0;   // slots in use, taken ones included
  std::size_t live_ = 0;   // messages
  std::size_t taken_ = 0;  // taken slots between the oldest and the newest message
  std::size_t bytes_ = 0;
};

}  // namespace cadre::services
