#pragma once
/// \file frame.hpp
/// The checked framing of one MPI message: a 32-byte frame header followed by one or more
/// envelopes, each a 48-byte envelope header followed by its payload. All integers are native
/// little-endian, written field by field (no padding). No MPI here.
///
/// Frame header (32 bytes):   magic u32 | version u16 | flags u16 | length u32 | count u32 |
///                            seq u64 | epoch u32 | checksum u32
///   length = bytes after the header, count = number of envelopes,
///   checksum = header_checksum(): FNV-1a-32 over the first 28 bytes as seven 32-bit words.
/// Envelope header (48 bytes): cls u8 | flags u8 | aux u16 | length u32 | type_id u64 |
///                            corr u64 | src.node u32 | src.serial u64 | dst.node u32 |
///                            dst.serial u64
///   length = payload bytes following this envelope header.

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "cadre/detail/buffer.hpp"
#include "cadre/ids.hpp"

namespace cadre::wire {

/// "CADR": the first four bytes of every frame.
inline constexpr std::uint32_t kFrameMagic = 0x43414452;
/// The wire protocol version; a frame of another version is refused.
inline constexpr std::uint16_t kProtocolVersion = 2;
/// Encoded size of a FrameHeader.
inline constexpr std::size_t kFrameHeaderSize = 32;
/// Encoded size of an Envelope header.
inline constexpr std::size_t kEnvelopeHeaderSize = 48;

/// The header of one frame (one MPI message).
struct FrameHeader {
  std::uint32_t magic = kFrameMagic;         ///< kFrameMagic
  std::uint16_t version = kProtocolVersion;  ///< kProtocolVersion
  std::uint16_t flags = 0;                   ///< reserved for the transport
  std::uint32_t length = 0;                  ///< bytes after the header
  std::uint32_t count = 0;                   ///< envelopes in the frame
  std::uint64_t seq = 0;                     ///< link sequence number
  std::uint32_t epoch = 0;                   ///< link epoch
  std::uint32_t checksum = 0;                ///< FNV-1a-32 of the first 28 encoded bytes
  /// Field-wise equality.
  friend bool operator==(const FrameHeader&, const FrameHeader&) = default;
};

/// The header of one envelope: one message, task request, result, notice ... in a frame.
struct Envelope {
  std::uint8_t cls = 0;       ///< message class
  std::uint8_t flags = 0;     ///< class-specific flags
  std::uint16_t aux = 0;      ///< class-specific small value
  std::uint32_t length = 0;   ///< payload bytes after this header
  std::uint64_t type_id = 0;  ///< registered type or task id
  std::uint64_t corr = 0;     ///< correlation id (calls, futures)
  Pid src;                    ///< sending process
  Pid dst;                    ///< receiving process
  /// Field-wise equality.
  friend bool operator==(const Envelope&, const Envelope&) = default;
};

/// FNV-1a-32 of `n` bytes.
std::uint32_t fnv1a32(const char* p, std::size_t n);

/// The frame header's checksum: FNV-1a over the first 28 bytes taken as seven 32-bit
/// little-endian words (four times fewer multiplications than bytewise: it is on every
/// message's path, twice).
std::uint32_t header_checksum(const char* p);

/// Writes `h` as 32 bytes at `out`, with the checksum computed over the first 28 (the
/// `checksum` field of `h` is ignored).
void encode_frame_header(char* out, const FrameHeader& h);

/// The sequence number of the frame header at `in`, unchecked (parse_frame does the checks).
inline std::uint64_t frame_seq(const char* in) {
  std::uint64_t seq;
  std::memcpy(&seq, in + 16, sizeof seq);  // after magic, version, flags, length, count
  return seq;
}

/// Reads 32 bytes at `in` as a FrameHeader, unchecked (parse_frame does the checks).
FrameHeader decode_frame_header(const char* in);

/// Writes `e` as 48 bytes at `out`.
void encode_envelope_header(char* out, const Envelope& e);

/// Reads 48 bytes at `in` as an Envelope header, unchecked.
Envelope decode_envelope_header(const char* in);

/// Builds one frame in a ByteBuffer: begin_frame(), then for each envelope either
/// append_envelope() or begin_envelope() / append the payload to buffer() / end_envelope(),
/// then finish(). The frame starts where the buffer ended at begin_frame(), usually at 0.
class FrameWriter {
 public:
  /// A writer with a buffer of its own.
  FrameWriter() : buf_(&own_) {}
  /// A writer that appends to `buffer` (which must outlive it).
  explicit FrameWriter(detail::ByteBuffer& buffer) : buf_(&buffer) {}

  FrameWriter(const FrameWriter&) = delete;
  FrameWriter& operator=(const FrameWriter&) = delete;

  /// Starts a frame at the current end of the buffer and reserves its header.
  void begin_frame();

  /// Writes an envelope header (length 0 for now) and returns its offset in the buffer. The
  /// caller then appends the payload to buffer() and calls end_envelope(offset).
  std::size_t begin_envelope(const Envelope& e);

  /// Sets the length of the envelope begun at `offset` to the bytes appended since.
  /// Throws PayloadTooLarge if the payload exceeds 2^32 - 1 bytes.
  void end_envelope(std::size_t offset);

  /// Drops the envelope begun at `offset` and its payload (e.g. after encoding failed).
  void cancel_envelope(std::size_t offset);

  /// Writes a whole envelope: header, then a copy of the `n` payload bytes.
  void append_envelope(const Envelope& e, const char* payload, std::size_t n);

  /// Envelopes in the current frame.
  std::size_t envelope_count() const { return count_; }

  /// True when the current frame has no envelope.
  bool empty() const { return count_ == 0; }

  /// True between begin_frame() and finish().
  bool in_frame() const { return in_frame_; }

  /// Bytes of the current frame so far, header included.
  std::size_t frame_bytes() const { return in_frame_ || done_ ? buf_->size() - start_ : 0; }

  /// First byte of the current (or just finished) frame.
  const char* frame_data() const { return buf_->data() + start_; }

  /// Writes the frame header. Throws PayloadTooLarge if the frame exceeds 2^32 - 1 bytes and
  /// std::logic_error if an envelope is still open or no frame was begun.
  void finish(std::uint64_t seq, std::uint32_t epoch, std::uint16_t flags = 0);

  /// The buffer the frame is built in.
  detail::ByteBuffer& buffer() { return *buf_; }
  /// The buffer the frame is built in.
  const detail::ByteBuffer& buffer() const { return *buf_; }

  /// Moves the buffer's bytes out (e.g. to hand a finished frame to MPI_Isend) and resets the
  /// writer; the writer's buffer is left empty.
  detail::ByteBuffer take_buffer();

 private:
  detail::ByteBuffer own_;
  detail::ByteBuffer* buf_;
  std::size_t start_ = 0;
  std::size_t count_ = 0;
  std::size_t open_ = 0;  // envelopes begun and not ended
  bool in_frame_ = false;
  bool done_ = false;
};

/// A validated frame: its header and the bytes after it. parse_frame() has checked that the
/// envelopes exactly fill the body, so iterating them cannot fail.
struct FrameView {
  FrameHeader header;    ///< the decoded, checked header
  const char* body;      ///< first byte after the header
  std::size_t body_len;  ///< header.length
};

/// Checks the `n` received bytes at `p` as one frame: size >= 32, magic, protocol version,
/// header checksum, length == n - 32, length <= payload_cap, and that exactly `count`
/// envelopes, each fitting in what is left, fill `length` bytes. Throws cadre::DecodeError
/// naming the failed check and the values.
FrameView parse_frame(const char* p, std::size_t n, std::size_t payload_cap);

/// One envelope of a frame: its header and payload.
struct EnvelopeRef {
  Envelope header;      ///< the decoded envelope header
  const char* payload;  ///< first payload byte
  std::size_t length;   ///< payload bytes (header.length)
};

/// Walks the envelopes of a frame, checking each (again) as it goes:
/// `EnvelopeReader r(view); EnvelopeRef e; while (r.next(e)) { ... }`.
class EnvelopeReader {
 public:
  /// Reads the envelopes of `view`.
  explicit EnvelopeReader(const FrameView& view)
      : cur_(view.body), end_(view.body + view.body_len), count_(view.header.count) {}

  /// Stores the next envelope in `out` and returns true, or returns false after the last.
  /// Throws cadre::DecodeError if an envelope does not fit, or if the count and the bytes
  /// disagree.
  bool next(EnvelopeRef& out);

  /// Envelopes read so far.
  std::size_t index() const { return index_; }

 private:
  const char* cur_;
  const char* end_;
  std::size_t count_;
  std::size_t index_ = 0;
};

/// Calls `f(const Envelope&, const char* payload, std::size_t len)` for each envelope of a
/// frame, in order. Throws cadre::DecodeError on a malformed envelope (never for a view made
/// by parse_frame); exceptions from `f` propagate.
template <class F>
void for_each_envelope(const FrameView& view, F&& f) {
  EnvelopeReader r(view);
  EnvelopeRef e;
  while (r.next(e)) f(static_cast<const Envelope&>(e.header), e.payload, e.length);
}

}  // namespace cadre::wire
