// Links: routing over several communicators, and the relay through the master (links.hpp).

#include "transport/links.hpp"

#include <fmt/format.h>

#include <cstring>

#include "cadre/errors.hpp"

namespace cadre::transport {

/// What one channel's poll reports, translated from its ranks to node ids; relayed envelopes
/// and control messages are unwrapped (or forwarded, on the master) on the way.
class ChannelSink final : public Sink {
 public:
  ChannelSink(Links& links, const std::vector<NodeId>& ids, Sink& out)
      : links_(links), ids_(ids), out_(out) {}
  void on_envelope(NodeId rank, const wire::Envelope& env, const char* p, std::size_t n) override {
    const NodeId src = ids_[rank.value()];
    if (env.cls == kRelayClass) return links_.relayed(src, env, p, n, out_);
    out_.on_envelope(src, env, p, n);
  }
  void on_bad_frame(NodeId rank, const std::string& why) override {
    out_.on_bad_frame(ids_[rank.value()], why);
  }
  void on_control(NodeId rank, const char* p, std::size_t n) override {
    const NodeId src = ids_[rank.value()];
    if (n > 0 && static_cast<unsigned char>(p[0]) == kRelayControl)
      return links_.relayed_control(src, p, n, out_);
    out_.on_control(src, p, n);
  }
  void on_alive(NodeId rank) override { out_.on_alive(ids_[rank.value()]); }

 private:
  Links& links_;
  const std::vector<NodeId>& ids_;
  Sink& out_;
};

Links::~Links() = default;

void Links::add_channel(std::unique_ptr<mpi::MpiTransport> ch, std::vector<NodeId> ids) {
  if (!limits_set_) {
    cap_ = ch->payload_cap();
    coalesce_ = options_.coalesce_bytes;
    credit_ = options_.link_credit;
  } else {
    ch->set_limits(cap_, coalesce_, credit_);
  }
  const auto c = static_cast<std::int32_t>(channels_.size());
  for (std::size_t r = 0; r < ids.size(); ++r) {
    if (ids[r].value() == UINT32_MAX) continue;
    Route& rt = route(ids[r]);
    rt.channel = c;
    rt.rank = static_cast<std::int32_t>(r);
  }
  channels_.push_back(Channel{std::move(ch), std::move(ids)});
  update_direct();
}

void Links::update_direct() {
  direct_ = channels_.size() == 1 && channels_[0].ids.size() == routes_.size();
  for (std::size_t r = 0; direct_ && r < channels_[0].ids.size(); ++r)
    direct_ = channels_[0].ids[r].value() == r;
  world_ = direct_ ? channels_[0].t.get() : nullptr;
  // Reported straight to the node, a relayed envelope still comes here first.
  auto hook = [](void* self, NodeId src, const wire::Envelope& env, const char* p, std::size_t n,
                 Sink& sink) { static_cast<Links*>(self)->relayed(src, env, p, n, sink); };
  for (std::size_t c = 0; c < channels_.size(); ++c)
    if (channels_[c].t) channels_[c].t->set_relay_hook(direct_ ? +hook : nullptr, this);
}

void Links::grow(NodeId n) {
  if (n.value() >= routes_.size()) routes_.resize(n.value() + 1);
}

Links::Route& Links::route(NodeId n) {
  grow(n);
  return routes_[n.value()];
}

void Links::add_node(NodeId n) {
  grow(n);
  update_direct();
}

const Links::Route* Links::path(NodeId n) const {
  const Route* r = find(n);
  if (!r || r->channel >= 0) return r;
  return find(NodeId(0));
}

void Links::set_limits(std::size_t cap, std::size_t coalesce, std::size_t credit) {
  cap_ = cap;
  coalesce_ = coalesce;
  credit_ = credit;
  limits_set_ = true;
  for (auto& c : channels_)
    if (c.t) c.t->set_limits(cap, coalesce, credit);
}

void Links::send(NodeId dst, const wire::Envelope& env, const char* p, std::size_t n) {
  if (direct_) return world_->send(dst, env, p, n);  // ranks are node ids; it checks them
  if (dst.value() < routes_.size()) {
    const Route& r = routes_[dst.value()];
    if (r.channel >= 0 && !r.closed) [[likely]] {
      channels_[static_cast<std::size_t>(r.channel)].t->send(
          NodeId(static_cast<std::uint32_t>(r.rank)), env, p, n);
      return;
    }
    if (r.gone || r.closed) {
      if (n > cap_) return relay_too_large(dst, n);
      ++(r.gone ? own_drops_.node_down : own_drops_.after_close);
      return;
    }
    const Route* m = find(NodeId(0));
    if (self_.value() != 0 && m && m->channel >= 0) {
      wire::Envelope outer = env;
      outer.aux = env.cls;
      outer.cls = kRelayClass;
      const std::uint32_t final_node = dst.value();
      channels_[static_cast<std::size_t>(m->channel)].t->send_parts(
          NodeId(static_cast<std::uint32_t>(m->rank)), outer,
          reinterpret_cast<const char*>(&final_node), sizeof final_node, p, n);
      return;
    }
  }
  throw InvalidNode(fmt::format("cadre: no link to node {} (the job has {} node ids)", dst.value(),
                                routes_.size()));
}

std::shared_ptr<const bool> Links::send_borrowed(NodeId dst, const wire::Envelope& env,
                                                 std::span<const PayloadPart> parts) {
  if (direct_) return world_->send_borrowed(dst, env, parts);
  if (dst.value() < routes_.size()) {
    const Route& r = routes_[dst.value()];
    if (r.channel >= 0 && !r.closed)
      return channels_[static_cast<std::size_t>(r.channel)].t->send_borrowed(
          NodeId(static_cast<std::uint32_t>(r.rank)), env, parts);
  }
  return Transport::send_borrowed(dst, env, parts);  // relayed (copied), or refused by send()
}

void Links::relay_too_large(NodeId dst, std::size_t n) const {
  throw PayloadTooLarge(
      fmt::format("cadre: a message of {} bytes to node {} is above the payload cap of {} bytes "
                  "(Options::payload_cap, CADRE_PAYLOAD_CAP)",
                  n, dst.value(), cap_));
}

void Links::relayed(NodeId src, const wire::Envelope& env, const char* p, std::size_t n,
                    Sink& sink) {
  std::uint32_t node = 0;
  if (n < sizeof node)
    throw DecodeError(fmt::format("a relayed envelope of {} bytes: too short for its node", n));
  std::memcpy(&node, p, sizeof node);
  wire::Envelope inner = env;
  inner.cls = static_cast<std::uint8_t>(env.aux);
  inner.aux = 0;
  inner.length = static_cast<std::uint32_t>(n - sizeof node);
  if (self_.value() != 0) {
    // Only the master relays; what it relays names the true sender.
    if (src.value() != 0)
      throw DecodeError(
          fmt::format("a relayed envelope from node {}: only the master relays", src.value()));
    if (node >= routes_.size() || node == self_.value())
      throw DecodeError(
          fmt::format("a relayed envelope from node {}, which this node does "
                      "not know",
                      node));
    sink.on_envelope(NodeId(node), inner, p + sizeof node, n - sizeof node);
    return;
  }
  if (node == self_.value()) {
    sink.on_envelope(src, inner, p + sizeof node, n - sizeof node);
    return;
  }
  const Route* to = find(NodeId(node));
  if (!to || to->channel < 0)
    throw DecodeError(fmt::format("a relay from node {} to node {}, which the master does not know",
                                  src.value(), node));
  if (to->gone) {  // lost or stopped (a closed link still carries others' last frames)
    ++own_drops_.node_down;
    return;
  }
  const std::uint32_t from = src.value();
  auto& out = *channels_[static_cast<std::size_t>(to->channel)].t;
  out.send_parts(NodeId(static_cast<std::uint32_t>(to->rank)), env,
                 reinterpret_cast<const char*>(&from), sizeof from, p + sizeof node,
                 n - sizeof node);
  if (out.credit(NodeId(static_cast<std::uint32_t>(to->rank))) <= 0) {
    // The link out is full: the source gets no credit back until it has room again.
    const Route* back = find(src);
    if (back && back->channel >= 0) {
      channels_[static_cast<std::size_t>(back->channel)].t->hold_grants(
          NodeId(static_cast<std::uint32_t>(back->rank)));
      held_.emplace_back(src, NodeId(node));
    }
  }
}

void Links::relayed_control(NodeId src, const char* p, std::size_t n, Sink& sink) {
  constexpr std::size_t head = 1 + sizeof(std::uint32_t);
  if (n < head) return;
  std::uint32_t node = 0;
  std::memcpy(&node, p + 1, sizeof node);
  if (self_.value() != 0) {
    if (src.value() != 0 || node >= routes_.size()) return;
    sink.on_control(NodeId(node), p + head, n - head);
    return;
  }
  if (node == 0) {
    sink.on_control(src, p + head, n - head);
    return;
  }
  const Route* to = find(NodeId(node));
  if (!to || to->channel < 0 || to->gone) return;
  char out[kMaxControlBytes];
  std::memcpy(out, p, n);
  const std::uint32_t from = src.value();
  std::memcpy(out + 1, &from, sizeof from);
  channels_[static_cast<std::size_t>(to->channel)].t->send_control(
      NodeId(static_cast<std::uint32_t>(to->rank)), out, n);
}

void Links::send_control(NodeId dst, const char* p, std::size_t n) {
  const Route* r = find(dst);
  if (!r || r->gone) return;
  if (r->channel >= 0) {
    channels_[static_cast<std::size_t>(r->channel)].t->send_control(
        NodeId(static_cast<std::uint32_t>(r->rank)), p, n);
    return;
  }
  const Route* m = find(NodeId(0));
  constexpr std::size_t head = 1 + sizeof(std::uint32_t);
  if (!m || m->channel < 0 || n + head > kMaxControlBytes) return;
  char out[kMaxControlBytes];
  out[0] = static_cast<char>(kRelayControl);
  const std::uint32_t node = dst.value();
  std::memcpy(out + 1, &node, sizeof node);
  std::memcpy(out + head, p, n);
  channels_[static_cast<std::size_t>(m->channel)].t->send_control(
      NodeId(static_cast<std::uint32_t>(m->rank)), out, n + head);
}

std::size_t Links::poll(Sink& sink) {
  if (direct_) return channels_[0].t->poll(sink);
  std::size_t n = 0;
  for (std::size_t i = 0; i < channels_.size(); ++i) {
    if (!channels_[i].t) continue;
    ChannelSink cs(*this, channels_[i].ids, sink);
    n += channels_[i].t->poll(cs);
  }
  return n;
}

void Links::check_held() {
  for (std::size_t i = 0; i < held_.size();) {
    auto [src, waits_for] = held_[i];
    const Route* to = find(waits_for);
    const bool room = !to || to->gone || to->channel < 0 ||
                      channels_[static_cast<std::size_t>(to->channel)].t->credit(
                          NodeId(static_cast<std::uint32_t>(to->rank))) > 0;
    if (!room) {
      ++i;
      continue;
    }
    held_[i] = held_.back();
    held_.pop_back();
    // Released once nothing else it feeds is full.
    bool still = false;
    for (auto& h : held_) still |= h.first == src;
    const Route* back = find(src);
    if (!still && back && back->channel >= 0 && !back->gone)
      channels_[static_cast<std::size_t>(back->channel)].t->release_grants(
          NodeId(static_cast<std::uint32_t>(back->rank)));
  }
}

std::size_t Links::flush() {
  std::size_t n = 0;
  for (auto& c : channels_)
    if (c.t) n += c.t->flush();
  if (!held_.empty()) check_held();
  return n;
}

bool Links::flush_unless_held(const std::function<bool(NodeId, std::size_t)>& may_hold) {
  if (!held_.empty()) {  // grants wait for a full link to drain
    flush();
    return false;
  }
  // Held: some channel holds envelopes back, and no other has sends in flight (those need
  // the loop's passes, which the caller asks for when this returns false).
  bool held = false, quiet = true;
  for (auto& c : channels_) {
    if (!c.t) continue;
    const std::vector<NodeId>& ids = c.ids;
    // The channel names its ranks: the rule is asked about the nodes they are.
    const bool h = direct_ ? c.t->flush_unless_held(may_hold)
                           : c.t->flush_unless_held([&](NodeId rank, std::size_t envelopes) {
                               return rank.value() < ids.size() &&
                                      ids[rank.value()].value() != UINT32_MAX &&
                                      may_hold(ids[rank.value()], envelopes);
                             });
    held |= h;
    quiet &= h || !c.t->busy();
  }
  return held && quiet;
}

bool Links::busy() const {
  for (auto& c : channels_)
    if (c.t && c.t->busy()) return true;
  return false;
}

void Links::forget(NodeId n) {
  if (n.value() >= routes_.size()) return;
  Route& r = routes_[n.value()];
  if (r.gone) return;
  r.gone = true;
  if (r.channel >= 0 && channels_[static_cast<std::size_t>(r.channel)].t)
    channels_[static_cast<std::size_t>(r.channel)].t->forget(
        NodeId(static_cast<std::uint32_t>(r.rank)));
  if (!held_.empty()) check_held();
}

void Links::set_doorbell(NodeId n, std::shared_ptr<PeerDoorbell> bell) {
  const Route* r = find(n);
  if (!r || r->gone || r->channel < 0) return;  // relayed: the master's link is rung instead
  if (auto& t = channels_[static_cast<std::size_t>(r->channel)].t)
    t->set_doorbell(NodeId(static_cast<std::uint32_t>(r->rank)), std::move(bell));
}

void Links::retire(NodeId n) {
  if (n.value() >= routes_.size()) return;
  Route& r = routes_[n.value()];
  r.gone = true;  // what is sent to it from now on is counted as dropped
  if (r.channel <= 0) return;
  Channel& c = channels_[static_cast<std::size_t>(r.channel)];
  if (!c.t) return;
  for (NodeId id : c.ids) {
    const Route* o = find(id);
    if (o && !o->gone) return;  // a node of this spawn still runs
  }
  const LinkDrops d = c.t->dropped();
  retired_drops_.node_down += d.node_down;
  retired_drops_.after_close += d.after_close;
  c.t.reset();  // cancels its receives, frees the communicator (buffers in flight are kept)
  for (NodeId id : c.ids) route(id).channel = -1;
}

std::size_t Links::in_flight(NodeId dst) const {
  if (direct_) return world_->in_flight(dst);
  const Route* r = path(dst);
  if (!r || r->channel < 0 || !channels_[static_cast<std::size_t>(r->channel)].t) return 0;
  return channels_[static_cast<std::size_t>(r->channel)].t->in_flight(
      NodeId(static_cast<std::uint32_t>(r->rank)));
}

std::int64_t Links::credit(NodeId dst) const {
  if (direct_) return world_->credit(dst);
  const Route* r = path(dst);
  if (!r || r->channel < 0 || !channels_[static_cast<std::size_t>(r->channel)].t)
    return static_cast<std::int64_t>(credit_);
  return channels_[static_cast<std::size_t>(r->channel)].t->credit(
      NodeId(static_cast<std::uint32_t>(r->rank)));
}

void Links::close_link(NodeId dst) {
  // Only this node's own sends stop: the master still relays others' traffic on the
  // communicator's link until the end of the drain (their last frames go that way too).
  if (dst.value() < routes_.size()) routes_[dst.value()].closed = true;
  if (direct_) world_->close_link(dst);  // nothing is relayed: the link itself closes
}

LinkDrops Links::dropped() const {
  LinkDrops d = own_drops_;
  d.node_down += retired_drops_.node_down;
  d.after_close += retired_drops_.after_close;
  for (auto& c : channels_) {
    if (!c.t) continue;
    const LinkDrops x = c.t->dropped();
    d.node_down += x.node_down;
    d.after_close += x.after_close;
  }
  return d;
}

}  // namespace cadre::transport
