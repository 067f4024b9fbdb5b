#pragma once
/// \file in_archive.hpp
/// The bounded input archive (part of cadre/detail/archive.hpp).

// The standard and Boost headers the archives use come with archive_traits.hpp.

#include "cadre/detail/archive_traits.hpp"
#include "cadre/detail/type_names.hpp"

namespace cadre::detail {

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

}  // namespace cadre::detail

// InArchive::load, what each kind of type reads:
#include "cadre/detail/in_archive_load.hpp"  // IWYU pragma: export
