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
#include "cadre/tasks.hpp"

namespace cadre {

// -- termination vocabulary ---------------------------------------------------------------

/// Why a process ended.
enum class Reason : std::uint8_t {
  normal,        ///< its body returned
  exception,     ///< its body threw (detail: type and what())
  no_process,    ///< it never existed or had already ended
  unknown_node,  ///< it died of an InvalidNode
  node_down,     ///< its node was lost
  killed,        ///< kill() ended it
  linked,        ///< a linked process ended abnormally
  shutdown,      ///< the runtime shut down while it ran
  overflow,      ///< its mailbox passed the bound
};
/// "normal", "exception", ...
std::string_view to_string(Reason);

/// A monitor: identifies one watch of `target` by `watcher`.
struct MonitorRef {
  Pid watcher;
  Pid target;
  std::uint64_t id = 0;
  friend auto operator<=>(const MonitorRef&, const MonitorRef&) = default;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& watcher& target& id;
  }
};

/// Delivered once to the watcher's mailbox when a monitored process ends.
struct Down {
  Pid pid;
  Reason reason = Reason::normal;
  std::string detail;
  MonitorRef ref;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& pid& reason& detail& ref;
  }
};

/// Delivered to a process that traps exits when a linked process ends.
struct Exit {
  Pid pid;
  Reason reason = Reason::normal;
  std::string detail;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& pid& reason& detail;
  }
};

namespace detail {

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

/// The id a message of type T carries; throws NotRegistered for an unregistered user type.
template <class T>
std::uint64_t message_type_id() {
  if constexpr (is_std_message<T>::value) {
    static const std::uint64_t id = fnv1a64(type_name(typeid(T)));
    return id;
  } else {
    static const Entry* e = find_message(typeid(T));
    if (!e) throw_message_not_registered(typeid(T));
    return e->id;
  }
}

// -- the runtime's side (runtime/services/processes.cpp) ---------------------------------

/// Spawns a process running registered `e` with encoded arguments. flags: 1 monitor, 2 link.
std::pair<Pid, MonitorRef> spawn_process(const Placement& where, const Entry* e, ByteBuffer&& args,
                                         std::uint8_t flags);
/// Sends an encoded message (any thread). Throws InvalidNode for a pid on an unknown node.
void send_encoded(Pid to, std::uint64_t type_id, ByteBuffer&& payload, bool is_call,
                  std::uint64_t corr);
/// send_encoded() from borrowed bytes (copied only when they must outlive the call). A
/// process or task whose link to `to`'s node is out of credit waits there, yielding.
void send_bytes(Pid to, std::uint64_t type_id, const char* p, std::size_t n);
void send_encoded_after(std::chrono::nanoseconds delay, Pid to, std::uint64_t type_id,
                        ByteBuffer&& payload);
void broadcast_encoded(NodeId node, std::uint64_t type_id, ByteBuffer&& payload);
void broadcast_all_encoded(std::uint64_t type_id, ByteBuffer&& payload);

/// The calling process's mailbox, as receive() walks it.
class MailboxCursor {
 public:
  /// Binds to the calling process (fiber or driver); throws WrongRole elsewhere.
  explicit MailboxCursor(std::optional<std::chrono::steady_clock::time_point> deadline);
  /// The next message not yet looked at by this receive, or nullptr.
  Mail* next();
  /// Removes the message last returned by next() and hands it over.
  Mail take();
  /// Removes the message last returned by next() (handled); a call becomes the one to answer
  /// with reply().
  void consume();
  /// Drops the message last returned by next() (it could not be decoded) and reports it.
  void drop_malformed(const std::string& why);
  /// Waits for more messages; false when the deadline passed.
  bool wait();

 private:
  void* proc_;
  std::size_t index_ = 0;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
};

std::uint64_t new_call_id();
void reply_encoded(std::uint64_t type_id, ByteBuffer&& payload);
/// Waits for the reply to call `corr` to `callee` (monitored); throws CallFailed / Timeout.
Mail await_reply(Pid callee, std::uint64_t corr, MonitorRef mon,
                 std::optional<std::chrono::steady_clock::time_point> deadline);

template <class T>
ByteBuffer encode_value(const T& v) {
  ByteBuffer b;
  OutArchive ar(b);
  ar& v;
  return b;
}

template <class T>
T decode_mail(const Mail& m) {
  return decode_as<T>(m.payload.data(), m.payload.size());
}

struct Always {
  template <class T>
  bool operator()(const T&) const {
    return true;
  }
};

template <class T, MailKind K, class P, class H>
struct Matcher {
  using value_type = T;
  using result_type = std::invoke_result_t<H&, const T&>;
  P pred;
  H handler;
  static constexpr MailKind kind = K;
};

template <class T>
std::chrono::steady_clock::time_point now_plus(T d) {
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
}

}  // namespace detail

// -- matchers -----------------------------------------------------------------------------

/// Accepts messages of type T; `handler(const T&)` handles them.
template <class T, class H>
auto match(H handler) {
  return detail::Matcher<T, detail::MailKind::user, detail::Always, H>{{}, std::move(handler)};
}
/// Accepts messages of type T for which `pred(const T&)` holds.
template <class T, class P, class H>
auto match(P pred, H handler) {
  return detail::Matcher<T, detail::MailKind::user, P, H>{std::move(pred), std::move(handler)};
}
/// Accepts Down notices of monitored processes.
template <class H>
auto on_down(H handler) {
  return detail::Matcher<Down, detail::MailKind::down, detail::Always, H>{{}, std::move(handler)};
}
/// Accepts Exit notices of linked processes (when trapping exits).
template <class H>
auto on_exit(H handler) {
  return detail::Matcher<Exit, detail::MailKind::exit, detail::Always, H>{{}, std::move(handler)};
}

namespace detail {

template <class M>
bool kind_and_type(const M&, const Mail& m) {
  if (m.kind != M::kind) return false;
  if constexpr (M::kind == MailKind::user) {
    return m.type_id == message_type_id<typename M::value_type>();
  } else {
    return true;
  }
}

struct Unit {};
template <class R>
using Stored = std::conditional_t<std::is_void_v<R>, Unit, R>;

/// Tries one matcher on `m`; on acceptance takes the message and runs the handler. Sets
/// `done` when the message was consumed (handled, or dropped as malformed).
template <class R, class M>
void try_matcher(M& matcher, MailboxCursor& cur, Mail& m, std::optional<Stored<R>>& out,
                 bool& done) {
  if (done || !kind_and_type(matcher, m)) return;
  std::optional<typename M::value_type> v;
  try {
    v.emplace(decode_mail<typename M::value_type>(m));
  } catch (const DecodeError& e) {
    cur.drop_malformed(e.what());
    done = true;
    return;
  }
  if (!matcher.pred(*v)) return;
  cur.consume();
  done = true;
  if constexpr (std::is_void_v<R>) {
    matcher.handler(*v);
    out.emplace();
  } else {
    out.emplace(matcher.handler(*v));
  }
}

/// Throws NotRegistered at once for a matcher of an unregistered user type (a receive that
/// could never match must not wait silently).
template <class M>
void check_registered() {
  if constexpr (M::kind == MailKind::user) (void)message_type_id<typename M::value_type>();
}

template <class R, class... M>
std::optional<Stored<R>> receive_impl(std::optional<std::chrono::steady_clock::time_point> deadline,
                                      M&... ms) {
  MailboxCursor cur(deadline);
  bool checked = false;
  for (;;) {
    while (Mail* m = cur.next()) {
      std::optional<Stored<R>> out;
      bool done = false;
      (try_matcher<R>(ms, cur, *m, out, done), ...);
      if (out) return out;
    }
    // Before the first wait (off the path of a message that matches at once): a matcher of
    // an unregistered type could never match.
    if (!checked) {
      (check_registered<M>(), ...);
      checked = true;
    }
    if (!cur.wait()) return std::nullopt;
  }
}

template <class... M>
struct first_result {
  using type = void;
};
template <class M0, class... M>
struct first_result<M0, M...> {
  using type = typename M0::result_type;
};

template <class... M>
void check_matchers() {
  using R = typename first_result<M...>::type;
  static_assert((std::is_same_v<R, typename M::result_type> && ...),
                "cadre::receive: every handler must return the same type");
  if constexpr (sizeof...(M) == 0)
    throw EmptyMatchers("cadre::receive: called with no matchers; nothing could ever match");
}

}  // namespace detail

// -- receive ------------------------------------------------------------------------------

/// Waits up to `timeout` (0 polls) for the oldest message some matcher accepts; the first
/// matcher that accepts it handles it; other messages stay, in order. Returns the handler's
/// value (std::optional<R>), or whether a message was handled (bool) when handlers return
/// void. Process or driver only (WrongRole elsewhere).
template <class Rep, class Per, class... M>
auto receive(std::chrono::duration<Rep, Per> timeout, M... ms) {
  detail::check_matchers<M...>();
  using R = typename detail::first_result<M...>::type;
  auto got = detail::receive_impl<R>(detail::deadline_after(timeout), ms...);
  if constexpr (std::is_void_v<R>) {
    return got.has_value();
  } else {
    return got;
  }
}

/// Blocks until some matcher accepts a message; returns the handler's value.
template <class M0, class... M>
auto receive(M0 m0, M... ms) {
  detail::check_matchers<M0, M...>();
  using R = typename M0::result_type;
  auto got = detail::receive_impl<R>(std::nullopt, m0, ms...);
  if constexpr (!std::is_void_v<R>) return std::move(*got);
}

/// receive(0ms, ...): never blocks.
template <class... M>
auto try_receive(M... ms) {
  return receive(std::chrono::milliseconds(0), std::move(ms)...);
}

/// Repeats receive(timeout, ...) while a handler returns true; stops at a timeout or false.
template <class Rep, class Per, class... M>
void receive_loop(std::chrono::duration<Rep, Per> timeout, M... ms) {
  detail::check_matchers<M...>();
  for (;;) {
    auto got = receive(timeout, ms...);
    if (!got || !*got) return;
  }
}

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
inline Placement placement_of(NodeId n) { return on(n); }
inline const Placement& placement_of(const Placement& p) { return p; }
}  // namespace detail

/// Starts a process running registered `body(args...)` on a node (a NodeId or a placement);
/// returns its pid once it exists. Throws NotRegistered, InvalidNode, SpawnError.
template <class W, class R, class... P, class... A>
Pid spawn(const W& where, R (*body)(P...), A&&... args) {
  auto* e = detail::task_entry(body);
  return detail::spawn_process(detail::placement_of(where), e,
                               detail::encode_args(body, std::forward<A>(args)...), 0)
      .first;
}
/// spawn() and monitor the new process atomically: {pid, monitor}.
template <class W, class R, class... P, class... A>
std::pair<Pid, MonitorRef> spawn_monitor(const W& where, R (*body)(P...), A&&... args) {
  auto* e = detail::task_entry(body);
  return detail::spawn_process(detail::placement_of(where), e,
                               detail::encode_args(body, std::forward<A>(args)...), 1);
}
/// spawn() and link the new process to the caller atomically.
template <class W, class R, class... P, class... A>
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
  // Encoded into a per-thread scratch buffer: no allocation per message.
  thread_local detail::ByteBuffer scratch;
  scratch.clear();
  detail::OutArchive ar(scratch);
  ar << msg;
  detail::send_bytes(to, detail::message_type_id<T>(), scratch.data(), scratch.size());
}
/// Sends `msg` to `to` after `delay`.
template <class Rep, class Per, class T>
void send_after(std::chrono::duration<Rep, Per> delay, Pid to, const T& msg) {
  detail::send_encoded_after(std::chrono::duration_cast<std::chrono::nanoseconds>(delay), to,
                             detail::message_type_id<T>(), detail::encode_value(msg));
}
/// Sends `msg` to every process on `node`.
template <class T>
void broadcast(NodeId node, const T& msg) {
  detail::broadcast_encoded(node, detail::message_type_id<T>(), detail::encode_value(msg));
}
/// Sends `msg` to every process on every node, down a tree of point-to-point sends.
template <class T>
void broadcast_all(const T& msg) {
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
/// CallFailed (the callee ended first or its node was lost; carries the Down reason).
template <class R, class Q, class Rep, class Per>
R call(Pid p, const Q& request, std::chrono::duration<Rep, Per> timeout) {
  MonitorRef mon = monitor(p);
  std::uint64_t corr = detail::new_call_id();
  detail::send_encoded(p, detail::message_type_id<Q>(), detail::encode_value(request), true, corr);
  detail::Mail m = detail::await_reply(p, corr, mon, detail::deadline_after(timeout));
  if constexpr (!std::is_void_v<R>) return detail::decode_mail<R>(m);
}
/// Answers the call whose request the calling process took last. A reply after the caller
/// gave up is dropped and counted, never taken for a later call.
template <class T>
void reply(const T& v) {
  detail::reply_encoded(detail::message_type_id<T>(), detail::encode_value(v));
}

}  // namespace cadre
