#pragma once
/// \file type_names.hpp
/// Readable type names for error messages (part of cadre/detail/archive.hpp).

// The standard and Boost headers the archives use come with archive_traits.hpp.

#include "cadre/detail/archive_traits.hpp"

namespace cadre::detail {

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

}  // namespace cadre::detail
