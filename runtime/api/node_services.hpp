#pragma once
// The composition root: the services of this process's node are made, given the services
// they need (along an acyclic graph: tasks -> output -> processes), and registered with the
// node here, above the node layer. The public API reaches them through the accessors below.
// A new service is added here and nowhere under runtime/node/.

#include <atomic>
#include <memory>

#include "node/core.hpp"
#include "services/node_events.hpp"
#include "services/output.hpp"
#include "services/processes.hpp"
#include "services/tasks.hpp"

namespace cadre::api {

class JoinGate;

/// The services of one node, registered with it for the node's lifetime.
class NodeServices {
 public:
  /// Makes the services of `core` and registers them (before core.start()).
  explicit NodeServices(node::Core& core);
  ~NodeServices();
  NodeServices(const NodeServices&) = delete;
  NodeServices& operator=(const NodeServices&) = delete;

  services::ProcessService processes;      ///< processes, mailboxes, monitors, links, names
  services::OutputService output;          ///< log lines, statistics, progress, relays
  services::TaskService tasks;             ///< tasks, map and placement of work
  services::NodeEventService node_events;  ///< node monitors (monitor_node)
  std::unique_ptr<JoinGate> gate;          ///< listen()'s gate, once the job is joinable
};

/// The running node's services (set by NodeServices for its lifetime).
inline std::atomic<NodeServices*> g_node_services{nullptr};
/// Throws NotRunning: there are no services (no runtime).
[[noreturn]] void throw_no_services();
/// The running node's services; throws NotRunning when there are none. Any thread.
inline NodeServices& node_services() {
  NodeServices* s = g_node_services.load(std::memory_order_acquire);
  if (!s) throw_no_services();
  return *s;
}
/// The running node's process service. Any thread (use it on the loop).
inline services::ProcessService& processes() { return node_services().processes; }
/// The running node's task service.
inline services::TaskService& tasks() { return node_services().tasks; }
/// The running node's node monitors.
inline services::NodeEventService& node_events() { return node_services().node_events; }
/// The running node's output service.
inline services::OutputService& output() { return node_services().output; }

}  // namespace cadre::api
