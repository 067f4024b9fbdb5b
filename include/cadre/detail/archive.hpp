#pragma once
/// \file archive.hpp
/// cadre's own binary archives. They speak Boost.Serialization's user-facing protocol
/// (`ar & x`, `ar << x`, `ar >> x`, member or free `serialize`, BOOST_SERIALIZATION_SPLIT_MEMBER,
/// split_free, nvp, base_object of non-polymorphic bases), so user types serialise unchanged,
/// but they use none of Boost's archive classes: no archive header, no object tracking, no
/// pointers, no class version on the wire.
///
/// Wire format (native little-endian, no padding):
///  - arithmetic types: their bytes; `bool` one byte (0 or 1); enums as the underlying type;
///  - strings and collections: a uint32 count, then the characters / elements (std::vector of
///    arithmetic or bitwise-safe elements as one block of bytes; std::vector<bool> one byte
///    per element; maps as key, value, key, value ...);
///  - std::array, C arrays, std::pair, std::tuple: the elements, no count;
///  - std::optional: one byte (0 or 1), then the value if present;
///  - std::variant: the index (one byte, or uint32 for more than 255 alternatives), then the
///    alternative; std::monostate: nothing;
///  - std::chrono::duration: its count; boost::serialization::nvp: just the value;
///  - user types: whatever their serialize / save writes.
///
/// InArchive checks every read against the bytes left, and every count against the bytes
/// left *before* it allocates, so malformed input throws cadre::DecodeError — never undefined
/// behaviour, never a huge allocation.

#include <string>

#include "cadre/detail/archive_traits.hpp"
#include "cadre/detail/in_archive.hpp"
#include "cadre/detail/out_archive.hpp"
#include "cadre/detail/type_names.hpp"

namespace cadre::detail {

// ---- convenience ----------------------------------------------------------------------------

/// Appends the encodings of `v...`, in order, to `out`.
template <class... T>
void encode(ByteBuffer& out, const T&... v) {
  OutArchive ar(out);
  (ar.save(v), ...);
}

/// Decodes the `n` bytes at `p` into `v`; DecodeError if they are malformed or not all used.
template <class T>
void decode_into(T& v, const char* p, std::size_t n) {
  InArchive ar(p, n);
  ar.load(v);
  ar.expect_end();
}

/// Encodes `v` into a string (small payloads stay inline in it).
template <class T>
std::string encode_string(const T& v) {
  ByteBuffer b;
  encode(b, v);
  return std::string(b.data(), b.size());
}

/// Decodes the `n` bytes at `p` as one T; DecodeError if they are malformed or not all used.
template <class T>
T decode_as(const char* p, std::size_t n) {
  T v{};
  decode_into(v, p, n);
  return v;
}

}  // namespace cadre::detail
