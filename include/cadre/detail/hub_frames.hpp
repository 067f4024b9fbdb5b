#pragma once
/// \file hub_frames.hpp
/// What travels between a hub and its clients, and spawn_hub's checks of a body and its
/// arguments (the plumbing behind cadre/hub.hpp).

#include <cstddef>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "cadre/detail/archive.hpp"
#include "cadre/detail/buffer.hpp"
#include "cadre/detail/future_state.hpp"
#include "cadre/detail/mail.hpp"
#include "cadre/detail/registry.hpp"
#include "cadre/ids.hpp"
#include "cadre/process.hpp"

namespace cadre {

template <class In, class Out>
class Hub;

namespace detail {

// -- frames -------------------------------------------------------------------------------
// A client says hello (with its channel's types) when it first uses its channel, then writes
// HubIn frames; the hub answers with HubOut frames, or with HubRefused when the channel's
// types are not the hub's. The hub and client fields name the two ends, so a frame that
// reaches the wrong process is recognised and dropped.

/// Client to hub, once per client process: its channel's In and Out types, by name.
struct HubHello {
  Pid hub;
  Pid client;
  std::string in;
  std::string out;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& hub& client& in& out;
  }
};
/// Client to hub: one value the client wrote.
template <class In>
struct HubIn {
  Pid hub;
  Pid client;
  In data{};
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& hub& client& data;
  }
};
/// Hub to client: one value the hub sent.
template <class Out>
struct HubOut {
  Pid hub;
  Out data{};
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& hub& data;
  }
};
/// Hub to client: the channel of types `in`, `out` does not have the hub's (`why` says how).
struct HubRefused {
  Pid hub;
  std::string in;
  std::string out;
  std::string why;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& hub& in& out& why;
  }
};
template <>
struct is_std_message<HubHello> : std::true_type {};
template <class In>
struct is_std_message<HubIn<In>> : std::true_type {};
template <class Out>
struct is_std_message<HubOut<Out>> : std::true_type {};
template <>
struct is_std_message<HubRefused> : std::true_type {};

/// Sends a message of type Frame made of `fields` (Frame's members, in order) without
/// building a Frame: the archive writes members back to back, so the bytes are Frame's, and
/// the value the caller holds is not copied first.
template <class Frame, class... F>
void send_fields(Pid to, const F&... fields) {
  thread_local ByteBuffer scratch;  // send_bytes keeps the bytes itself if it must wait
  scratch.clear();
  OutArchive ar(scratch);
  ((ar << fields), ...);
  send_bytes(to, message_type_id<Frame>(), scratch.data(), scratch.size());
}

// -- the runtime's side (runtime/api/hub_api.cpp) -------------------------------------------

/// Spawns a process running `e` whose end completes `done` (error: the reason).
Pid spawn_watched(const Placement& where, const Entry* e, ByteBuffer&& args,
                  std::shared_ptr<ResultState<void>> done);
/// The hub `hub` (types `in`, `out`) refuses `h`: logs a warning naming both ends and both
/// pairs of types, and sends the client a HubRefused saying the same.
void hub_refuse(Pid hub, const HubHello& h, const std::string& in, const std::string& out);
/// Logs a warning: hub `hub` dropped a frame from `client` (`why`).
void hub_drop(Pid hub, Pid client, const std::string& why);
/// Throws Error for a refusal the client `what` (the call) received.
[[noreturn]] void throw_hub_refused(const HubRefused& r, const char* what);

// -- spawn_hub's checks -------------------------------------------------------------------

/// A hub body's parameters P...: is the first `Hub<In, Out>&`, and what the others take.
template <class In, class Out, class... P>
struct HubParams {
  static constexpr bool hub_first = false;
  static constexpr std::size_t arity = 0;
  using args = std::tuple<>;
};
template <class In, class Out, class H, class... P>
struct HubParams<In, Out, H, P...> {
  static constexpr bool hub_first = std::is_same_v<H, Hub<In, Out>&>;
  static constexpr std::size_t arity = sizeof...(P);
  using args = std::tuple<std::decay_t<P>...>;
};

/// True when each of A converts to the parameter type in its place in Args (same count).
template <class Args, class... A>
constexpr bool hub_args_convert() {
  if constexpr (std::tuple_size_v<Args> != sizeof...(A)) {
    return false;
  } else {
    return []<std::size_t... I>(std::index_sequence<I...>) {
      return (std::is_constructible_v<std::tuple_element_t<I, Args>, A> && ...);
    }
    (std::index_sequence_for<A...>{});
  }
}

/// The encoded arguments of a hub body: each converted to its parameter type (the Hub
/// itself encodes to nothing; the node that runs the body makes a fresh one).
template <class Args, class... A>
ByteBuffer encode_hub_args(A&&... args) {
  ByteBuffer buf;
  OutArchive ar(buf);
  Args converted(std::forward<A>(args)...);
  std::apply([&](auto&... a) { ((ar & a), ...); }, converted);
  return buf;
}

}  // namespace detail
}  // namespace cadre
