#pragma once
/// \file receive.hpp
/// Mailboxes and selective receive: the messages in a mailbox, matchers (match, on_down,
/// on_exit), receive, try_receive and receive_loop.

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
#include "cadre/detail/future_state.hpp"
#include "cadre/detail/mail.hpp"
#include "cadre/detail/receive_report.hpp"
#include "cadre/detail/registry.hpp"
#include "cadre/errors.hpp"
#include "cadre/ids.hpp"
#include "cadre/termination.hpp"

namespace cadre {

namespace detail {

/// The calling process's mailbox, as receive() walks it.
class MailboxCursor {
 public:
  /// Binds to the calling process (fiber or driver); throws WrongRole elsewhere.
  explicit MailboxCursor(std::optional<std::chrono::steady_clock::time_point> deadline);
  /// Ends the handling of the message consume() took: sender() is what it was before.
  ~MailboxCursor() {
    if (handled_) end_handling();
  }
  MailboxCursor(const MailboxCursor&) = delete;
  MailboxCursor& operator=(const MailboxCursor&) = delete;
  /// The next message not yet looked at by this receive, or nullptr.
  Mail* next();
  /// Removes the message last returned by next() and hands it over.
  Mail take();
  /// Removes the message last returned by next() (handled); a call becomes the one to answer
  /// with reply(), and its sender is sender() until this cursor ends.
  void consume();
  /// Drops the message last returned by next(): it could not be decoded as `type` (`why`).
  /// Reports it, naming the type and the sender.
  void drop_malformed(const std::string& type, const std::string& why);
  /// Waits for more messages; false when the deadline passed.
  bool wait();
  /// A receive that waited `waited` (> 0) ran out of time: warns, at most once a second per
  /// process, when the mailbox holds messages no matcher accepted; `waiting_for()` names the
  /// matchers' types (called only to warn).
  void timed_out(std::chrono::nanoseconds waited, std::string (*waiting_for)());

 private:
  void end_handling();

  void* proc_;
  std::size_t index_ = 0;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  bool handled_ = false;        // consume() made this message's sender sender()
  bool prev_handling_ = false;  // sender() before it (an enclosing handler's)
  Pid prev_sender_;
};

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
    cur.drop_malformed(type_name<typename M::value_type>(), e.what());
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

/// The receive loop: `waited` > 0 is the timeout to report when the deadline passes with
/// messages no matcher accepted (0: no report, as for polls).
template <class R, class... M>
std::optional<Stored<R>> receive_impl(std::optional<std::chrono::steady_clock::time_point> deadline,
                                      std::chrono::nanoseconds waited, M&... ms) {
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
    if (!cur.wait()) {
      if (waited.count() > 0) cur.timed_out(waited, &matcher_names<M...>);
      return std::nullopt;
    }
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

/// Inside a receive handler (match, on_down, on_exit; receive_loop's too): the pid that sent
/// the message being handled (for a Down or an Exit, the process that ended; the null pid for
/// a message sent from a thread that is no process). Throws WrongRole outside a handler.
Pid sender();

/// Waits up to `timeout` (0 polls) for the oldest message some matcher accepts; the first
/// matcher that accepts it handles it; other messages stay, in order. Returns the handler's
/// value (std::optional<R>), or whether a message was handled (bool) when handlers return
/// void. Process or driver only (WrongRole elsewhere).
template <class Rep, class Per, class... M>
auto receive(std::chrono::duration<Rep, Per> timeout, M... ms) {
  detail::check_matchers<M...>();
  using R = typename detail::first_result<M...>::type;
  auto got = detail::receive_impl<R>(detail::deadline_after(timeout),
                                     detail::timeout_to_report(timeout), ms...);
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
  auto got = detail::receive_impl<R>(std::nullopt, std::chrono::nanoseconds(0), m0, ms...);
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

}  // namespace cadre
