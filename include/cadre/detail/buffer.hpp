#pragma once
/// \file buffer.hpp
/// ByteBuffer: a growable byte buffer that does not zero the bytes it adds.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace cadre::detail {

/// A growable, movable, non-copyable byte buffer. Growth is geometric and never
/// zero-initialises: grow() and resize() hand out uninitialised bytes for the caller to fill.
class ByteBuffer {
 public:
  /// An empty buffer; allocates nothing.
  ByteBuffer() noexcept = default;

  /// An empty buffer with room for at least `capacity` bytes.
  explicit ByteBuffer(std::size_t capacity) { reserve(capacity); }

  /// Takes the other buffer's bytes; leaves it empty.
  ByteBuffer(ByteBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)) {}

  /// Takes the other buffer's bytes; leaves it empty.
  ByteBuffer& operator=(ByteBuffer&& other) noexcept {
    if (this != &other) {
      std::free(data_);
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      capacity_ = std::exchange(other.capacity_, 0);
    }
    return *this;
  }

  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;

  /// Frees the storage.
  ~ByteBuffer() { std::free(data_); }

  /// The first byte (nullptr while nothing was ever allocated).
  char* data() noexcept { return data_; }
  /// The first byte (nullptr while nothing was ever allocated).
  const char* data() const noexcept { return data_; }
  /// Bytes in use.
  std::size_t size() const noexcept { return size_; }
  /// Bytes allocated.
  std::size_t capacity() const noexcept { return capacity_; }
  /// True when no bytes are in use.
  bool empty() const noexcept { return size_ == 0; }

  /// Drops the contents; keeps the storage.
  void clear() noexcept { size_ = 0; }

  /// Makes room for at least `n` bytes in total (never shrinks).
  void reserve(std::size_t n) {
    if (n > capacity_) reallocate(n);
  }

  /// Appends `n` uninitialised bytes and returns a pointer to the first of them. The pointer
  /// stays valid until the next call that grows the buffer.
  char* grow(std::size_t n) {
    if (n > capacity_ - size_) grow_storage(n);
    char* p = data_ + size_;
    size_ += n;
    return p;
  }

  /// Appends a copy of `n` bytes from `p`.
  void append(const void* p, std::size_t n) {
    if (n == 0) return;
    std::memcpy(grow(n), p, n);
  }

  /// Shrinks to `n` bytes, or grows to `n` bytes leaving the new bytes uninitialised.
  void resize(std::size_t n) {
    if (n > capacity_) grow_storage(n - size_);
    size_ = n;
  }

  /// Releases unused capacity (keeps at least the bytes in use).
  void shrink_to_fit() {
    if (size_ == 0) {
      std::free(data_);
      data_ = nullptr;
      capacity_ = 0;
    } else if (capacity_ > size_) {
      reallocate(size_);
    }
  }

  /// Gives up the storage (allocated with std::malloc; the caller frees it with std::free)
  /// and leaves the buffer empty.
  char* release() noexcept {
    size_ = 0;
    capacity_ = 0;
    return std::exchange(data_, nullptr);
  }

  /// A copy of the bytes in use.
  std::vector<char> to_vector() const { return std::vector<char>(data_, data_ + size_); }

 private:
  void grow_storage(std::size_t extra) {
    if (extra > max_size() - size_) throw std::bad_alloc();
    std::size_t need = size_ + extra;
    std::size_t doubled = capacity_ > max_size() / 2 ? max_size() : capacity_ * 2;
    std::size_t cap = doubled > need ? doubled : need;
    if (cap < 64) cap = 64;
    reallocate(cap);
  }

  void reallocate(std::size_t cap) {
    void* p = std::realloc(data_, cap);
    if (p == nullptr) throw std::bad_alloc();
    data_ = static_cast<char*>(p);
    capacity_ = cap;
  }

  static constexpr std::size_t max_size() noexcept { return std::size_t(-1) / 2; }

  char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

/// Bytes of one message: up to kInline of them inside the object (no allocation), more on
/// the heap. 32 bytes: a mailbox slot stays at 64. Move-only.
class InlineBytes {
 public:
  static constexpr std::size_t kInline = 24;

  InlineBytes() noexcept {}
  InlineBytes(InlineBytes&& o) noexcept : size_(o.size_), offset_(o.offset_) {
    std::memcpy(&u_, &o.u_, sizeof u_);  // the inline bytes, or the heap pointer
    o.size_ = 0;
  }
  InlineBytes& operator=(InlineBytes&& o) noexcept {
    if (this != &o) {
      release();
      std::memcpy(&u_, &o.u_, sizeof u_);
      size_ = o.size_;
      offset_ = o.offset_;
      o.size_ = 0;
    }
    return *this;
  }
  InlineBytes(const InlineBytes&) = delete;
  InlineBytes& operator=(const InlineBytes&) = delete;
  ~InlineBytes() { release(); }

  /// Replaces the contents with a copy of `n` bytes from `p` (at most 2^32 - 1: payloads are
  /// capped well below).
  void assign(const char* p, std::size_t n) {
    release();
    if (n <= kInline) {  // the common case, inline: no allocation
      if (n != 0) std::memcpy(u_.inline_, p, n);
      size_ = static_cast<std::uint32_t>(n);
      return;
    }
    assign_heap(p, n);
  }
  /// Replaces the contents with the `n` bytes at `offset` in `storage`, without a copy:
  /// takes `storage` (allocated with std::malloc: a released ByteBuffer), which it frees.
  /// `n` must be above kInline, `offset` and `n` at most 2^32 - 1.
  void adopt(char* storage, std::size_t offset, std::size_t n) {
    release();
    if (n <= kInline || n > UINT32_MAX || offset > UINT32_MAX) {
      std::free(storage);
      throw std::invalid_argument("cadre: InlineBytes::adopt: a size or offset out of range");
    }
    u_.heap_ = storage;
    offset_ = static_cast<std::uint32_t>(offset);
    size_ = static_cast<std::uint32_t>(n);
  }

  /// Replaces the contents with a copy of `s`.
  InlineBytes& operator=(const std::string& s) {
    assign(s.data(), s.size());
    return *this;
  }

  /// Empties it (and frees what it held on the heap).
  void clear() noexcept { release(); }

  const char* data() const noexcept { return size_ > kInline ? u_.heap_ + offset_ : u_.inline_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  /// Heap bytes held beyond the object itself.
  std::size_t heap_bytes() const noexcept { return size_ > kInline ? size_ : 0; }

 private:
  void assign_heap(const char* p, std::size_t n) {
    if (n > UINT32_MAX) throw std::bad_alloc();
    u_.heap_ = static_cast<char*>(std::malloc(n));
    if (!u_.heap_) throw std::bad_alloc();
    std::memcpy(u_.heap_, p, n);
    offset_ = 0;
    size_ = static_cast<std::uint32_t>(n);
  }

  void release() noexcept {
    if (size_ > kInline) std::free(u_.heap_);
    size_ = 0;
  }

  union Storage {
    char* heap_;
    char inline_[kInline];
  } u_;
  std::uint32_t size_ = 0;
  std::uint32_t offset_ = 0;  // of the bytes in adopted storage (0 when copied)
};

}  // namespace cadre::detail
