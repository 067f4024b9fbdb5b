#pragma once
// The composition root: the services of this process's node are made, given the services
// they need (along an acyclic graph: tasks -> output -> processes), and registered with the
// node here, above the node layer. The public API reaches them through the accessors below.
// A new service is added here and nowhere under runtime/node/.

#include "node/core.hpp"
#include "services/output.hpp"
#include "services/processes.hpp"
#include "services/tasks.hpp"

namespace cadre::api {

/// The services of one node, registered with it for the node's lifetime.
class NodeServices {
 public:
  /// Makes the services of `core` and registers them (before core.start()).
  explicit NodeServices(node::Core& core);
  ~NodeServices();
  NodeServices(const NodeServices&) = delete;
  NodeServices& operator=(const NodeServices&) = delete;

  services::ProcessService processes;  ///< processes, mailboxes, monitors, links, names
  services::OutputService output;      ///< log lines, statistics, progress, relays
  services::TaskService tasks;         ///< tasks, map and placement of work
};

/// The running node's services; throws NotRunning when there are none. Any thread.
NodeServices& node_services();
/// The running node's process service. Any thread (use it on the loop).
inline services::ProcessService& processes() { return node_services().processes; }
/// The running node's task service.
inline services::TaskService& tasks() { return node_services().tasks; }
/// The running node's output service.
inline services::OutputService& output() { return node_services().output; }

}  // namespace cadre::api
