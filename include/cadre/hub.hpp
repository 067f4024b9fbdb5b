#pragma once
/// \file hub.hpp
/// Hubs and channels (Async_parallel's spawn): a process with a hub serves any number of
/// clients, each talking to it through a bidirectional typed channel.
///
///   void server(cadre::Hub<Req, Resp>& hub, Config c) { ... hub.listen() ... }
///   CADRE_TASK(server);
///   auto [ch, done] = cadre::spawn_hub<Req, Resp>(cadre::any, server, config);
///   ch.write(req); Resp r = ch.read();
///
/// Hub<Msg> and Channel<Msg> are Hub<Msg, Msg> and Channel<Msg, Msg>. Channels are values:
/// send one to another process and that process becomes a client too (it connects when it
/// first uses the channel). A client that ends is disconnected.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "cadre/detail/hub_frames.hpp"
#include "cadre/detail/type_names.hpp"
#include "cadre/future.hpp"
#include "cadre/process.hpp"
#include "cadre/runtime.hpp"

namespace cadre {

/// A client connected (first used its channel).
struct Connect {
  Pid client;  ///< the client's process
};
/// A client ended.
struct Disconnect {
  Pid client;  ///< the client's process
};
/// A client wrote `msg`.
template <class Msg>
struct Data {
  Pid client;  ///< the client that wrote it
  Msg msg;     ///< what it wrote
};

/// The client's end: writes In values to the hub, reads the Out values the hub sent to this
/// process. Channel<Msg> is Channel<Msg, Msg>. Process or driver only.
template <class In, class Out = In>
class Channel {
 public:
  /// A channel to no hub.
  Channel() = default;
  /// A channel to the hub process `hub`. If that hub's types are not In and Out, the hub
  /// refuses it: reads throw Error naming both types.
  explicit Channel(Pid hub) : hub_(hub) {}

  /// The hub's process.
  Pid hub() const { return hub_; }
  /// Makes the calling process a client now (write and read do it on first use).
  void connect() {
    Pid me = self();
    if (client_ == me) return;
    client_ = me;
    send(hub_, detail::HubHello{hub_, me, detail::type_name<In>(), detail::type_name<Out>()});
  }
  /// Sends `m` to the hub. Never blocks the node.
  void write(const In& m) {
    connect();
    detail::send_fields<detail::HubIn<In>>(hub_, hub_, client_, m);
  }
  /// Blocks until the hub sends this process a message; returns it. Throws Error if the hub
  /// refused this channel (its types are not the hub's).
  Out read() {
    connect();
    return receive(from_hub(), refused("cadre::Channel::read"));
  }
  /// As read(), giving up after `timeout` (then nullopt).
  template <class Rep, class Per>
  std::optional<Out> read_for(std::chrono::duration<Rep, Per> timeout) {
    connect();
    return receive(timeout, from_hub(), refused("cadre::Channel::read_for"));
  }
  /// Only the hub's pid travels: the receiving process connects on its first use.
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& hub_;
  }

 private:
  auto from_hub() const {
    return match<detail::HubOut<Out>>(
        [h = hub_](const detail::HubOut<Out>& f) { return f.hub == h; },
        [](const detail::HubOut<Out>& f) { return f.data; });
  }
  auto refused(const char* what) const {
    // Only this channel's refusal: the process may hold a channel of other types to the hub.
    return match<detail::HubRefused>(
        [h = hub_](const detail::HubRefused& r) {
          return r.hub == h && r.in == detail::type_name<In>() && r.out == detail::type_name<Out>();
        },
        [what](const detail::HubRefused& r) -> Out { detail::throw_hub_refused(r, what); });
  }
  Pid hub_;
  Pid client_;  // the process this copy has connected for (never sent)
};

namespace detail {
template <class In, class Out>
struct is_std_message<Channel<In, Out>> : std::true_type {};
}  // namespace detail

/// The hub's end, handed to the hub process's body: it hears In values from its clients and
/// sends them Out values. Hub<Msg> is Hub<Msg, Msg>.
template <class In, class Out = In>
class Hub {
 public:
  /// What listen() yields.
  using Event = std::variant<Connect, Disconnect, Data<In>>;

  /// Blocks until a client connects, disconnects (ends) or writes. A channel whose types
  /// are not this hub's is refused (a warning here, an Error at the client's next read).
  Event listen() { return *listen_impl(std::nullopt); }
  /// As listen(), giving up after `timeout` (then nullopt).
  template <class Rep, class Per>
  std::optional<Event> listen_for(std::chrono::duration<Rep, Per> timeout) {
    return listen_impl(detail::deadline_after(timeout));
  }
  /// Sends `m` to one client.
  void send(Pid client, const Out& m) {
    detail::send_fields<detail::HubOut<Out>>(client, self(), m);
  }
  /// Sends `m` to every connected client.
  void send_to_all(const Out& m) {
    for (auto& kv : clients_) send(kv.first, m);
  }
  /// The connected clients.
  std::set<Pid> clients() const {
    std::set<Pid> s;
    for (auto& kv : clients_) s.insert(kv.first);
    return s;
  }
  /// A hub travels as nothing: the body's node makes a fresh one.
  template <class A>
  void serialize(A&, unsigned) {}

 private:
  using Step = std::optional<Event>;  // nullopt: a message handled that the body never sees

  std::optional<Event> listen_impl(std::optional<std::chrono::steady_clock::time_point> d) {
    static const std::string in_name = detail::type_name<In>();
    static const std::string out_name = detail::type_name<Out>();
    const Pid me = self();
    auto hello = match<detail::HubHello>([&](const detail::HubHello& h) -> Step {
      if (h.hub != me) return misaddressed(h.client, h.hub, "hello");
      if (h.in != in_name || h.out != out_name) {
        detail::hub_refuse(me, h, in_name, out_name);
        return std::nullopt;
      }
      if (!admit(h.client)) return std::nullopt;  // already a client
      return Event(Connect{h.client});
    });
    auto data = match<detail::HubIn<In>>([&](const detail::HubIn<In>& f) -> Step {
      if (f.hub != me) return misaddressed(f.client, f.hub, "frame");
      if (!clients_.count(f.client) && !admit(f.client)) return std::nullopt;
      return Event(Data<In>{f.client, f.data});
    });
    // Only the Downs of the clients' monitors: the body's own stay in its mailbox.
    auto is_client = [this](const Down& x) { return client_of(x.ref) != clients_.end(); };
    auto gone = [this](const Down& x) -> Step {
      auto it = client_of(x.ref);
      Pid c = it->first;
      clients_.erase(it);
      return Event(Disconnect{c});
    };
    detail::Matcher<Down, detail::MailKind::down, decltype(is_client), decltype(gone)> downs{
        is_client, gone};
    for (;;) {
      Step s;
      if (d) {
        auto left = *d - std::chrono::steady_clock::now();
        if (left < left.zero()) left = left.zero();
        auto got = receive(left, hello, data, downs);
        if (!got) return std::nullopt;
        s = std::move(*got);
      } else {
        s = receive(hello, data, downs);
      }
      if (s) return s;
    }
  }
  /// Makes `client` a client (monitored); false if it was one already or cannot be one.
  bool admit(Pid client) {
    if (clients_.count(client)) return false;
    try {
      clients_.emplace(client, monitor(client));
    } catch (const InvalidNode& e) {
      detail::hub_drop(self(), client, e.what());
      return false;
    }
    return true;
  }
  auto client_of(const MonitorRef& ref) {
    auto it = clients_.begin();
    while (it != clients_.end() && it->second.id != ref.id) ++it;
    return it;
  }
  Step misaddressed(Pid client, Pid addressed, const char* what) {
    detail::hub_drop(self(), client, fmt::format("a {} addressed to hub {}", what, addressed));
    return std::nullopt;
  }
  std::map<Pid, MonitorRef> clients_;
};

/// Starts a process running `body(hub, args...)` on a node chosen by `where`; returns a
/// channel to it (the calling process its first client) and a future that completes when
/// `body` returns (with RemoteError if it ended otherwise). The hub is listening when this
/// returns. `body` is registered with CADRE_TASK and takes `Hub<In, Out>&` first; each of
/// `args` is converted to the type of the parameter in its place and encoded as spawn()'s
/// are (a wrong count or type does not compile). spawn_hub<Msg> is spawn_hub<Msg, Msg>.
/// Throws NotRegistered, InvalidNode, SpawnError.
template <class In, class Out = In, class W = Placement, class R, class... P, class... A>
std::pair<Channel<In, Out>, Future<void>> spawn_hub(const W& where, R (*body)(P...), A&&... args) {
  using B = detail::HubParams<In, Out, P...>;
  constexpr bool count_ok = B::arity == sizeof...(A);
  constexpr bool types_ok = detail::hub_args_convert<typename B::args, A...>();
  static_assert(std::is_void_v<R>, "cadre::spawn_hub: the hub's body must return void");
  static_assert(B::hub_first,
                "cadre::spawn_hub<In, Out>: the body's first parameter must be "
                "cadre::Hub<In, Out>& with spawn_hub's In and Out (spawn_hub<Msg> is "
                "spawn_hub<Msg, Msg>)");
  static_assert(!B::hub_first || count_ok,
                "cadre::spawn_hub: wrong number of arguments: pass one for each of the body's "
                "parameters after its Hub&");
  static_assert(!B::hub_first || !count_ok || types_ok,
                "cadre::spawn_hub: an argument does not convert to the type of the body's "
                "parameter in its place");
  detail::ByteBuffer buf;
  if constexpr (std::is_void_v<R> && B::hub_first && count_ok && types_ok)
    buf = detail::encode_hub_args<typename B::args>(std::forward<A>(args)...);
  auto* e = detail::task_entry(body);
  auto done = std::make_shared<detail::ResultState<void>>(1);
  Pid hub = detail::spawn_watched(detail::placement_of(where), e, std::move(buf), done);
  Channel<In, Out> ch(hub);
  if (!self().is_null()) ch.connect();
  return {ch, Future<void>(done, 0)};
}

}  // namespace cadre
