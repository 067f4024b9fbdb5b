#pragma once
/// \file out_archive.hpp
/// The output archive (part of cadre/detail/archive.hpp).

// The standard and Boost headers the archives use come with archive_traits.hpp.

#include "cadre/detail/archive_traits.hpp"
#include "cadre/detail/type_names.hpp"

namespace cadre::detail {

// ---- output archive -------------------------------------------------------------------------

/// A block of bytes an OutArchive left in the caller's memory instead of copying it: it
/// belongs `at` bytes into what the archive wrote (its place among the copied bytes).
struct BorrowedBytes {
  std::size_t at;    ///< offset in the archive's output where the block belongs
  const char* data;  ///< the caller's bytes (they must outlive their use)
  std::size_t size;  ///< how many
};

/// Blocks of raw bytes from this size up are borrowed by an archive that borrows.
inline constexpr std::size_t kBorrowBytes = 64 * 1024;

/// The whole encoding: the bytes of `head` with each borrowed block copied in at its place.
inline ByteBuffer join_borrowed(const ByteBuffer& head,
                                const std::vector<BorrowedBytes>& borrowed) {
  ByteBuffer whole;
  std::size_t from = 0;
  for (const BorrowedBytes& b : borrowed) {
    whole.append(head.data() + from, b.at - from);
    whole.append(b.data, b.size);
    from = b.at;
  }
  whole.append(head.data() + from, head.size() - from);
  return whole;
}

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

  /// Appends to `out`, except blocks of raw bytes of kBorrowBytes or more (a large
  /// std::vector<char>'s, a string's): those are recorded in `borrowed` (in order), not
  /// copied, and must stay unchanged until the encoding is used.
  OutArchive(ByteBuffer& out, std::vector<BorrowedBytes>& borrowed)
      : out_(&out), start_(out.size()), borrowed_(&borrowed) {}

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

  /// Appends `n` raw bytes (or borrows them: see the second constructor).
  void write_bytes(const void* p, std::size_t n) {
    if (borrowed_ && n >= kBorrowBytes) [[unlikely]]
      borrowed_->push_back({out_->size(), static_cast<const char*>(p), n});
    else
      out_->append(p, n);
  }

  /// Boost.Serialization protocol: appends `n` raw bytes.
  void save_binary(const void* p, std::size_t n) { write_bytes(p, n); }

  /// Bytes appended since this archive was constructed (borrowed ones not counted).
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
  std::vector<BorrowedBytes>* borrowed_ = nullptr;
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

}  // namespace cadre::detail
