#pragma once
/// \file mail.hpp
/// A message in a mailbox, and the type ids messages carry (standard types need no
/// registration; user types need CADRE_MESSAGE).

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "cadre/detail/buffer.hpp"
#include "cadre/detail/registry.hpp"
#include "cadre/ids.hpp"

namespace cadre::detail {

/// Message kinds in a mailbox; `taken` marks a slot whose message a selective receive took
/// from the middle (skipped, reclaimed later).
enum class MailKind : std::uint8_t { user = 0, down = 1, exit = 2, reply = 3, taken = 255 };

/// One message in a mailbox: decoded only when a matcher looks at it. 64 bytes, payloads up to
/// 24 bytes inside.
struct Mail {
  std::uint64_t type_id = 0;
  std::uint64_t corr = 0;
  std::uint32_t from_node = UINT32_MAX;  // the sender's pid, in two parts: the kind and the
  MailKind kind = MailKind::user;        // call flag fill the gap a Pid would leave
  bool is_call = false;
  std::uint64_t from_serial = 0;
  InlineBytes payload;  // short payloads stay inline (no allocation)

  /// The sender's pid.
  Pid from() const { return Pid{NodeId(from_node), from_serial}; }
  /// Sets the sender's pid.
  void set_from(Pid p) {
    from_node = p.node.value();
    from_serial = p.serial;
  }
};
static_assert(sizeof(Mail) == 64, "a mailbox slot is 64 bytes");

/// Standard library types travel without registration; their id is the hash of their name.
template <class T>
struct is_std_message : std::bool_constant<std::is_arithmetic_v<T> || std::is_enum_v<T>> {};
template <class... A>
struct is_std_message<std::basic_string<A...>> : std::true_type {};
template <class... A>
struct is_std_message<std::vector<A...>> : std::true_type {};
template <class T, std::size_t N>
struct is_std_message<std::array<T, N>> : std::true_type {};
template <class... A>
struct is_std_message<std::map<A...>> : std::true_type {};
template <class... A>
struct is_std_message<std::set<A...>> : std::true_type {};
template <class... A>
struct is_std_message<std::unordered_map<A...>> : std::true_type {};
template <class... A>
struct is_std_message<std::pair<A...>> : std::true_type {};
template <class... A>
struct is_std_message<std::tuple<A...>> : std::true_type {};
template <class... A>
struct is_std_message<std::optional<A...>> : std::true_type {};
template <class... A>
struct is_std_message<std::variant<A...>> : std::true_type {};
template <>
struct is_std_message<Pid> : std::true_type {};
template <>
struct is_std_message<NodeId> : std::true_type {};

/// True for C strings (character arrays, `const char*`, `char*`): they travel as std::string,
/// and a receiver matches std::string.
template <class T>
inline constexpr bool is_c_string_v =
    std::is_same_v<std::decay_t<T>, const char*> || std::is_same_v<std::decay_t<T>, char*>;
/// A C string as the std::string it travels as; throws Error for a null pointer, naming
/// `what` (the call).
std::string c_string_message(const char* s, const char* what);

/// The id a message of type T carries; throws NotRegistered for an unregistered user type.
template <class T>
std::uint64_t message_type_id() {
  if constexpr (is_std_message<T>::value) {
    static const std::uint64_t id = note_std_message(fnv1a64(type_name(typeid(T))), type_name<T>());
    return id;
  } else {
    static const Entry* e = find_message(typeid(T));
    if (!e) throw_message_not_registered(typeid(T));
    return e->id;
  }
}

}  // namespace cadre::detail
