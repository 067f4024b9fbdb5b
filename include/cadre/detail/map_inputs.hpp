#pragma once
/// \file map_inputs.hpp
/// The inputs of one map() and the result state of each of its chunks. map() fills them on
/// the caller's thread (its own copy of the inputs, or the vector moved in) and hands them to
/// the node loop, which alone uses them from then on: it encodes a chunk as the chunk leaves,
/// again if the node it went to is lost, and drops the chunk's inputs once it is answered.
/// So map() returns without encoding anything, and no encoded copy of a huge map is ever
/// built: one buffer, reused, carries each chunk to the transport.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "cadre/detail/archive.hpp"
#include "cadre/detail/buffer.hpp"
#include "cadre/detail/future_state.hpp"

namespace cadre::detail {

class MapInputs {
 public:
  /// `count` inputs in chunks of `chunk` (the last may hold fewer); `chunk` >= 1.
  MapInputs(std::size_t count, std::size_t chunk) : count_(count), chunk_(chunk) {}
  virtual ~MapInputs() = default;
  MapInputs(const MapInputs&) = delete;
  MapInputs& operator=(const MapInputs&) = delete;

  std::size_t count() const { return count_; }
  /// Inputs per chunk.
  std::size_t chunk() const { return chunk_; }
  std::size_t chunks() const { return (count_ + chunk_ - 1) / chunk_; }
  /// The index of chunk `k`'s first input.
  std::size_t first(std::size_t k) const { return k * chunk_; }
  /// Inputs in chunk `k`.
  std::uint32_t chunk_size(std::size_t k) const {
    const std::size_t left = count_ - first(k);
    return static_cast<std::uint32_t>(left < chunk_ ? left : chunk_);
  }

  /// Appends chunk `k`'s request payload to `out`: a u32 count, then each input encoded.
  /// Throws what encoding throws, with `at` set to the index (in the map) of the input that
  /// failed.
  virtual void encode(std::size_t k, ByteBuffer& out, std::size_t& at) const = 0;
  /// Chunk `k` has its results (or its error) for good: its state and inputs may go. Once
  /// per chunk.
  void done(std::size_t k) {
    states_[k].reset();
    drop(k);
  }

  /// Chunk `k`'s result state.
  const std::shared_ptr<StateBase>& state(std::size_t k) const { return states_[k]; }

  /// Makes one state per chunk (slots: its inputs), keeps them and returns them typed.
  template <class R>
  std::vector<std::shared_ptr<ResultState<R>>> make_states() {
    std::vector<std::shared_ptr<ResultState<R>>> typed;
    typed.reserve(chunks());
    states_.reserve(chunks());
    for (std::size_t k = 0; k < chunks(); ++k) {
      typed.push_back(std::make_shared<ResultState<R>>(chunk_size(k)));
      states_.push_back(typed.back());
    }
    return typed;
  }

 protected:
  /// Chunk `k`'s inputs are no longer needed.
  virtual void drop(std::size_t k) = 0;

 private:
  std::size_t count_;
  std::size_t chunk_;
  std::vector<std::shared_ptr<StateBase>> states_;
};

/// The inputs as values of the task's parameter type `T`, in blocks of whole chunks. A copy
/// is made in blocks of about 64 KiB, which the allocator serves from memory freed before
/// (a single copy of a huge map would be a fresh mapping, every page of it a fault) and
/// which go as soon as their chunks are answered. A vector moved in is one block, kept until
/// its last chunk is answered.
template <class T>
class MapInputsOf final : public MapInputs {
 public:
  static constexpr std::size_t kBlockBytes = 64 * 1024;

  /// Takes `inputs` (moved in: no copy).
  MapInputsOf(std::vector<T>&& inputs, std::size_t chunk)
      : MapInputs(inputs.size(), chunk), per_block_(std::max<std::size_t>(1, chunks())) {
    blocks_.push_back(std::move(inputs));
    left_.push_back(chunks());
  }

  /// Copies `count` inputs from `it` on, each converted to `T`.
  template <class It>
  MapInputsOf(It it, std::size_t count, std::size_t chunk)
      : MapInputs(count, chunk),
        per_block_(std::max<std::size_t>(1, kBlockBytes / (sizeof(T) * chunk))) {
    const std::size_t per = per_block_ * chunk;
    blocks_.reserve((count + per - 1) / per);
    for (std::size_t done = 0; done < count;) {
      const std::size_t m = std::min(per, count - done);
      std::vector<T>& b = blocks_.emplace_back();
      if constexpr (std::is_same_v<std::decay_t<decltype(*it)>, T> &&
                    std::is_base_of_v<std::random_access_iterator_tag,
                                      typename std::iterator_traits<It>::iterator_category>) {
        b.assign(it, it + static_cast<std::ptrdiff_t>(m));  // one copy of the run
        it += static_cast<std::ptrdiff_t>(m);
      } else {
        b.reserve(m);
        for (std::size_t i = 0; i < m; ++i, ++it) b.emplace_back(*it);
      }
      done += m;
    }
    left_.resize(blocks_.size(), per_block_);
    if (!left_.empty()) left_.back() = chunks() - (left_.size() - 1) * per_block_;
  }

  void encode(std::size_t k, ByteBuffer& out, std::size_t& at) const override {
    const std::uint32_t n = chunk_size(k);
    const T* p = blocks_[k / per_block_].data() + (k % per_block_) * chunk();
    at = first(k);
    OutArchive ar(out);
    ar& n;
    if constexpr (is_memcpy_safe_v<T>) {
      ar.write_bytes(p, n * sizeof(T));  // what encoding them one by one writes
    } else {
      for (std::uint32_t i = 0; i < n; ++i, ++at) ar& p[i];
    }
  }

  void drop(std::size_t k) override {
    const std::size_t b = k / per_block_;
    if (--left_[b] == 0) std::vector<T>().swap(blocks_[b]);
  }

 private:
  std::size_t per_block_;               // chunks per block
  std::vector<std::vector<T>> blocks_;  // the inputs
  std::vector<std::size_t> left_;       // per block: its chunks not yet answered
};

}  // namespace cadre::detail
