#pragma once
/// \file process.hpp
/// Erlang-style processes: spawn, mailboxes with selective receive, monitors, links, kill,
/// registered names, call/reply. A process is a fiber on a node with a Pid and a mailbox; the
/// master's driver is process <0.0>.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "cadre/detail/archive.hpp"
#include "cadre/detail/buffer.hpp"
#include "cadre/detail/registry.hpp"
#include "cadre/errors.hpp"
#include "cadre/ids.hpp"
#include "cadre/receive.hpp"
#include "cadre/tasks.hpp"
#include "cadre/termination.hpp"

namespace cadre {
namespace detail {

// -- the runtime's side (runtime/api) -----------------------------------------------------

/// Spawns a process running registered `e` with encoded arguments. flags: 1 monitor, 2 link.
std::pair<Pid, MonitorRef> spawn_process(const Placement& where, const Entry* e, ByteBuffer&& args,
                                         std::uint8_t flags);
/// Sends an encoded message (any thread). Throws InvalidNode for a pid on an unknown node.
void send_encoded(Pid to, std::uint64_t type_id, ByteBuffer&& payload, bool is_call,
                  std::uint64_t corr);
/// send_encoded() from borrowed bytes (copied only when they must outlive the call). A
/// process or task whose link to `to`'s node is out of credit waits there, yielding.
void send_bytes(Pid to, std::uint64_t type_id, const char* p, std::size_t n);
/// send_bytes() of an encoding whose large blocks stayed in the message (`borrowed`, each
/// placed among the bytes of `head`): a process sending to another node waits until MPI has
/// read them in place; any other sender has them copied.
void send_borrowing(Pid to, std::uint64_t type_id, const ByteBuffer& head,
                    const std::vector<BorrowedBytes>& borrowed);
void send_encoded_after(std::chrono::nanoseconds delay, Pid to, std::uint64_t type_id,
                        ByteBuffer&& payload);
void broadcast_encoded(NodeId node, std::uint64_t type_id, ByteBuffer&& payload);
void broadcast_all_encoded(std::uint64_t type_id, ByteBuffer&& payload);

std::uint64_t new_call_id();
void reply_encoded(std::uint64_t type_id, ByteBuffer&& payload);
/// Waits for the reply to call `corr` to `callee` (monitored); throws CallFailed / Timeout.
Mail await_reply(Pid callee, std::uint64_t corr, MonitorRef mon,
                 std::optional<std::chrono::steady_clock::time_point> deadline);
/// Throws DecodeError: the reply of `callee` to call<`expected`> carries the type id `got`.
[[noreturn]] void throw_reply_type(Pid callee, const std::string& expected, std::uint64_t got);

/// Checks that reply `m` carries R's type id before it is decoded as an R. An R this binary
/// did not register (another program's type) is left to the decoder.
template <class R>
void check_reply_type(Pid callee, const Mail& m) {
  std::uint64_t id = 0;
  if constexpr (is_std_message<R>::value) {
    id = message_type_id<R>();
  } else {
    static const Entry* e = find_message(typeid(R));
    if (!e) return;
    id = e->id;
  }
  if (m.type_id != id) throw_reply_type(callee, message_type_name(id), m.type_id);
}

template <class T>
ByteBuffer encode_value(const T& v) {
  ByteBuffer b;
  OutArchive ar(b);
  ar& v;
  return b;
}

}  // namespace detail

// -- spawning -----------------------------------------------------------------------------

namespace detail {
template <class R, class... P, class... A>
ByteBuffer encode_args(R (*)(P...), A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "cadre::spawn: wrong number of arguments");
  ByteBuffer buf;
  OutArchive ar(buf);
  std::tuple<std::decay_t<P>...> converted(std::forward<A>(args)...);
  std::apply([&](auto&... a) { ((ar & a), ...); }, converted);
  return buf;
}
template <class... A>
ByteBuffer encode_named_args(A&&... args) {
  ByteBuffer buf;
  OutArchive ar(buf);
  std::tuple<std::decay_t<A>...> converted(std::forward<A>(args)...);
  std::apply([&](auto&... a) { ((ar & a), ...); }, converted);
  return buf;
}
}  // namespace detail

/// Starts a process running registered `body(args...)` on a node (a NodeId or a placement);
/// returns its pid once it exists. Throws NotRegistered, InvalidNode, SpawnError.
template <class W = Placement, class R, class... P, class... A>
Pid spawn(const W& where, R (*body)(P...), A&&... args) {
  auto* e = detail::task_entry(body);
  return detail::spawn_process(detail::placement_of(where), e,
                               detail::encode_args(body, std::forward<A>(args)...), 0)
      .first;
}
/// Starts a process running the body registered as `name` with `args`, on a node that has it
/// (another program's body may be missing here). The body's signature is `R name(A...)`
/// (`R` void unless given). Errors as run() by name.
template <class R = void, class W = Placement, class... A>
Pid spawn(const W& where, std::string_view name, A&&... args) {
  const detail::Entry* e = detail::named_task(name, detail::named_signature<R, A...>());
  return detail::spawn_process(detail::placement_of(where), e,
                               detail::encode_named_args(std::forward<A>(args)...), 0)
      .first;
}
/// spawn() and monitor the new process atomically: {pid, monitor}.
template <class W = Placement, class R, class... P, class... A>
std::pair<Pid, MonitorRef> spawn_monitor(const W& where, R (*body)(P...), A&&... args) {
  auto* e = detail::task_entry(body);
  return detail::spawn_process(detail::placement_of(where), e,
                               detail::encode_args(body, std::forward<A>(args)...), 1);
}
/// spawn() and link the new process to the caller atomically.
template <class W = Placement, class R, class... P, class... A>
Pid spawn_link(const W& where, R (*body)(P...), A&&... args) {
  auto* e = detail::task_entry(body);
  return detail::spawn_process(detail::placement_of(where), e,
                               detail::encode_args(body, std::forward<A>(args)...), 2)
      .first;
}

// -- sending ------------------------------------------------------------------------------

/// Sends `msg` to `to`'s mailbox. Never blocks the node. Messages from one process to another
/// arrive in the order sent. A pid that has ended: dropped and counted. Throws InvalidNode
/// for a node that never existed, NotRegistered for an unregistered user type. Any thread.
template <class T>
void send(Pid to, const T& msg) {
  if constexpr (detail::is_c_string_v<T>) {
    send(to, detail::c_string_message(msg, "cadre::send"));
  } else {
    // Encoded into a per-thread scratch buffer: no allocation per message.
    thread_local detail::ByteBuffer scratch;
    scratch.clear();
    if constexpr (detail::is_block_vector<T>::value || detail::WireString<T>) {
      // A large block of bytes is not copied: MPI reads it from `msg` itself (a process
      // sending to another node waits here until it has).
      if (msg.size() * sizeof(typename T::value_type) >= detail::kBorrowBytes) [[unlikely]] {
        std::vector<detail::BorrowedBytes> borrowed;
        detail::OutArchive ar(scratch, borrowed);
        ar << msg;
        detail::send_borrowing(to, detail::message_type_id<T>(), scratch, borrowed);
        return;
      }
    }
    detail::OutArchive ar(scratch);
    ar << msg;
    detail::send_bytes(to, detail::message_type_id<T>(), scratch.data(), scratch.size());
  }
}
/// Sends `msg` to `to` after `delay`.
template <class Rep, class Per, class T>
void send_after(std::chrono::duration<Rep, Per> delay, Pid to, const T& msg) {
  if constexpr (detail::is_c_string_v<T>)
    send_after(delay, to, detail::c_string_message(msg, "cadre::send_after"));
  else
    detail::send_encoded_after(std::chrono::duration_cast<std::chrono::nanoseconds>(delay), to,
                               detail::message_type_id<T>(), detail::encode_value(msg));
}
/// Sends `msg` to every process on `node`.
template <class T>
void broadcast(NodeId node, const T& msg) {
  if constexpr (detail::is_c_string_v<T>)
    broadcast(node, detail::c_string_message(msg, "cadre::broadcast"));
  else
    detail::broadcast_encoded(node, detail::message_type_id<T>(), detail::encode_value(msg));
}
/// Sends `msg` to every process on every node, down a tree of point-to-point sends.
template <class T>
void broadcast_all(const T& msg) {
  if constexpr (detail::is_c_string_v<T>)
    broadcast_all(detail::c_string_message(msg, "cadre::broadcast_all"));
  else
    detail::broadcast_all_encoded(detail::message_type_id<T>(), detail::encode_value(msg));
}

// -- monitors, links, kill, names ----------------------------------------------------------

/// Watches `p`: one Down arrives when it ends (at once, no_process, if it does not exist).
/// Throws InvalidNode for a node that never existed. Process or driver only.
MonitorRef monitor(Pid p);
/// Stops watching; also removes a Down of this monitor still in the mailbox.
void unmonitor(const MonitorRef& m);
/// Links the caller and `p`: when one ends abnormally, the other is killed (reason linked),
/// or receives an Exit if it traps exits.
void link(Pid p);
/// Removes the link between the calling process and `p` (nothing when there is none).
void unlink(Pid p);
/// Turns Exit signals of linked processes into Exit messages (instead of being killed).
void trap_exits(bool on);
/// Ends `p` with Reason::killed (detail: `reason`) at its next suspension point.
void kill(Pid p, std::string reason = "killed");
/// Names `p` across the runtime; throws Error if the name is taken by a live process.
void register_name(const std::string& name, Pid p);
/// The process registered under `name`, if it is alive.
std::optional<Pid> whereis(const std::string& name);

// -- call and reply ----------------------------------------------------------------------

/// Sends `request` to `p` and waits up to `timeout` for its reply(v). Throws Timeout,
/// CallFailed (the callee ended first or its node was lost; carries the Down reason),
/// DecodeError naming both types when the callee replied with another type than R.
template <class R, class Q, class Rep, class Per>
R call(Pid p, const Q& request, std::chrono::duration<Rep, Per> timeout) {
  if constexpr (detail::is_c_string_v<Q>) {
    return call<R>(p, detail::c_string_message(request, "cadre::call"), timeout);
  } else {
    MonitorRef mon = monitor(p);
    std::uint64_t corr = detail::new_call_id();
    detail::send_encoded(p, detail::message_type_id<Q>(), detail::encode_value(request), true,
                         corr);
    detail::Mail m = detail::await_reply(p, corr, mon, detail::deadline_after(timeout));
    if constexpr (!std::is_void_v<R>) {
      detail::check_reply_type<R>(p, m);
      return detail::decode_mail<R>(m);
    }
  }
}
/// Answers the call whose request the calling process took last. A reply after the caller
/// gave up is dropped and counted, never taken for a later call.
template <class T>
void reply(const T& v) {
  if constexpr (detail::is_c_string_v<T>)
    reply(detail::c_string_message(v, "cadre::reply"));
  else
    detail::reply_encoded(detail::message_type_id<T>(), detail::encode_value(v));
}

}  // namespace cadre
