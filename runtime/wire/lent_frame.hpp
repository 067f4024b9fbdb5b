#pragma once
/// \file lent_frame.hpp
/// A received frame lent to the receiver of the one envelope it carries: a large message goes
/// into its mailbox in the frame's own buffer, not a copy of it. The transport lends a frame
/// only while it delivers that envelope; the receiver takes the buffer or leaves it (and
/// copies the payload, as it does for every other message). Loop thread only.

#include <cstddef>

#include "cadre/detail/buffer.hpp"

namespace cadre::wire {

/// Payloads of at least this many bytes are lent; smaller ones are copied (cheaper than
/// keeping a whole frame's buffer for them).
inline constexpr std::size_t kLendBytes = 64 * 1024;

/// What is lent now: the frame's buffer, and the first byte of its envelope's payload.
struct LentFrame {
  detail::ByteBuffer* frame = nullptr;  ///< the frame's buffer (null: nothing is lent)
  const char* payload = nullptr;        ///< where the envelope's payload starts in it
};

/// The frame lent on this thread, if any.
inline thread_local LentFrame lent_frame;

/// Lends `frame`, whose one envelope's payload starts at `payload`, while it lives.
class LendFrame {
 public:
  /// Lends `frame` (the caller keeps it, or what is left of it once taken).
  LendFrame(detail::ByteBuffer& frame, const char* payload) { lent_frame = {&frame, payload}; }
  /// Ends the loan.
  ~LendFrame() { lent_frame = {}; }
  LendFrame(const LendFrame&) = delete;
  LendFrame& operator=(const LendFrame&) = delete;
};

/// When `payload` is the lent frame's payload: takes the frame's storage (to be freed with
/// std::free; the frame's buffer is left empty) and sets `offset` to the payload's place in
/// it. Otherwise returns nullptr.
inline char* take_lent_frame(const char* payload, std::size_t& offset) {
  LentFrame& l = lent_frame;
  if (l.frame == nullptr || l.payload != payload) return nullptr;
  detail::ByteBuffer* frame = l.frame;
  l = {};  // taken once
  offset = static_cast<std::size_t>(payload - frame->data());
  return frame->release();
}

}  // namespace cadre::wire
