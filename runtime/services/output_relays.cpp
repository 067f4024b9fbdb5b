// Relays (Kind2's relay): the master numbers each one and sends it to every node; each node
// keeps the history, delivers it to late subscribers first, and can deliver one numbered
// relay again (Kind2's Resend).

#include <fmt/format.h>

#include <algorithm>

#include "cadre/detail/archive.hpp"
#include "services/output.hpp"
#include "services/processes.hpp"

namespace cadre::services {

void OutputService::relay(std::uint64_t type_id, std::string payload) {
  if (core_.is_master()) {
    publish_relay(type_id, std::move(payload));
    return;
  }
  const wire::Envelope env =
      node::envelope({.cls = cls::relay_request, .type_id = type_id, .dst = Pid{NodeId(0), 0}});
  core_.send(NodeId(0), env, payload.data(), payload.size());
}

void OutputService::publish_relay(std::uint64_t type_id, std::string payload) {
  RelayRecord r{next_seq_++, type_id, std::move(payload)};
  std::string wire_payload = detail::encode_string(r);
  for (auto n : *core_.table()) {
    if (n.id == core_.self_node() || n.state != NodeState::up) continue;
    const wire::Envelope env =
        node::envelope({.cls = cls::relay, .type_id = type_id, .corr = r.seq, .dst = Pid{n.id, 0}});
    core_.send(n.id, env, wire_payload.data(), wire_payload.size());
  }
  take_relay(std::move(r));
}

void OutputService::deliver_relay(Process& p, const RelayRecord& r, std::uint64_t deliver_id) {
  detail::Mail m;
  m.type_id = deliver_id;
  m.set_from(Pid{NodeId(0), 0});
  if (deliver_id == r.type_id) {
    m.payload = r.payload;
  } else {
    // Relayed<T>: the number, then T's own bytes (archives add no header between fields).
    std::string numbered = detail::encode_string(r.seq);
    numbered += r.payload;
    m.payload = numbered;
  }
  processes_.deliver(p, std::move(m));
}

void OutputService::take_relay(RelayRecord r) {
  auto it = subscribers_.find(r.type_id);
  if (it != subscribers_.end()) {
    auto& subs = it->second;
    for (auto s = subs.begin(); s != subs.end();) {
      Process* p = processes_.find(s->first);
      if (!p) {
        s = subs.erase(s);  // the subscriber ended
        continue;
      }
      deliver_relay(*p, r, s->second);
      ++s;
    }
  }
  history_.push_back(std::move(r));
}

void OutputService::load_history(std::vector<RelayRecord> h) {
  for (auto& r : h) take_relay(std::move(r));
}

void OutputService::subscribe(std::uint64_t serial, std::uint64_t type_id,
                              std::uint64_t deliver_id) {
  Process* p = processes_.find(serial);
  if (!p) return;
  auto& subs = subscribers_[type_id];
  for (auto& s : subs)
    if (s == std::make_pair(serial, deliver_id)) return;  // already subscribed
  subs.emplace_back(serial, deliver_id);
  for (auto& r : history_)
    if (r.type_id == type_id) deliver_relay(*p, r, deliver_id);
}

std::string OutputService::resend(std::uint64_t serial, std::uint64_t number) {
  Process* p = processes_.find(serial);
  if (!p) return "the caller has ended";
  auto at = std::find_if(history_.begin(), history_.end(),
                         [number](const RelayRecord& r) { return r.seq == number; });
  if (at == history_.end())
    return history_.empty()
               ? fmt::format("relay {} is not in this node's history, which holds no relay yet",
                             number)
               : fmt::format("relay {} is not in this node's history, which holds relays {} to {}",
                             number, history_.front().seq, history_.back().seq);
  const RelayRecord& r = *at;
  bool sent = false;
  if (auto it = subscribers_.find(r.type_id); it != subscribers_.end())
    for (auto& [s, deliver_id] : it->second)
      if (s == serial) {
        deliver_relay(*p, r, deliver_id);
        sent = true;
      }
  if (!sent)
    return fmt::format(
        "relay {} is of a type the caller did not subscribe to (subscribe_relay<T>() first)",
        number);
  return "";
}

void OutputService::on_relay_request(NodeId, const wire::Envelope& env, const char* p,
                                     std::size_t n) {
  if (core_.is_master()) publish_relay(env.type_id, std::string(p, n));
}

void OutputService::on_relay(NodeId, const wire::Envelope&, const char* p, std::size_t n) {
  take_relay(detail::decode_as<RelayRecord>(p, n));
}

}  // namespace cadre::services
