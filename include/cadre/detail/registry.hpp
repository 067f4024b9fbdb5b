#pragma once
/// \file registry.hpp
/// Registration of tasks and message types: code never travels, names do. Every binary builds
/// the same table from CADRE_TASK / CADRE_MESSAGE at static-initialisation time; ids derive
/// from the name and a signature hash, so different programs interoperate on shared names.

#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "cadre/detail/archive.hpp"
#include "cadre/detail/buffer.hpp"

namespace cadre::detail {

/// FNV-1a, 64 bit: stable across binaries and compilers.
constexpr std::uint64_t fnv1a64(std::string_view s, std::uint64_t h = 0xcbf29ce484222325ull) {
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

/// Demangled name of a type ("std::vector<int, std::allocator<int> >").
std::string type_name(const std::type_info&);

enum class EntryKind : std::uint8_t { task = 1, message = 2 };

struct Entry;

/// Runs one registered task (`self`, its entry): decodes its arguments from `in`, sets
/// `*decoded`, calls it and encodes its result into `out`. Exceptions propagate; `*decoded`
/// tells whether they came from the arguments (false) or from the task (true).
using Invoker = void (*)(const Entry& self, InArchive& in, OutArchive& out, bool* decoded);

/// One registered name.
struct Entry {
  EntryKind kind;
  std::string name;
  std::string signature;  // demangled, human-readable
  std::uint64_t id;       // fnv1a64(name) mixed with fnv1a64(signature)
  const void*
      key;         // function address (tasks; a native node's handler record) or &typeid (messages)
  Invoker invoke;  // tasks only
  const char* where;  // file:line of the registration
};

/// Adds an entry (static initialisation; never throws: problems are kept and reported when
/// the runtime starts). Returns true so that it can initialise a static.
bool add_entry(Entry e);
/// Adds an entry at run time (a native node's handler, before its node joins): returns ""
/// when added, else what is wrong (a name registered twice, colliding ids); nothing is kept.
std::string try_add_entry(Entry e);

/// The entry registered for a task function, or nullptr.
const Entry* find_task(const void* fn);
/// The entry with this id, or nullptr.
const Entry* find_id(std::uint64_t id);
/// The entry registered for a message type, or nullptr.
const Entry* find_message(const std::type_info&);
/// Throws NotRegistered naming the function, from the symbol tables of the file holding it.
[[noreturn]] void throw_task_not_registered(const void* fn);
/// Throws NotRegistered naming a message type that lacks CADRE_MESSAGE.
[[noreturn]] void throw_message_not_registered(const std::type_info& t);

template <class F>
struct Signature;
template <class R, class... A>
struct Signature<R (*)(A...)> {
  using result = R;
  using args = std::tuple<std::decay_t<A>...>;
  template <std::size_t I>
  using param = std::tuple_element_t<I, std::tuple<A...>>;
  static constexpr std::size_t arity = sizeof...(A);
};

/// Decodes the arguments of F, calls it, encodes the result (nothing for void).
template <auto F>
void invoke_task(const Entry&, InArchive& in, OutArchive& out, bool* decoded) {
  using S = Signature<decltype(F)>;
  typename S::args args;
  std::apply([&](auto&... a) { ((in & a), ...); }, args);
  *decoded = true;
  // By-value parameters get their argument moved in; reference parameters bind to it.
  auto call = [&]<std::size_t... I>(std::index_sequence<I...>)->decltype(auto) {
    return F(static_cast<typename S::template param<I>&&>(std::get<I>(args))...);
  };
  if constexpr (std::is_void_v<typename S::result>) {
    call(std::make_index_sequence<S::arity>{});
  } else {
    auto r = call(std::make_index_sequence<S::arity>{});
    out << r;
  }
}

template <auto F>
std::string task_signature() {
  using S = Signature<decltype(F)>;
  return type_name(typeid(typename S::result(*)(typename S::args)));
}

inline std::uint64_t entry_id(std::string_view name, std::string_view sig) {
  return fnv1a64(sig, fnv1a64(name) ^ 0x9e3779b97f4a7c15ull);
}

template <auto F>
bool register_task(const char* name, const char* where) {
  std::string sig = task_signature<F>();
  std::uint64_t id = entry_id(name, sig);
  return add_entry(Entry{EntryKind::task, name, std::move(sig), id,
                         reinterpret_cast<const void*>(F), &invoke_task<F>, where});
}

template <class T>
bool register_message(const char* name, const char* where) {
  std::string sig = type_name(typeid(T));
  std::uint64_t id = entry_id(name, sig);
  return add_entry(Entry{EntryKind::message, name, std::move(sig), id, &typeid(T), nullptr, where});
}

/// Remembers `name` as the readable name of the standard type whose message id is `id`, so
/// that messages of that id can be named in reports; returns `id`. Any thread.
std::uint64_t note_std_message(std::uint64_t id, std::string name);
/// The readable name of the message type with id `id`: a registered type's name, a standard
/// type's ("int", "std::string"), or "an unknown type (id 0x...)". Any thread.
std::string message_type_name(std::uint64_t id);
/// `name` with its indefinite article: "an int", "a std::string".
std::string with_article(const std::string& name);
/// The task this binary registered under `name`, or nullptr. Any thread.
const Entry* find_task_named(std::string_view name);

}  // namespace cadre::detail

#define CADRE_DETAIL_CAT2(a, b) a##b
#define CADRE_DETAIL_CAT(a, b) CADRE_DETAIL_CAT2(a, b)
#define CADRE_DETAIL_STR2(x) #x
#define CADRE_DETAIL_STR(x) CADRE_DETAIL_STR2(x)

/// Registers a function as a task (or process body) under its name. Use at namespace scope.
#define CADRE_TASK(fn)                                                             \
  [[maybe_unused]] static const bool CADRE_DETAIL_CAT(cadre_task_reg_, __LINE__) = \
      ::cadre::detail::register_task<&fn>(#fn, __FILE__ ":" CADRE_DETAIL_STR(__LINE__))

/// Registers a user type that is sent to mailboxes. Use at namespace scope.
#define CADRE_MESSAGE(T)                                                              \
  [[maybe_unused]] static const bool CADRE_DETAIL_CAT(cadre_message_reg_, __LINE__) = \
      ::cadre::detail::register_message<T>(#T, __FILE__ ":" CADRE_DETAIL_STR(__LINE__))
