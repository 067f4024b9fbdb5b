#pragma once
// Encoding and decoding the node protocol's payloads (protocol.hpp) with cadre's archive.

#include <fmt/format.h>

#include "cadre/detail/archive.hpp"
#include "cadre/errors.hpp"

namespace cadre::node {

/// Decodes a payload of the node protocol; a DecodeError names `what` was being decoded.
template <class T>
T decode_payload(const char* p, std::size_t n, const char* what) {
  try {
    return detail::decode_as<T>(p, n);
  } catch (const DecodeError& e) {
    throw DecodeError(fmt::format("{}: {}", what, e.what()));
  }
}

/// Encodes a payload of the node protocol.
template <class T>
detail::ByteBuffer encode_payload(const T& v) {
  detail::ByteBuffer b;
  detail::OutArchive ar(b);
  ar& v;
  return b;
}

}  // namespace cadre::node
