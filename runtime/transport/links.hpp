#pragma once
// Links: the transport of a whole job, over several communicators. The world ranks share
// cadre's duplicate of MPI_COMM_WORLD; each spawn adds the inter-communicator between the
// master and the processes it started (spawned over MPI_COMM_SELF, so only the master is on
// both sides). A node that no communicator of this process reaches is reached through the
// master, which relays.
//
// Relaying keeps the promises of a direct link:
//  - one path per ordered pair of nodes (a world worker and a spawned node always go through
//    the master), so per-pair order holds: the master forwards a link's envelopes in the
//    order they arrive, onto one link;
//  - the master writes the true sender into every envelope it forwards, so a relayed
//    envelope cannot claim another source;
//  - credit holds end to end: while the link a relayed envelope went out on is out of
//    credit, the master grants its source nothing more, so the source's own link runs out
//    and the master holds at most one credit's worth per source.
//
// Thread rule: loop thread only.

#include <memory>
#include <vector>

#include "transport/mpi_transport.hpp"

namespace cadre::transport {

class Links final : public Transport {
 public:
  Links(NodeId self, const Options& o) : self_(self), options_(o) {}
  ~Links() override;

  /// Adds the links of one communicator: its rank r is node ids[r] (an id of UINT32_MAX:
  /// none). Nodes it names become reachable directly.
  void add_channel(std::unique_ptr<mpi::MpiTransport> ch, std::vector<NodeId> ids);
  /// Marks this process as started by MPI_Comm_spawn (or joined: `joined`).
  void set_spawned(bool joined = false) {
    spawned_ = true;
    joined_ = joined;
  }

  NodeId self() const override { return self_; }
  std::uint32_t size() const override { return static_cast<std::uint32_t>(routes_.size()); }
  void send(NodeId dst, const wire::Envelope& env, const char* p, std::size_t n) override;
  /// Borrowed on a direct link; copied when relayed through the master.
  std::shared_ptr<const bool> send_borrowed(NodeId dst, const wire::Envelope& env,
                                            std::span<const PayloadPart> parts) override;
  std::size_t poll(Sink& sink) override;
  std::size_t flush() override;
  bool flush_unless_held(const std::function<bool(NodeId, std::size_t)>& may_hold) override;
  bool busy() const override;
  std::size_t payload_cap() const override { return cap_; }
  void set_limits(std::size_t payload_cap, std::size_t coalesce_bytes,
                  std::size_t link_credit) override;
  void send_control(NodeId dst, const char* p, std::size_t n) override;
  void forget(NodeId n) override;
  void set_doorbell(NodeId n, std::shared_ptr<PeerDoorbell> bell) override;
  std::size_t in_flight(NodeId dst) const override;
  void close_link(NodeId dst) override;
  LinkDrops dropped() const override;
  std::int64_t credit(NodeId dst) const override;
  void add_node(NodeId n) override;
  void spawn(const SpawnCall& call) override;
  void adopt(Accepted&& accepted, const SpawnCall& call) override;
  bool spawned() const override { return spawned_; }
  bool joined() const override { return joined_; }
  void retire(NodeId n) override;

 private:
  /// One MPI_Comm_spawn of one process (`call.count` is 1): its channel joins the links.
  void spawn_one(const SpawnCall& call);
  friend class ChannelSink;
  /// Links the processes of `inter` (spawned or accepted) as nodes call.first_id...: each is
  /// told its id and the bootstrap first.
  void link_started(MPI_Comm inter, const SpawnCall& call);
  struct Route {
    std::int32_t channel = -1;  // -1: through the master
    std::int32_t rank = -1;
    bool gone = false;    // lost: sends are dropped
    bool closed = false;  // this node's link closed at shut-down (close_link)
  };
  struct Channel {
    std::unique_ptr<mpi::MpiTransport> t;
    std::vector<NodeId> ids;
  };
  Route& route(NodeId n);
  const Route* find(NodeId n) const {
    return n.value() < routes_.size() ? &routes_[n.value()] : nullptr;
  }
  /// The channel and rank that carry traffic to `n`: its own, or the master's.
  const Route* path(NodeId n) const;
  /// An envelope of class kRelayClass from `src` (translated to a node id).
  void relayed(NodeId src, const wire::Envelope& env, const char* p, std::size_t n, Sink& sink);
  void relayed_control(NodeId src, const char* p, std::size_t n, Sink& sink);
  void check_held();
  /// A job of world ranks alone: the one channel's ranks are the node ids and nothing is
  /// relayed, so its poll reports straight to the node (no translation, no relay check).
  void update_direct();
  [[noreturn]] void relay_too_large(NodeId dst, std::size_t n) const;
  void grow(NodeId n);

  NodeId self_;
  Options options_;
  std::size_t cap_ = 0, coalesce_ = 0, credit_ = 0;
  bool limits_set_ = false;
  bool spawned_ = false;
  bool joined_ = false;
  bool direct_ = false;                 // update_direct()
  mpi::MpiTransport* world_ = nullptr;  // the one channel, when direct_
  std::vector<Channel> channels_;
  std::vector<Route> routes_;
  // Sources whose grants the master holds, and the node each waits for.
  std::vector<std::pair<NodeId, NodeId>> held_;
  LinkDrops own_drops_;
  LinkDrops retired_drops_;  // of channels dropped
};

/// The transport of this process: a world rank's (cadre's duplicate of MPI_COMM_WORLD), or,
/// in a process started by MPI_Comm_spawn, the link to the master and the loopback, once the
/// master has said which node this is (within `wait`). `bootstrap` receives what the master
/// handed this process (empty for a world rank). With a `join_port` (cadre::join), the master
/// is reached by MPI_Comm_connect to it instead, and this process is a joined node.
std::unique_ptr<Transport> make_transport(const Options& o, std::chrono::milliseconds wait,
                                          std::vector<char>& bootstrap,
                                          const std::string& join_port = {});

}  // namespace cadre::transport
