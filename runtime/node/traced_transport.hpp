#pragma once
// The run timeline's view of the links: a transport that records each envelope it sends and
// receives (node/trace.hpp) and hands everything to the transport it wraps. A node installs it
// only when its job is traced, so an untraced node's send and receive paths are those of a
// build without the timeline: not one instruction more.
//
// Thread rule: loop thread only (as every transport).

#include <memory>

#include "transport/transport.hpp"

namespace cadre::node {

/// Records, then forwards: every member of transport::Transport is passed to the wrapped one
/// (a member added there must be forwarded here too, or the traced node loses it).
class TracedTransport final : public transport::Transport {
 public:
  /// Wraps `inner`, which it now owns.
  explicit TracedTransport(std::unique_ptr<transport::Transport> inner);

  NodeId self() const override { return inner_->self(); }
  std::uint32_t size() const override { return inner_->size(); }
  void send(NodeId dst, const wire::Envelope& env, const char* payload, std::size_t n) override;
  std::shared_ptr<const bool> send_borrowed(NodeId dst, const wire::Envelope& env,
                                            std::span<const transport::PayloadPart> parts) override;
  std::size_t poll(transport::Sink& sink) override;
  std::size_t flush() override { return inner_->flush(); }
  bool flush_unless_held(const std::function<bool(NodeId, std::size_t)>& may_hold) override {
    return inner_->flush_unless_held(may_hold);
  }
  bool busy() const override { return inner_->busy(); }
  std::size_t payload_cap() const override { return inner_->payload_cap(); }
  void set_limits(std::size_t payload_cap, std::size_t coalesce_bytes,
                  std::size_t link_credit) override {
    inner_->set_limits(payload_cap, coalesce_bytes, link_credit);
  }
  void send_control(NodeId dst, const char* p, std::size_t n) override {
    inner_->send_control(dst, p, n);
  }
  void forget(NodeId n) override { inner_->forget(n); }
  std::size_t in_flight(NodeId dst) const override { return inner_->in_flight(dst); }
  void close_link(NodeId dst) override { inner_->close_link(dst); }
  transport::LinkDrops dropped() const override { return inner_->dropped(); }
  std::int64_t credit(NodeId dst) const override { return inner_->credit(dst); }
  void add_node(NodeId n) override { inner_->add_node(n); }
  void spawn(const transport::SpawnCall& call) override { inner_->spawn(call); }
  void adopt(transport::Accepted&& accepted, const transport::SpawnCall& call) override {
    inner_->adopt(std::move(accepted), call);
  }
  bool spawned() const override { return inner_->spawned(); }
  bool joined() const override { return inner_->joined(); }
  void set_doorbell(NodeId n, std::shared_ptr<transport::PeerDoorbell> bell) override {
    inner_->set_doorbell(n, std::move(bell));
  }
  void retire(NodeId n) override { inner_->retire(n); }

 private:
  std::unique_ptr<transport::Transport> inner_;
};

}  // namespace cadre::node
