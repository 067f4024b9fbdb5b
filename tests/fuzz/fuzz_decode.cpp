/// \file fuzz_decode.cpp
/// libFuzzer target: frames and payloads from arbitrary bytes may only ever throw
/// cadre::DecodeError. A custom mutator repairs the frame header (length, checksum) and, half
/// of the time, the envelope lengths and count, so most inputs reach payload decoding.

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "cadre/detail/archive.hpp"
#include "cadre/errors.hpp"
#include "fuzz_types.hpp"
#include "wire/frame.hpp"

namespace {

using cadre::DecodeError;
using cadre::detail::ByteBuffer;
using cadre::detail::InArchive;
namespace wire = cadre::wire;

// Decodes a T from [p, p + n) in full, then checks encode(decode(encode(v))) == encode(v).
template <class T, bool kCheckReencode = true>
void try_decode(const char* p, std::size_t n) {
  T v{};
  try {
    cadre::detail::decode_into(v, p, n);
  } catch (const DecodeError&) {
    return;
  }
  if constexpr (kCheckReencode) {
    ByteBuffer once;
    cadre::detail::encode(once, v);
    T w = cadre::detail::decode_as<T>(once.data(), once.size());  // must not throw
    ByteBuffer twice;
    cadre::detail::encode(twice, w);
    if (once.size() != twice.size() || std::memcmp(once.data(), twice.data(), once.size()) != 0) {
      __builtin_trap();
    }
  }
}

// Decodes a prefix of the bytes as T and leaves the rest (no expect_end).
template <class T>
void try_prefix(const char* p, std::size_t n) {
  InArchive ar(p, n);
  T v{};
  try {
    ar >> v;
  } catch (const DecodeError&) {
  }
}

void decode_payload(std::uint64_t type_id, const char* p, std::size_t n) {
  switch (type_id % fuzz::kTypeCount) {
    case 0:
      try_decode<fuzz::T0>(p, n);
      break;
    case 1:
      try_decode<fuzz::T1>(p, n);
      break;
    case 2:
      try_decode<fuzz::T2>(p, n);
      break;
    case 3:
      try_decode<fuzz::T3, false>(p, n);
      break;  // unordered: no canonical order
    case 4:
      try_decode<fuzz::T4>(p, n);
      break;
    case 5:
      try_decode<fuzz::T5>(p, n);
      break;
    default:
      try_decode<fuzz::T6>(p, n);
      break;
  }
}

void put32(std::uint8_t* p, std::uint32_t v) { std::memcpy(p, &v, 4); }

// Makes the frame header consistent with the bytes; if `envelopes`, also clamps envelope
// lengths and sets the count to the envelopes that fit (dropping a trailing partial header).
std::size_t repair(std::uint8_t* data, std::size_t size, bool envelopes) {
  if (size < wire::kFrameHeaderSize) return size;
  if (envelopes) {
    std::size_t off = wire::kFrameHeaderSize;
    std::uint32_t count = 0;
    while (size - off >= wire::kEnvelopeHeaderSize) {
      std::uint32_t len;
      std::memcpy(&len, data + off + 4, 4);
      std::size_t left = size - off - wire::kEnvelopeHeaderSize;
      if (len > left) {
        len = static_cast<std::uint32_t>(left);
        put32(data + off + 4, len);
      }
      off += wire::kEnvelopeHeaderSize + len;
      ++count;
    }
    size = off;
    put32(data + 12, count);
  }
  wire::FrameHeader h = wire::decode_frame_header(reinterpret_cast<const char*>(data));
  h.magic = wire::kFrameMagic;
  h.version = wire::kProtocolVersion;
  h.length = static_cast<std::uint32_t>(size - wire::kFrameHeaderSize);
  wire::encode_frame_header(reinterpret_cast<char*>(data), h);
  return size;
}

}  // namespace

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  size = LLVMFuzzerMutate(data, size, max_size);
  switch (seed % 4) {
    case 0:
      return size;  // raw mutation
    case 1:
      return repair(data, size, false);  // header only
    default:
      return repair(data, size, true);  // header and envelopes
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* p = reinterpret_cast<const char*>(data);
  try {
    wire::FrameView v = wire::parse_frame(p, size, 64 * 1024);
    wire::for_each_envelope(v, [](const wire::Envelope& e, const char* payload, std::size_t n) {
      decode_payload(e.type_id, payload, n);
    });
  } catch (const DecodeError&) {
  }
  // The raw bytes straight into the archive, as every type.
  for (std::uint64_t t = 0; t < fuzz::kTypeCount; ++t) decode_payload(t, p, size);
  try_prefix<fuzz::T3>(p, size);
  try_prefix<std::tuple<bool, std::string, fuzz::Mode, std::optional<double>>>(p, size);
  return 0;
}
