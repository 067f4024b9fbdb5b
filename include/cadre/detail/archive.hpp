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

// ---- type names for error messages ---------------------------------------------------------

/// Readable type names for error messages ("std::vector<int>", "std::string", ...): standard
/// types by structure, other types demangled.
template <class T>
struct TypeName {
  /// The name.
  static std::string get() { return boost::core::demangle(typeid(T).name()); }
};

/// A readable name of T for error messages.
template <class T>
std::string type_name() {
  return TypeName<std::remove_cv_t<T>>::get();
}

/// "A, B, C" for the type names of A, B, C.
template <class... A>
std::string type_name_list() {
  std::string s;
  ((s += (s.empty() ? "" : ", "), s += type_name<A>()), ...);
  return s;
}

#define CADRE_DETAIL_TYPE_NAME(T, name)       \
  template <>                                 \
  struct TypeName<T> {                        \
    static std::string get() { return name; } \
  }
CADRE_DETAIL_TYPE_NAME(bool, "bool");
CADRE_DETAIL_TYPE_NAME(char, "char");
CADRE_DETAIL_TYPE_NAME(signed char, "signed char");
CADRE_DETAIL_TYPE_NAME(unsigned char, "unsigned char");
CADRE_DETAIL_TYPE_NAME(short, "short");
CADRE_DETAIL_TYPE_NAME(unsigned short, "unsigned short");
CADRE_DETAIL_TYPE_NAME(int, "int");
CADRE_DETAIL_TYPE_NAME(unsigned, "unsigned");
CADRE_DETAIL_TYPE_NAME(long, "long");
CADRE_DETAIL_TYPE_NAME(unsigned long, "unsigned long");
CADRE_DETAIL_TYPE_NAME(long long, "long long");
CADRE_DETAIL_TYPE_NAME(unsigned long long, "unsigned long long");
CADRE_DETAIL_TYPE_NAME(float, "float");
CADRE_DETAIL_TYPE_NAME(double, "double");
CADRE_DETAIL_TYPE_NAME(long double, "long double");
CADRE_DETAIL_TYPE_NAME(std::string, "std::string");
CADRE_DETAIL_TYPE_NAME(std::monostate, "std::monostate");
#undef CADRE_DETAIL_TYPE_NAME

/// Name of a string of other characters.
template <class C, class Tr, class A>
struct TypeName<std::basic_string<C, Tr, A>> {
  /// The name.
  static std::string get() { return "std::basic_string<" + type_name<C>() + ">"; }
};
/// Name of a vector.
template <class E, class A>
struct TypeName<std::vector<E, A>> {
  /// The name.
  static std::string get() { return "std::vector<" + type_name<E>() + ">"; }
};
/// Name of a deque.
template <class E, class A>
struct TypeName<std::deque<E, A>> {
  /// The name.
  static std::string get() { return "std::deque<" + type_name<E>() + ">"; }
};
/// Name of a list.
template <class E, class A>
struct TypeName<std::list<E, A>> {
  /// The name.
  static std::string get() { return "std::list<" + type_name<E>() + ">"; }
};
/// Name of an array.
template <class E, std::size_t N>
struct TypeName<std::array<E, N>> {
  /// The name.
  static std::string get() {
    return "std::array<" + type_name<E>() + ", " + std::to_string(N) + ">";
  }
};
/// Name of a map.
template <class K, class V, class C, class A>
struct TypeName<std::map<K, V, C, A>> {
  /// The name.
  static std::string get() { return "std::map<" + type_name_list<K, V>() + ">"; }
};
/// Name of a multimap.
template <class K, class V, class C, class A>
struct TypeName<std::multimap<K, V, C, A>> {
  /// The name.
  static std::string get() { return "std::multimap<" + type_name_list<K, V>() + ">"; }
};
/// Name of an unordered map.
template <class K, class V, class H, class E, class A>
struct TypeName<std::unordered_map<K, V, H, E, A>> {
  /// The name.
  static std::string get() { return "std::unordered_map<" + type_name_list<K, V>() + ">"; }
};
/// Name of an unordered multimap.
template <class K, class V, class H, class E, class A>
struct TypeName<std::unordered_multimap<K, V, H, E, A>> {
  /// The name.
  static std::string get() { return "std::unordered_multimap<" + type_name_list<K, V>() + ">"; }
};
/// Name of a set.
template <class K, class C, class A>
struct TypeName<std::set<K, C, A>> {
  /// The name.
  static std::string get() { return "std::set<" + type_name<K>() + ">"; }
};
/// Name of a multiset.
template <class K, class C, class A>
struct TypeName<std::multiset<K, C, A>> {
  /// The name.
  static std::string get() { return "std::multiset<" + type_name<K>() + ">"; }
};
/// Name of an unordered set.
template <class K, class H, class E, class A>
struct TypeName<std::unordered_set<K, H, E, A>> {
  /// The name.
  static std::string get() { return "std::unordered_set<" + type_name<K>() + ">"; }
};
/// Name of an unordered multiset.
template <class K, class H, class E, class A>
struct TypeName<std::unordered_multiset<K, H, E, A>> {
  /// The name.
  static std::string get() { return "std::unordered_multiset<" + type_name<K>() + ">"; }
};
/// Name of a pair.
template <class F, class S>
struct TypeName<std::pair<F, S>> {
  /// The name.
  static std::string get() { return "std::pair<" + type_name_list<F, S>() + ">"; }
};
/// Name of a tuple.
template <class... E>
struct TypeName<std::tuple<E...>> {
  /// The name.
  static std::string get() { return "std::tuple<" + type_name_list<E...>() + ">"; }
};
/// Name of a variant.
template <class... E>
struct TypeName<std::variant<E...>> {
  /// The name.
  static std::string get() { return "std::variant<" + type_name_list<E...>() + ">"; }
};
/// Name of an optional.
template <class E>
struct TypeName<std::optional<E>> {
  /// The name.
  static std::string get() { return "std::optional<" + type_name<E>() + ">"; }
};

// ---- output archive -------------------------------------------------------------------------

/// Appends the binary encoding of values to a ByteBuffer. Implements the saving side of
/// Boost.Serialization's archive concept, so user `serialize` / `save` functions work.
class OutArchive {
 public:
  /// Boost.Serialization protocol: this archive saves.
  using is_saving = boost::mpl::true_;
  /// Boost.Serialization protocol: this archive does not load.
  using is_loading = boost::mpl::false_;

  /// Appends to `out` (existing bytes are kept).
  explicit OutArchive(ByteBuffer& out) : out_(&out), start_(out.size()) {}

  /// Writes `v`. Throws PayloadTooLarge if a count or string length exceeds 2^32 - 1.
  template <class T>
  OutArchive& operator&(const T& v) {
    save(v);
    return *this;
  }

  /// Writes `v` (same as operator&).
  template <class T>
  OutArchive& operator<<(const T& v) {
    save(v);
    return *this;
  }

  /// Appends `n` raw bytes.
  void write_bytes(const void* p, std::size_t n) { out_->append(p, n); }

  /// Boost.Serialization protocol: appends `n` raw bytes.
  void save_binary(const void* p, std::size_t n) { write_bytes(p, n); }

  /// Bytes appended since this archive was constructed.
  std::size_t bytes_written() const { return out_->size() - start_; }

  /// Boost.Serialization protocol: the archive library version (that of Boost 1.74's archives).
  unsigned get_library_version() const { return 18; }

  /// Boost.Serialization protocol: no-op (cadre puts no pointers on the wire).
  template <class T>
  void register_type(const T* = nullptr) {}

  /// The buffer being appended to.
  ByteBuffer& buffer() { return *out_; }

  /// Writes one value (the dispatch behind operator& and operator<<).
  template <class T>
  void save(const T& v);

 private:
  template <class T>
  void put(const T& v) {
    std::memcpy(out_->grow(sizeof(T)), &v, sizeof(T));
  }

  template <class C>
  void put_count(std::size_t n) {
    if (n > std::numeric_limits<std::uint32_t>::max()) [[unlikely]] {
      throw PayloadTooLarge(fmt::format("{}: {} elements exceed the wire limit of {}",
                                        type_name<C>(), n,
                                        std::numeric_limits<std::uint32_t>::max()));
    }
    put(static_cast<std::uint32_t>(n));
  }

  template <class E>
  void save_elements(const E* p, std::size_t n) {
    if constexpr (is_memcpy_safe_v<E>) {
      write_bytes(p, n * sizeof(E));
    } else {
      for (std::size_t i = 0; i < n; ++i) save(p[i]);
    }
  }

  ByteBuffer* out_;
  std::size_t start_;
};

template <class T>
void OutArchive::save(const T& v) {
  using U = std::remove_cv_t<T>;
  static_assert(!std::is_pointer_v<U>,
                "cadre puts no pointers on the wire: serialise the pointee instead");
  if constexpr (std::is_same_v<U, bool>) {
    put(static_cast<std::uint8_t>(v ? 1 : 0));
  } else if constexpr (is_memcpy_safe_v<U>) {
    put(v);
  } else if constexpr (std::is_enum_v<U>) {
    put(static_cast<std::underlying_type_t<U>>(v));
  } else if constexpr (WireString<U>) {
    put_count<U>(v.size());
    write_bytes(v.data(), v.size() * sizeof(typename U::value_type));
  } else if constexpr (is_vector_of_bool<U>::value) {
    put_count<U>(v.size());
    char* p = out_->grow(v.size());
    for (bool b : v) *p++ = b ? 1 : 0;
  } else if constexpr (is_specialization_v<U, std::vector>) {
    put_count<U>(v.size());
    save_elements(v.data(), v.size());
  } else if constexpr (WireSequence<U> || WireSet<U>) {
    put_count<U>(v.size());
    for (const auto& e : v) save(e);
  } else if constexpr (WireMap<U>) {
    put_count<U>(v.size());
    for (const auto& [k, m] : v) {
      save(k);
      save(m);
    }
  } else if constexpr (is_std_array<U>::value) {
    save_elements(v.data(), v.size());
  } else if constexpr (std::is_bounded_array_v<U>) {
    save_elements(&v[0], std::extent_v<U>);
  } else if constexpr (is_specialization_v<U, std::pair>) {
    save(v.first);
    save(v.second);
  } else if constexpr (is_specialization_v<U, std::tuple>) {
    std::apply([&](const auto&... e) { (save(e), ...); }, v);
  } else if constexpr (is_specialization_v<U, std::optional>) {
    put(static_cast<std::uint8_t>(v.has_value() ? 1 : 0));
    if (v) save(*v);
  } else if constexpr (is_specialization_v<U, std::variant>) {
    if (v.valueless_by_exception()) {
      throw Error(type_name<U>() + ": cannot encode a variant that is valueless by exception");
    }
    put(static_cast<variant_index_t<U>>(v.index()));
    std::visit([&](const auto& alt) { save(alt); }, v);
  } else if constexpr (std::is_same_v<U, std::monostate>) {
    // nothing on the wire
  } else if constexpr (is_specialization_v<U, std::chrono::duration>) {
    save(v.count());
  } else if constexpr (is_specialization_v<U, boost::serialization::nvp>) {
    save(v.const_value());
  } else if constexpr (is_array_wrapper<U>::value) {
    save_elements(v.address(), v.count());
  } else if constexpr (std::is_same_v<U, boost::serialization::binary_object>) {
    write_bytes(v.m_t, v.m_size);
  } else {
    static_assert(std::is_class_v<U>, "cadre cannot serialise this type");
    boost::serialization::serialize_adl(*this, const_cast<U&>(v),
                                        boost::serialization::version<U>::value);
  }
}

// ---- input archive --------------------------------------------------------------------------

/// Decodes values from a byte range with every read bounded: each read checks the bytes left,
/// and each string length and collection count is checked against the bytes left (count times
/// the least encoded size of an element) before anything is allocated. Any failure throws
/// cadre::DecodeError naming the type and the numbers involved. Implements the loading side of
/// Boost.Serialization's archive concept. User types nested deeper than max_depth() (recursive
/// types on hostile input) are refused too, so decoding cannot overflow the stack.
///
/// Limitations: a collection of elements that encode to zero bytes (std::monostate, empty
/// structs) can only be decoded if its count is at most the bytes left after it; an enum
/// without a fixed underlying type accepts any value of its underlying type.
class InArchive {
 public:
  /// Boost.Serialization protocol: this archive does not save.
  using is_saving = boost::mpl::false_;
  /// Boost.Serialization protocol: this archive loads.
  using is_loading = boost::mpl::true_;

  /// Default bound on the nesting of user types (see max_depth()). Each level of a recursive
  /// user type costs roughly 0.3 KiB of stack (-O2) to 1.6 KiB (ASan), and decoding may run on
  /// small fiber stacks.
  static constexpr unsigned kDefaultMaxDepth = 64;

  /// Reads from the `n` bytes at `p` (which must outlive the archive).
  InArchive(const char* p, std::size_t n) : begin_(p), cur_(p), end_(p + n) {}

  /// Reads into `v` (replacing its contents).
  template <class T>
  InArchive& operator&(T& v) {
    load(v);
    return *this;
  }

  /// Reads into `v` (same as operator&).
  template <class T>
  InArchive& operator>>(T& v) {
    load(v);
    return *this;
  }

  /// Copies the next `n` raw bytes to `dst`; DecodeError if fewer are left.
  void read_bytes(void* dst, std::size_t n) {
    if (n > remaining()) [[unlikely]]
      fail_short("bytes", n);
    if (n != 0) std::memcpy(dst, cur_, n);
    cur_ += n;
  }

  /// Boost.Serialization protocol: copies the next `n` raw bytes to `dst`.
  void load_binary(void* dst, std::size_t n) { read_bytes(dst, n); }

  /// Bytes not read yet.
  std::size_t remaining() const { return static_cast<std::size_t>(end_ - cur_); }

  /// Bytes read so far.
  std::size_t consumed() const { return static_cast<std::size_t>(cur_ - begin_); }

  /// Throws DecodeError if any bytes are left unread.
  void expect_end() const {
    if (cur_ != end_) [[unlikely]] {
      throw DecodeError(fmt::format("decode: {} trailing bytes after the value (read {} of {})",
                                    remaining(), consumed(), consumed() + remaining()));
    }
  }

  /// The deepest nesting of user-defined types accepted (default kDefaultMaxDepth).
  unsigned max_depth() const { return max_depth_; }
  /// Changes the nesting bound of user-defined types.
  void set_max_depth(unsigned d) { max_depth_ = d; }

  /// Boost.Serialization protocol: the archive library version (that of Boost 1.74's archives).
  unsigned get_library_version() const { return 18; }

  /// Boost.Serialization protocol: no-op (cadre puts no pointers on the wire).
  template <class T>
  void register_type(const T* = nullptr) {}

  /// Boost.Serialization protocol: no-op (no object tracking).
  void reset_object_address(const void*, const void*) {}

  /// Reads one value (the dispatch behind operator& and operator>>).
  template <class T>
  void load(T& v);

  /// Reads one value of T by value (T must be default-constructible).
  template <class T>
  T read() {
    T v{};
    load(v);
    return v;
  }

 private:
  [[noreturn, gnu::cold, gnu::noinline]] void fail_short(const std::string& what,
                                                         std::size_t need) const {
    throw DecodeError(fmt::format("{}: needs {} bytes, {} left (at byte {} of {})", what, need,
                                  remaining(), consumed(), consumed() + remaining()));
  }

  template <class T>
  [[noreturn, gnu::cold, gnu::noinline]] void fail_short_of(std::size_t need) const {
    fail_short(type_name<T>(), need);
  }

  [[noreturn, gnu::cold, gnu::noinline]] void fail(const std::string& msg) const {
    throw DecodeError(
        fmt::format("{} (at byte {} of {})", msg, consumed(), consumed() + remaining()));
  }

  // Reads sizeof(P) bytes as a P; `Of` names what is being decoded in the error message.
  template <class P, class Of = P>
  P get() {
    if (sizeof(P) > remaining()) [[unlikely]]
      fail_short_of<Of>(sizeof(P));
    P v;
    std::memcpy(&v, cur_, sizeof(P));
    cur_ += sizeof(P);
    return v;
  }

  // Reads a uint32 count for container C of elements encoded in at least ElemMin bytes (taken
  // as 1 when 0), and checks that many elements can fit in the bytes left.
  template <class C, std::size_t ElemMin>
  std::size_t get_count() {
    if (4 > remaining()) [[unlikely]]
      fail(type_name<C>() + ": count needs 4 bytes, " + std::to_string(remaining()) + " left");
    std::uint32_t n;
    std::memcpy(&n, cur_, 4);
    cur_ += 4;
    constexpr std::size_t m = ElemMin > 0 ? ElemMin : 1;
    if (n > remaining() / m) [[unlikely]] {
      fail(fmt::format("{}: count {} needs {} bytes, {} left", type_name<C>(), n,
                       std::uint64_t{n} * m, remaining()));
    }
    return n;
  }

  // An upper bound for reserve() that never allocates much more than the input holds.
  template <class E>
  std::size_t reserve_bound(std::size_t n) const {
    std::size_t budget = remaining() > 4096 ? remaining() : 4096;
    std::size_t cap = budget / (sizeof(E) > 0 ? sizeof(E) : 1);
    return n < cap ? n : cap;
  }

  // Reads a byte that must be 0 or 1; `Of` and `what` name it in the error message.
  template <class Of>
  std::uint8_t get_flag(const char* what) {
    auto b = get<std::uint8_t, Of>();
    if (b > 1) [[unlikely]] {
      fail(fmt::format("{}: {} {} is not 0 or 1", type_name<Of>(), what, b));
    }
    return b;
  }

  template <class E>
  void load_elements(E* p, std::size_t n) {
    if constexpr (is_memcpy_safe_v<E>) {
      if (n > remaining() / sizeof(E)) [[unlikely]]
        fail_short_of<E>(n * sizeof(E));
      if (n != 0) std::memcpy(static_cast<void*>(p), cur_, n * sizeof(E));
      cur_ += n * sizeof(E);
    } else {
      for (std::size_t i = 0; i < n; ++i) load(p[i]);
    }
  }

  template <class V, std::size_t... I>
  void load_variant_alternative(V& v, std::size_t index, std::index_sequence<I...>) {
    (void)((index == I ? (load(v.template emplace<I>()), true) : false) || ...);
  }

  template <class C>
  void insert_checked(C& c, typename C::value_type&& e, std::size_t i) {
    std::size_t before = c.size();
    c.emplace_hint(c.end(), std::move(e));
    if constexpr (has_unique_keys_v<C>) {
      if (c.size() == before) [[unlikely]] {
        fail(fmt::format("{}: element {} repeats a key", type_name<C>(), i));
      }
    }
  }

  const char* begin_;
  const char* cur_;
  const char* end_;
  unsigned depth_ = 0;
  unsigned max_depth_ = kDefaultMaxDepth;
};

template <class T>
void InArchive::load(T& v) {
  using U = std::remove_cv_t<T>;
  static_assert(!std::is_pointer_v<U>,
                "cadre puts no pointers on the wire: serialise the pointee instead");
  if constexpr (std::is_same_v<U, bool>) {
    v = get_flag<bool>("byte value") != 0;
  } else if constexpr (is_memcpy_safe_v<U>) {
    static_assert(!std::is_const_v<T>, "cannot decode into a const object");
    if (sizeof(U) > remaining()) [[unlikely]]
      fail_short_of<U>(sizeof(U));
    std::memcpy(static_cast<void*>(&v), cur_, sizeof(U));
    cur_ += sizeof(U);
  } else if constexpr (std::is_enum_v<U>) {
    v = static_cast<U>(get<std::underlying_type_t<U>, U>());
  } else if constexpr (WireString<U>) {
    using C = typename U::value_type;
    std::size_t n = get_count<U, sizeof(C)>();
    v.resize(n);
    if (n != 0) std::memcpy(v.data(), cur_, n * sizeof(C));
    cur_ += n * sizeof(C);
  } else if constexpr (is_vector_of_bool<U>::value) {
    std::size_t n = get_count<U, 1>();
    v.clear();
    v.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      v.push_back(get_flag<U>("element byte value") != 0);
    }
  } else if constexpr (is_block_vector<U>::value) {
    using E = typename U::value_type;
    std::size_t n = get_count<U, sizeof(E)>();
    v.resize(n);
    if (n != 0) std::memcpy(static_cast<void*>(v.data()), cur_, n * sizeof(E));
    cur_ += n * sizeof(E);
  } else if constexpr (WireSequence<U>) {
    using E = typename U::value_type;
    std::size_t n = get_count<U, min_wire_size<E>()>();
    v.clear();
    if constexpr (is_specialization_v<U, std::vector>) v.reserve(reserve_bound<E>(n));
    for (std::size_t i = 0; i < n; ++i) load(v.emplace_back());
  } else if constexpr (WireMap<U>) {
    using K = typename U::key_type;
    using M = typename U::mapped_type;
    std::size_t n = get_count<U, min_wire_size<K>() + min_wire_size<M>()>();
    v.clear();
    if constexpr (is_hashed_v<U>) v.reserve(reserve_bound<typename U::value_type>(n));
    for (std::size_t i = 0; i < n; ++i) {
      std::pair<K, M> e{};
      load(e.first);
      load(e.second);
      insert_checked(v, typename U::value_type(std::move(e.first), std::move(e.second)), i);
    }
  } else if constexpr (WireSet<U>) {
    using K = typename U::key_type;
    std::size_t n = get_count<U, min_wire_size<K>()>();
    v.clear();
    if constexpr (is_hashed_v<U>) v.reserve(reserve_bound<K>(n));
    for (std::size_t i = 0; i < n; ++i) {
      K k{};
      load(k);
      insert_checked(v, std::move(k), i);
    }
  } else if constexpr (is_std_array<U>::value) {
    load_elements(v.data(), v.size());
  } else if constexpr (std::is_bounded_array_v<U>) {
    load_elements(&v[0], std::extent_v<U>);
  } else if constexpr (is_specialization_v<U, std::pair>) {
    load(v.first);
    load(v.second);
  } else if constexpr (is_specialization_v<U, std::tuple>) {
    std::apply([&](auto&... e) { (load(e), ...); }, v);
  } else if constexpr (is_specialization_v<U, std::optional>) {
    if (get_flag<U>("presence byte")) {
      load(v.emplace());
    } else {
      v.reset();
    }
  } else if constexpr (is_specialization_v<U, std::variant>) {
    using I = variant_index_t<U>;
    std::size_t index = get<I, U>();
    if (index >= std::variant_size_v<U>) [[unlikely]] {
      fail(fmt::format("{}: alternative index {} out of range (size {})", type_name<U>(), index,
                       std::variant_size_v<U>));
    }
    load_variant_alternative(v, index, std::make_index_sequence<std::variant_size_v<U>>{});
  } else if constexpr (std::is_same_v<U, std::monostate>) {
    // nothing on the wire
  } else if constexpr (is_specialization_v<U, std::chrono::duration>) {
    v = U(read<typename U::rep>());
  } else if constexpr (is_specialization_v<U, boost::serialization::nvp>) {
    load(v.value());  // nvp refers to the real object; value() is usable through const
  } else if constexpr (is_array_wrapper<U>::value) {
    load_elements(v.address(), v.count());
  } else if constexpr (std::is_same_v<U, boost::serialization::binary_object>) {
    read_bytes(const_cast<void*>(v.m_t), v.m_size);
  } else {
    static_assert(std::is_class_v<U>, "cadre cannot deserialise this type");
    static_assert(!std::is_const_v<T>, "cannot decode into a const object");
    if (depth_ >= max_depth_) [[unlikely]] {
      fail(fmt::format("{}: user types nested deeper than {}", type_name<U>(), max_depth_));
    }
    ++depth_;
    struct Unnest {
      unsigned& d;
      ~Unnest() { --d; }
    } unnest{depth_};
    boost::serialization::serialize_adl(*this, v, boost::serialization::version<U>::value);
  }
}

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
