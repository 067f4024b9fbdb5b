#pragma once
/// \file archive_traits.hpp
/// How the archives classify types: bitwise-safe types, containers, strings (part of
/// cadre/detail/archive.hpp).

#include <fmt/format.h>

#include <array>
#include <bit>
#include <boost/core/demangle.hpp>
#include <boost/mpl/bool.hpp>
#include <boost/serialization/array_wrapper.hpp>
#include <boost/serialization/binary_object.hpp>
#include <boost/serialization/nvp.hpp>
#include <boost/serialization/serialization.hpp>
#include <boost/serialization/split_free.hpp>
#include <boost/serialization/split_member.hpp>
#include <boost/serialization/version.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "cadre/detail/buffer.hpp"
#include "cadre/errors.hpp"

static_assert(std::endian::native == std::endian::little,
              "cadre's wire format is little-endian; big-endian hosts are not supported");

namespace cadre::detail {

/// Declares a type bitwise-safe: it is written and read with one memcpy of sizeof(T) bytes.
/// Specialise it with CADRE_BITWISE(T) only. A bitwise-safe type must be trivially copyable and
/// every bit pattern must be a valid value: types with `bool` or enum members (or pointers)
/// must NOT be declared bitwise-safe, since arbitrary bytes there are undefined behaviour.
template <class T>
struct is_bitwise_safe : std::false_type {};

}  // namespace cadre::detail

/// Declares T bitwise-safe (see cadre::detail::is_bitwise_safe). Use at global namespace
/// scope with a fully qualified type name, e.g. `CADRE_BITWISE(app::Vec3);`. Never for types
/// with bool, enum or pointer members.
#define CADRE_BITWISE(T)                                                      \
  static_assert(std::is_trivially_copyable_v<T>,                              \
                "CADRE_BITWISE(" #T "): the type is not trivially copyable"); \
  template <>                                                                 \
  struct cadre::detail::is_bitwise_safe<T> : std::true_type {}

namespace cadre::detail {

// ---- type classification ----------------------------------------------------------------

/// True when T is a specialisation of the class template Tmpl (type parameters only).
template <class T, template <class...> class Tmpl>
struct is_specialization : std::false_type {};
/// True when T is a specialisation of the class template Tmpl (type parameters only).
template <template <class...> class Tmpl, class... A>
struct is_specialization<Tmpl<A...>, Tmpl> : std::true_type {};
/// Shorthand for is_specialization<T, Tmpl>::value.
template <class T, template <class...> class Tmpl>
inline constexpr bool is_specialization_v = is_specialization<T, Tmpl>::value;

/// True for std::array<T, N>.
template <class T>
struct is_std_array : std::false_type {};
/// True for std::array<T, N>.
template <class T, std::size_t N>
struct is_std_array<std::array<T, N>> : std::true_type {};

/// True for boost::serialization::array_wrapper<T> (from boost::serialization::make_array).
template <class T>
struct is_array_wrapper : std::false_type {};
/// True for boost::serialization::array_wrapper<T> (from boost::serialization::make_array).
template <class T>
struct is_array_wrapper<boost::serialization::array_wrapper<T>> : std::true_type {};

/// True when every bit pattern of sizeof(T) bytes is a valid T and T is copied with memcpy:
/// arithmetic types other than bool, std::byte, and types declared with CADRE_BITWISE.
template <class T>
inline constexpr bool is_memcpy_safe_v = (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) ||
                                         std::is_same_v<T, std::byte> || is_bitwise_safe<T>::value;

/// True for std::vector<bool, A>.
template <class T>
struct is_vector_of_bool : std::false_type {};
/// True for std::vector<bool, A>.
template <class A>
struct is_vector_of_bool<std::vector<bool, A>> : std::true_type {};

/// True for a std::vector whose elements are copied as one block of bytes.
template <class T>
struct is_block_vector : std::false_type {};
/// True for a std::vector whose elements are copied as one block of bytes.
template <class E, class A>
struct is_block_vector<std::vector<E, A>> : std::bool_constant<is_memcpy_safe_v<E>> {};

/// Strings of arithmetic characters (std::string, std::u16string, ...).
template <class T>
concept WireString = is_specialization_v<T, std::basic_string> &&
    std::is_arithmetic_v<typename T::value_type> && !std::is_same_v<typename T::value_type, bool>;

/// Sequences encoded as count + elements and rebuilt with emplace_back.
template <class T>
concept WireSequence = is_specialization_v<T, std::vector> || is_specialization_v<T, std::deque> ||
    is_specialization_v<T, std::list>;

/// Maps (unique or multi, ordered or hashed) encoded as count + key, value pairs.
template <class T>
concept WireMap = is_specialization_v<T, std::map> || is_specialization_v<T, std::multimap> ||
    is_specialization_v<T, std::unordered_map> || is_specialization_v<T, std::unordered_multimap>;

/// Sets (unique or multi, ordered or hashed) encoded as count + keys.
template <class T>
concept WireSet = is_specialization_v<T, std::set> || is_specialization_v<T, std::multiset> ||
    is_specialization_v<T, std::unordered_set> || is_specialization_v<T, std::unordered_multiset>;

/// Containers whose keys must be unique (a repeated key on the wire is a DecodeError).
template <class T>
inline constexpr bool has_unique_keys_v =
    is_specialization_v<T, std::map> || is_specialization_v<T, std::unordered_map> ||
    is_specialization_v<T, std::set> || is_specialization_v<T, std::unordered_set>;

/// Hashed containers (they get a bounded reserve() before decoding).
template <class T>
inline constexpr bool is_hashed_v =
    is_specialization_v<T, std::unordered_map> || is_specialization_v<T, std::unordered_multimap> ||
    is_specialization_v<T, std::unordered_set> || is_specialization_v<T, std::unordered_multiset>;

/// The tag type of a std::variant index on the wire: one byte for up to 255 alternatives.
template <class V>
using variant_index_t =
    std::conditional_t<(std::variant_size_v<V> <= 255), std::uint8_t, std::uint32_t>;

/// Lower bound of the encoded size of a T (defined below).
template <class T>
constexpr std::size_t min_wire_size();

/// Sum of min_wire_size over the element types of a tuple.
template <class... E>
constexpr std::size_t tuple_min_wire_size(std::type_identity<std::tuple<E...>>) {
  return (std::size_t{0} + ... + min_wire_size<E>());
}

/// Lower bound, in bytes, of the encoding of any value of T (0 for user types, whose encoding
/// is unknown). Used to check a count against the bytes left before allocating.
template <class T>
constexpr std::size_t min_wire_size() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, bool>) {
    return 1;
  } else if constexpr (std::is_arithmetic_v<U> || std::is_enum_v<U> || is_bitwise_safe<U>::value) {
    return sizeof(U);
  } else if constexpr (WireString<U> || WireSequence<U> || WireMap<U> || WireSet<U>) {
    return 4;
  } else if constexpr (is_std_array<U>::value) {
    return std::tuple_size_v<U> * min_wire_size<typename U::value_type>();
  } else if constexpr (std::is_bounded_array_v<U>) {
    return std::extent_v<U> * min_wire_size<std::remove_extent_t<U>>();
  } else if constexpr (is_specialization_v<U, std::pair>) {
    return min_wire_size<typename U::first_type>() + min_wire_size<typename U::second_type>();
  } else if constexpr (is_specialization_v<U, std::tuple>) {
    return tuple_min_wire_size(std::type_identity<U>{});
  } else if constexpr (is_specialization_v<U, std::optional>) {
    return 1;
  } else if constexpr (is_specialization_v<U, std::variant>) {
    return sizeof(variant_index_t<U>);
  } else if constexpr (is_specialization_v<U, std::chrono::duration>) {
    return min_wire_size<typename U::rep>();
  } else {
    return 0;
  }
}

}  // namespace cadre::detail
