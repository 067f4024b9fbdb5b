/// \file frame.cpp
/// Frame and envelope encoding, FrameWriter, parse_frame and EnvelopeReader.

#include "wire/frame.hpp"

#include <fmt/format.h>

#include <bit>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "cadre/errors.hpp"

static_assert(std::endian::native == std::endian::little,
              "cadre's wire format is little-endian; big-endian hosts are not supported");

namespace cadre::wire {
namespace {

template <class T>
void put(char*& out, T v) {
  std::memcpy(out, &v, sizeof(T));
  out += sizeof(T);
}

template <class T>
T get(const char*& in) {
  T v;
  std::memcpy(&v, in, sizeof(T));
  in += sizeof(T);
  return v;
}

constexpr std::size_t kChecksumOffset = 28;
constexpr std::size_t kEnvelopeLengthOffset = 4;
constexpr std::uint32_t kMaxLength = std::numeric_limits<std::uint32_t>::max();

// Checks that exactly `count` envelopes fill [p, p + n); throws DecodeError otherwise (the
// messages are EnvelopeReader's). Only the length fields are read: this runs on every frame.
void check_envelopes(const char* p, std::size_t n, std::uint32_t count) {
  std::size_t at = 0;
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::size_t left = n - at;
    if (left < kEnvelopeHeaderSize) {
      throw DecodeError(fmt::format(
          "frame: envelope {} of {}: its {}-byte header does not fit in the {} bytes left", i,
          count, kEnvelopeHeaderSize, left));
    }
    std::uint32_t len;
    std::memcpy(&len, p + at + kEnvelopeLengthOffset, sizeof len);
    if (len > left - kEnvelopeHeaderSize) {
      throw DecodeError(
          fmt::format("frame: envelope {} of {}: payload length {} exceeds the {} "
                      "bytes left",
                      i, count, len, left - kEnvelopeHeaderSize));
    }
    at += kEnvelopeHeaderSize + len;
  }
  if (at != n) {
    throw DecodeError(
        fmt::format("frame: {} trailing bytes after the {} envelopes it counts", n - at, count));
  }
}

}  // namespace

std::uint32_t fnv1a32(const char* p, std::size_t n) {
  std::uint32_t h = 0x811c9dc5u;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(p[i]);
    h *= 0x01000193u;
  }
  return h;
}

std::uint32_t header_checksum(const char* p) {
  std::uint32_t h = 0x811c9dc5u;
  for (std::size_t i = 0; i < kChecksumOffset; i += 4) {
    std::uint32_t w;
    std::memcpy(&w, p + i, 4);
    h ^= w;
    h *= 0x01000193u;
  }
  return h;
}

void encode_frame_header(char* out, const FrameHeader& h) {
  char* o = out;
  put(o, h.magic);
  put(o, h.version);
  put(o, h.flags);
  put(o, h.length);
  put(o, h.count);
  put(o, h.seq);
  put(o, h.epoch);
  put(o, header_checksum(out));
}

FrameHeader decode_frame_header(const char* in) {
  FrameHeader h;
  h.magic = get<std::uint32_t>(in);
  h.version = get<std::uint16_t>(in);
  h.flags = get<std::uint16_t>(in);
  h.length = get<std::uint32_t>(in);
  h.count = get<std::uint32_t>(in);
  h.seq = get<std::uint64_t>(in);
  h.epoch = get<std::uint32_t>(in);
  h.checksum = get<std::uint32_t>(in);
  return h;
}

void encode_envelope_header(char* out, const Envelope& e) {
  put(out, e.cls);
  put(out, e.flags);
  put(out, e.aux);
  put(out, e.length);
  put(out, e.type_id);
  put(out, e.corr);
  put(out, e.src.node.value());
  put(out, e.src.serial);
  put(out, e.dst.node.value());
  put(out, e.dst.serial);
}

Envelope decode_envelope_header(const char* in) {
  Envelope e;
  e.cls = get<std::uint8_t>(in);
  e.flags = get<std::uint8_t>(in);
  e.aux = get<std::uint16_t>(in);
  e.length = get<std::uint32_t>(in);
  e.type_id = get<std::uint64_t>(in);
  e.corr = get<std::uint64_t>(in);
  e.src.node = NodeId(get<std::uint32_t>(in));
  e.src.serial = get<std::uint64_t>(in);
  e.dst.node = NodeId(get<std::uint32_t>(in));
  e.dst.serial = get<std::uint64_t>(in);
  return e;
}

// ---- FrameWriter ----------------------------------------------------------------------------

void FrameWriter::begin_frame() {
  if (in_frame_) throw std::logic_error("FrameWriter::begin_frame: a frame is already open");
  start_ = buf_->size();
  buf_->grow(kFrameHeaderSize);
  count_ = 0;
  open_ = 0;
  in_frame_ = true;
  done_ = false;
}

std::size_t FrameWriter::begin_envelope(const Envelope& e) {
  if (!in_frame_) throw std::logic_error("FrameWriter::begin_envelope: no frame begun");
  std::size_t offset = buf_->size();
  Envelope h = e;
  h.length = 0;
  encode_envelope_header(buf_->grow(kEnvelopeHeaderSize), h);
  ++count_;
  ++open_;
  return offset;
}

void FrameWriter::end_envelope(std::size_t offset) {
  if (!in_frame_ || open_ == 0 || offset < start_ + kFrameHeaderSize ||
      offset + kEnvelopeHeaderSize > buf_->size()) {
    throw std::logic_error("FrameWriter::end_envelope: no envelope begun at that offset");
  }
  std::size_t n = buf_->size() - offset - kEnvelopeHeaderSize;
  if (n > kMaxLength) {
    throw PayloadTooLarge(
        fmt::format("envelope payload of {} bytes exceeds the wire limit of {}", n, kMaxLength));
  }
  auto len = static_cast<std::uint32_t>(n);
  std::memcpy(buf_->data() + offset + kEnvelopeLengthOffset, &len, sizeof len);
  --open_;
}

void FrameWriter::cancel_envelope(std::size_t offset) {
  if (!in_frame_ || open_ == 0 || offset < start_ + kFrameHeaderSize ||
      offset + kEnvelopeHeaderSize > buf_->size()) {
    throw std::logic_error("FrameWriter::cancel_envelope: no envelope begun at that offset");
  }
  buf_->resize(offset);
  --count_;
  --open_;
}

void FrameWriter::append_envelope(const Envelope& e, const char* payload, std::size_t n) {
  if (!in_frame_) throw std::logic_error("FrameWriter::append_envelope: no frame begun");
  if (n > kMaxLength) {
    throw PayloadTooLarge(
        fmt::format("envelope payload of {} bytes exceeds the wire limit of {}", n, kMaxLength));
  }
  Envelope h = e;
  h.length = static_cast<std::uint32_t>(n);
  char* out = buf_->grow(kEnvelopeHeaderSize + n);
  encode_envelope_header(out, h);
  if (n != 0) std::memcpy(out + kEnvelopeHeaderSize, payload, n);
  ++count_;
}

void FrameWriter::finish(std::uint64_t seq, std::uint32_t epoch, std::uint16_t flags) {
  if (!in_frame_) throw std::logic_error("FrameWriter::finish: no frame begun");
  if (open_ != 0) throw std::logic_error("FrameWriter::finish: an envelope is still open");
  std::size_t body = buf_->size() - start_ - kFrameHeaderSize;
  if (body > kMaxLength || count_ > kMaxLength) {
    throw PayloadTooLarge(
        fmt::format("frame body of {} bytes exceeds the wire limit of {}", body, kMaxLength));
  }
  FrameHeader h;
  h.flags = flags;
  h.length = static_cast<std::uint32_t>(body);
  h.count = static_cast<std::uint32_t>(count_);
  h.seq = seq;
  h.epoch = epoch;
  encode_frame_header(buf_->data() + start_, h);
  in_frame_ = false;
  done_ = true;
}

detail::ByteBuffer FrameWriter::take_buffer() {
  detail::ByteBuffer out = std::move(*buf_);
  *buf_ = detail::ByteBuffer();
  start_ = 0;
  count_ = 0;
  open_ = 0;
  in_frame_ = false;
  done_ = false;
  return out;
}

// ---- parsing --------------------------------------------------------------------------------

FrameView parse_frame(const char* p, std::size_t n, std::size_t payload_cap) {
  if (n < kFrameHeaderSize) {
    throw DecodeError(fmt::format("frame: {} bytes received, shorter than the {}-byte frame header",
                                  n, kFrameHeaderSize));
  }
  FrameHeader h = decode_frame_header(p);
  if (h.magic != kFrameMagic) {
    throw DecodeError(fmt::format(
        "frame: bad magic {:#010x}, expected {:#010x} (not a cadre frame)", h.magic, kFrameMagic));
  }
  std::uint32_t sum = header_checksum(p);
  if (h.version != kProtocolVersion) {
    throw DecodeError(fmt::format(
        "frame: protocol version {}, expected {}{}: the peer runs a different cadre", h.version,
        kProtocolVersion, sum == h.checksum ? "" : " (and the header checksum fails)"));
  }
  if (sum != h.checksum) {
    throw DecodeError(
        fmt::format("frame: header checksum {:#010x}, computed {:#010x}", h.checksum, sum));
  }
  if (h.length != n - kFrameHeaderSize) {
    throw DecodeError(
        fmt::format("frame: header says {} body bytes, {} received after the {}-byte header",
                    h.length, n - kFrameHeaderSize, kFrameHeaderSize));
  }
  if (h.length > payload_cap) {
    throw DecodeError(fmt::format("frame: body of {} bytes exceeds the payload cap of {}", h.length,
                                  payload_cap));
  }
  const char* body = p + kFrameHeaderSize;
  check_envelopes(body, h.length, h.count);
  return FrameView{h, body, h.length};
}

bool EnvelopeReader::next(EnvelopeRef& out) {
  std::size_t left = static_cast<std::size_t>(end_ - cur_);
  if (index_ == count_) {
    if (left != 0) {
      throw DecodeError(
          fmt::format("frame: {} trailing bytes after the {} envelopes it counts", left, count_));
    }
    return false;
  }
  if (left < kEnvelopeHeaderSize) {
    throw DecodeError(fmt::format(
        "frame: envelope {} of {}: its {}-byte header does not fit in the {} bytes left", index_,
        count_, kEnvelopeHeaderSize, left));
  }
  out.header = decode_envelope_header(cur_);
  left -= kEnvelopeHeaderSize;
  if (out.header.length > left) {
    throw DecodeError(
        fmt::format("frame: envelope {} of {}: payload length {} exceeds the {} bytes left", index_,
                    count_, out.header.length, left));
  }
  out.payload = cur_ + kEnvelopeHeaderSize;
  out.length = out.header.length;
  cur_ += kEnvelopeHeaderSize + out.header.length;
  ++index_;
  return true;
}

}  // namespace cadre::wire
