#pragma once
/// \file hub.hpp
/// Hubs and channels (Async_parallel's spawn): a process with a hub serves any number of
/// clients, each talking to it through a bidirectional typed channel.
///
///   void server(cadre::Hub<Msg>& hub) { ... hub.listen() ... }   CADRE_TASK(server);
///   auto [ch, done] = cadre::spawn_hub<Msg>(cadre::any, server);
///   ch.write(m); Msg x = ch.read();
///
/// Channels are values: send one to another process and that process becomes a client too
/// (it connects when it first uses the channel). A client that ends is disconnected.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <variant>

#include "cadre/future.hpp"
#include "cadre/process.hpp"
#include "cadre/runtime.hpp"

namespace cadre {

/// A client connected (first used its channel).
struct Connect {
  Pid client;
};
/// A client ended.
struct Disconnect {
  Pid client;
};
/// A client wrote `msg`.
template <class Msg>
struct Data {
  Pid client;
  Msg msg;
};

namespace detail {

/// What travels between a hub and its clients.
template <class Msg>
struct HubFrame {
  std::uint8_t kind = 0;  // 0 connect, 1 data
  Pid hub;
  Pid client;
  std::optional<Msg> data;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& kind& hub& client& data;
  }
};
template <class Msg>
struct is_std_message<HubFrame<Msg>> : std::true_type {};

/// Spawns a process running `e` whose end completes `done` (error: the reason).
Pid spawn_watched(const Placement& where, const Entry* e, ByteBuffer&& args,
                  std::shared_ptr<ResultState<void>> done);

}  // namespace detail

/// The client's end: writes go to the hub, reads take what the hub sent to this process.
/// Process or driver only.
template <class Msg>
class Channel {
 public:
  Channel() = default;
  explicit Channel(Pid hub) : hub_(hub) {}

  /// The hub's process.
  Pid hub() const { return hub_; }
  /// Makes the calling process a client now (write and read do it on first use).
  void connect() {
    Pid me = self();
    if (client_ == me) return;
    client_ = me;
    send(hub_, detail::HubFrame<Msg>{0, hub_, me, std::nullopt});
  }
  /// Sends `m` to the hub. Never blocks the node.
  void write(const Msg& m) {
    connect();
    send(hub_, detail::HubFrame<Msg>{1, hub_, client_, m});
  }
  /// Blocks until the hub sends this process a message; returns it.
  Msg read() {
    connect();
    return receive(match<detail::HubFrame<Msg>>(
        [this](const detail::HubFrame<Msg>& f) { return f.hub == hub_ && f.data.has_value(); },
        [](const detail::HubFrame<Msg>& f) { return *f.data; }));
  }
  /// As read(), giving up after `timeout` (then nullopt).
  template <class Rep, class Per>
  std::optional<Msg> read_for(std::chrono::duration<Rep, Per> timeout) {
    connect();
    return receive(timeout, match<detail::HubFrame<Msg>>(
                                [this](const detail::HubFrame<Msg>& f) {
                                  return f.hub == hub_ && f.data.has_value();
                                },
                                [](const detail::HubFrame<Msg>& f) { return *f.data; }));
  }
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& hub_;
  }

 private:
  Pid hub_;
  Pid client_;  // the process this copy has connected for (never sent)
};

namespace detail {
template <class Msg>
struct is_std_message<Channel<Msg>> : std::true_type {};
}  // namespace detail

/// The hub's end, handed to the hub process's body.
template <class Msg>
class Hub {
 public:
  using Event = std::variant<Connect, Disconnect, Data<Msg>>;

  /// Blocks until a client connects, disconnects (ends) or writes.
  Event listen() { return *listen_impl(std::nullopt); }
  /// As listen(), giving up after `timeout` (then nullopt).
  template <class Rep, class Per>
  std::optional<Event> listen_for(std::chrono::duration<Rep, Per> timeout) {
    return listen_impl(detail::deadline_after(timeout));
  }
  /// Sends `m` to one client.
  void send(Pid client, const Msg& m) {
    cadre::send(client, detail::HubFrame<Msg>{1, self(), client, m});
  }
  /// Sends `m` to every connected client.
  void send_to_all(const Msg& m) {
    for (auto& kv : clients_) send(kv.first, m);
  }
  /// The connected clients.
  std::set<Pid> clients() const {
    std::set<Pid> s;
    for (auto& kv : clients_) s.insert(kv.first);
    return s;
  }
  template <class A>
  void serialize(A&, unsigned) {}

 private:
  std::optional<Event> listen_impl(std::optional<std::chrono::steady_clock::time_point> d) {
    for (;;) {
      std::optional<detail::HubFrame<Msg>> f;
      std::optional<Down> down;
      auto frames = match<detail::HubFrame<Msg>>([&](const detail::HubFrame<Msg>& x) { f = x; });
      auto downs = on_down([&](const Down& x) { down = x; });
      if (d) {
        auto left = *d - std::chrono::steady_clock::now();
        if (left < left.zero()) left = left.zero();
        if (!receive(left, frames, downs)) return std::nullopt;
      } else {
        receive(frames, downs);
      }
      if (down) {
        for (auto it = clients_.begin(); it != clients_.end(); ++it)
          if (it->second.id == down->ref.id) {
            Pid c = it->first;
            clients_.erase(it);
            return Event(Disconnect{c});
          }
        continue;  // a Down of a monitor the body holds itself: not a client
      }
      const Pid client = f->client;
      const bool known = clients_.count(client) > 0;
      if (!known) clients_.emplace(client, monitor(client));
      if (f->kind == 0) {
        if (known) continue;
        return Event(Connect{client});
      }
      return Event(Data<Msg>{client, std::move(*f->data)});
    }
  }
  std::map<Pid, MonitorRef> clients_;
};

/// Starts a process running `body(hub)` on a node chosen by `where`; returns a channel to it
/// (the calling process its first client) and a future that completes when `body` returns
/// (with RemoteError if it ended otherwise). The hub is listening when this returns.
template <class Msg, class W = Placement>
std::pair<Channel<Msg>, Future<void>> spawn_hub(const W& where, void (*body)(Hub<Msg>&)) {
  auto* e = detail::task_entry(body);
  auto done = std::make_shared<detail::ResultState<void>>(1);
  Pid hub =
      detail::spawn_watched(detail::placement_of(where), e, detail::encode_value(Hub<Msg>{}), done);
  Channel<Msg> ch(hub);
  if (!self().is_null()) ch.connect();
  return {ch, Future<void>(done, 0)};
}

}  // namespace cadre
