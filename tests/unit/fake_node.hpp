#pragma once
// A fake node for unit tests of the services: it implements what a service may ask of its
// node (node::NodeContext) with no MPI and no Core. A FakeCluster of them carries envelopes
// between the nodes in order, runs each node's fibers and timers, and can lose a node.

#include <fmt/format.h>

#include <array>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cadre/errors.hpp"
#include "node/placement.hpp"
#include "node/service.hpp"

namespace cadre::testing {

class FakeCluster;

/// One node of a FakeCluster.
class FakeNode final : public node::NodeContext {
 public:
  FakeNode(FakeCluster& cluster, NodeId self);

  // -- node::NodeContext --------------------------------------------------------------
  std::shared_ptr<const node::NodeTable> table() const override;
  void check_node(NodeId n, const char* what) const override;
  std::string describe(NodeId n) const override { return fmt::format("node {}", n.value()); }
  bool is_up(NodeId n) const override;
  std::vector<NodeId> candidates(const Placement& where) const override {
    return placer_.candidates(where);
  }
  NodeId pick(const Placement& where) override { return placer_.pick(where); }
  void add_load(NodeId n, std::int64_t delta) override { placer_.add_load(n, delta); }
  std::size_t random_index(std::size_t n) override { return placer_.random_index(n); }
  void send(NodeId dst, const wire::Envelope& env, const char* p, std::size_t n) override;
  bool congested(NodeId) const override { return false; }
  void flush_if_last() override {}
  std::size_t payload_cap() const override { return options_.payload_cap; }
  std::uint64_t next_serial() override { return next_serial_++; }
  bool stopping() const override { return stopping_; }
  void fail_job(std::string why) override { failures.push_back(std::move(why)); }
  node::DropCounts& drops() override { return drops_; }

  // -- the test's side ------------------------------------------------------------------
  /// Envelopes of `s`'s classes go to `s` from now on.
  void add_service(node::Service& s) {
    for (const node::ClassSpec& c : s.classes()) {
      routes_[static_cast<std::uint8_t>(c.cls)] = &s;
      rules_[static_cast<std::uint8_t>(c.cls)] = c.rules;
    }
    services_.push_back(&s);
  }
  /// Hands an envelope to the service that owns its class, after the class's rules (as the
  /// node's dispatch does); a refused one is kept in `refused`.
  void deliver(NodeId src, const wire::Envelope& env, const std::vector<char>& payload) {
    node::Service* s = routes_[env.cls];
    if (!s) {
      ++unrouted;
      return;
    }
    if (std::string why = node::refusal(rules_[env.cls], self_, src, env); !why.empty()) {
      refused.push_back(std::move(why));
      return;
    }
    s->on_envelope(src, env, payload.data(), payload.size());
  }
  /// Tells every service that `n` is lost.
  void node_down(NodeId n) {
    placer_.forget(n);
    for (node::Service* s : services_) s->on_node_down(n);
  }
  void set_stopping(bool v) { stopping_ = v; }

  std::vector<std::string> failures;  // fail_job()
  std::size_t unrouted = 0;           // envelopes of a class no service owns
  std::vector<std::string> refused;   // why envelopes were refused by the class rules

 private:
  FakeCluster& cluster_;
  node::Placer placer_{*this};
  std::array<node::Service*, 256> routes_{};
  std::array<std::uint8_t, 256> rules_{};
  std::vector<node::Service*> services_;
  bool stopping_ = false;
  node::DropCounts drops_;
  std::uint64_t next_serial_ = node::kFirstSerial;
};

/// N fake nodes and the ordered links between them.
class FakeCluster {
 public:
  explicit FakeCluster(std::uint32_t size) {
    auto t = std::make_shared<node::NodeTable>();
    for (std::uint32_t i = 0; i < size; ++i)
      t->push_back(NodeInfo{NodeId(i), fmt::format("fake:{}", i), "fake", static_cast<int>(i),
                            NodeState::up, 1000 + static_cast<int>(i)});
    table_ = std::move(t);
    for (std::uint32_t i = 0; i < size; ++i)
      nodes_.push_back(std::make_unique<FakeNode>(*this, NodeId(i)));
  }
  std::uint32_t size() const { return static_cast<std::uint32_t>(nodes_.size()); }
  FakeNode& node(std::uint32_t i) { return *nodes_.at(i); }
  std::shared_ptr<const node::NodeTable> table() const { return table_; }

  /// Queues an envelope on the link src -> dst.
  void post(NodeId src, NodeId dst, const wire::Envelope& env, const char* p, std::size_t n) {
    ++sent_[env.cls];
    ++sent_to_[{env.cls, dst.value()}];
    wire_.push_back(InFlight{src, dst, env, std::vector<char>(p, p + n)});
  }
  /// Envelopes of class `c` sent so far.
  std::size_t sent(node::Cls c) const {
    auto it = sent_.find(static_cast<std::uint8_t>(c));
    return it == sent_.end() ? 0 : it->second;
  }
  /// Envelopes of class `c` sent to `dst` so far.
  std::size_t sent(node::Cls c, NodeId dst) const {
    auto it = sent_to_.find({static_cast<std::uint8_t>(c), dst.value()});
    return it == sent_to_.end() ? 0 : it->second;
  }
  /// Delivers what is in flight and runs every node's ready fibers and due timers, until
  /// nothing moves. Returns false when it still moved after `max_rounds` rounds. With
  /// `lost_too` the fibers of lost nodes run as well (a test ends them before it ends).
  bool settle(int max_rounds = 10000, bool lost_too = false) {
    // Whatever a handler throws, no node stays marked as running on this thread.
    struct Reset {
      ~Reset() {
        node::t_loop_node = nullptr;
        running_ = nullptr;
      }
    } reset;
    for (int round = 0; round < max_rounds; ++round) {
      std::size_t moved = 0;
      while (!wire_.empty()) {
        InFlight f = std::move(wire_.front());
        wire_.pop_front();
        ++moved;
        if (!up(f.src) || !up(f.dst)) continue;    // a lost node sends and hears nothing
        node::t_loop_node = &node(f.dst.value());  // its loop runs now
        node(f.dst.value()).deliver(f.src, f.env, f.payload);
        node::t_loop_node = nullptr;
      }
      for (auto& n : nodes_) {
        if (!lost_too && !up(n->self_node())) continue;
        running_ = n.get();
        node::t_loop_node = n.get();
        moved += n->scheduler().run_ready();
        moved += n->scheduler().fire_timers(sched::Scheduler::Clock::now());
        node::t_loop_node = nullptr;
        running_ = nullptr;
      }
      if (moved == 0) return true;
    }
    return false;
  }
  /// `n` is lost: the table says so, its traffic is dropped, and every other node's services
  /// hear it (as the master's node_down notice would tell them).
  void lose(NodeId n) {
    auto t = std::make_shared<node::NodeTable>(*table_);
    (*t)[n.value()].state = NodeState::down;
    table_ = std::move(t);
    for (auto& x : nodes_)
      if (x->self_node() != n) x->node_down(n);
  }
  bool up(NodeId n) const {
    return n.value() < table_->size() && (*table_)[n.value()].state == NodeState::up;
  }
  /// The node whose fibers run now (inside settle()), or nullptr.
  static FakeNode* running() { return running_; }

 private:
  struct InFlight {
    NodeId src, dst;
    wire::Envelope env;
    std::vector<char> payload;
  };
  std::vector<std::unique_ptr<FakeNode>> nodes_;
  std::shared_ptr<const node::NodeTable> table_;
  std::deque<InFlight> wire_;
  std::map<std::uint8_t, std::size_t> sent_;
  std::map<std::pair<std::uint8_t, std::uint32_t>, std::size_t> sent_to_;
  static inline FakeNode* running_ = nullptr;
};

inline FakeNode::FakeNode(FakeCluster& cluster, NodeId self)
    : NodeContext(self, Options{}), cluster_(cluster) {}

inline std::shared_ptr<const node::NodeTable> FakeNode::table() const { return cluster_.table(); }

inline bool FakeNode::is_up(NodeId n) const { return cluster_.up(n); }

inline void FakeNode::check_node(NodeId n, const char* what) const {
  if (cluster_.up(n)) return;
  if (n.value() < cluster_.size())
    throw NodeDown(fmt::format("{}: node {} was lost", what, n.value()));
  throw InvalidNode(fmt::format("{}: node {} is not part of the runtime", what, n.value()));
}

inline void FakeNode::send(NodeId dst, const wire::Envelope& env, const char* p, std::size_t n) {
  cluster_.post(self_, dst, env, p, n);
}

}  // namespace cadre::testing
