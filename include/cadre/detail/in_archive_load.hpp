#pragma once
/// \file in_archive_load.hpp
/// InArchive::load: what the bounded input archive reads for each kind of type (part of
/// cadre/detail/archive.hpp; included by in_archive.hpp).

#include "cadre/detail/in_archive.hpp"

namespace cadre::detail {

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
    if constexpr (std::is_same_v<C, char>) {
      // Copied straight in: no zero-filling pass before the copy.
      v.assign(reinterpret_cast<const C*>(cur_), n);
    } else {
      v.resize(n);
      if (n != 0) std::memcpy(v.data(), cur_, n * sizeof(C));
    }
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
    if constexpr (std::is_same_v<E, char> || std::is_same_v<E, unsigned char> ||
                  std::is_same_v<E, std::byte>) {
      // Bytes: copied straight in, without zero-filling the vector first.
      const auto* p = reinterpret_cast<const E*>(cur_);
      v.assign(p, p + n);
    } else {
      v.resize(n);
      if (n != 0) std::memcpy(static_cast<void*>(v.data()), cur_, n * sizeof(E));
    }
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

}  // namespace cadre::detail
