#pragma once
// Node monitors (monitor_node): a process asks to hear about a node, and gets NodeEvent
// messages in its mailbox: `up` at once when the node is up, `down` when it is lost or
// stopped (at once when it already is). Every node keeps its own watchers: a node learns of
// losses and stops itself (from the master), so a monitor works on any node, as OCaml
// distributed's node monitors do.
//
// Thread rule: loop thread only.

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "cadre/nodes.hpp"
#include "node/service.hpp"
#include "services/processes.hpp"

namespace cadre::services {

class NodeEventService final : public node::Service {
 public:
  NodeEventService(node::NodeContext& node, ProcessService& processes)
      : node_(node), processes_(processes) {}

  const char* name() const override { return "node_events"; }
  std::vector<node::ClassSpec> classes() const override { return {}; }
  void on_envelope(NodeId, const wire::Envelope&, const char*, std::size_t) override {}
  void on_node_down(NodeId n) override;

  /// `watcher` (a process of this node, or the driver) hears about `n` from now on.
  void watch(Pid watcher, NodeId n);
  /// `watcher` no longer hears about `n`.
  void unwatch(Pid watcher, NodeId n);

 private:
  void tell(Pid watcher, const NodeEvent& e);

  node::NodeContext& node_;
  ProcessService& processes_;
  std::unordered_map<std::uint32_t, std::vector<Pid>> watchers_;
};

}  // namespace cadre::services
