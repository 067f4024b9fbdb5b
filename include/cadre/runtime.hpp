#pragma once
/// \file runtime.hpp
/// Start-up and shut-down, node identities.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cadre/ids.hpp"
#include "cadre/options.hpp"

namespace cadre {

namespace detail {
class RuntimeImpl;
}

/// The runtime of one OS process. Construct one per process, on the thread that will call
/// serve() (workers) or that runs the program's main line (master).
class Runtime {
 public:
  /// Initialises MPI unless the user already did (then it is left as it is and not
  /// finalized by cadre), joins the job's nodes and exchanges registries. On the master the
  /// node loop then runs on a thread of its own and the calling thread is the driver <0.0>.
  /// Blocks until every node is ready. Throws InitTwice for a second instance,
  /// RegistryMismatch when binaries disagree on a registered name, Error on start-up
  /// failures (MPI, time-outs). After cadre::join(port) this process joins that running job
  /// as a node instead (nodes.hpp).
  Runtime(int& argc, char**& argv, Options options = {});
  /// Shuts down (master) if shutdown() was not called; never throws.
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  /// True on node 0.
  bool is_master() const;
  /// True on every other node.
  bool is_worker() const;
  /// True in a process started by spawn_nodes (it has an MPI parent: MPI_Comm_get_parent);
  /// false in one that joined with cadre::join.
  bool is_spawned() const;
  /// Worker: runs the node loop until the master shuts the runtime down; returns the job's
  /// status (0 = clean). On the master throws WrongRole.
  int serve();
  /// Master: stops new work, lets running tasks finish within Options::shutdown_timeout,
  /// drains every link, gets every node's acknowledgement and finalizes. Returns the job's
  /// status: 0 only if every node finished cleanly. On a worker throws WrongRole. Blocks.
  int shutdown();

 private:
  friend int launch(int&, char**&, std::function<int()>, Options);
  struct LaunchTag {};
  Runtime(int& argc, char**& argv, Options options, LaunchTag);
  std::unique_ptr<detail::RuntimeImpl> impl_;
};

/// Runs a whole program: the master runs `driver` (on its own thread, as process <0.0>),
/// workers serve; then the runtime shuts down. Every rank returns the job's status (0 =
/// clean; a driver that returns non-zero or throws makes it non-zero). Errors at start-up
/// are printed and give a non-zero status.
int launch(int& argc, char**& argv, std::function<int()> driver, Options options = {});

// -- nodes ------------------------------------------------------------------------------

/// up: serving; stopping: stop_node() (or leave/remove_node) is ending it; down: lost (or
/// never joined); stopped: ended by stop_node(); left: a joined node that left the job (leave
/// or remove_node) and goes on by itself (appended: values are only ever appended).
enum class NodeState : std::uint8_t { up, stopping, down, stopped, left };

/// What is known of a node.
struct NodeInfo {
  NodeId id;                        ///< the node
  std::string name;                 ///< "host:rank" by default
  std::string host;                 ///< the host it runs on (MPI's processor name)
  int rank = 0;                     ///< its rank in the job that started it
  NodeState state = NodeState::up;  ///< up, or how it ended
  int pid = 0;                      ///< its operating-system process id
};

/// Live nodes, in id order. Any thread. Throws NotRunning before start-up.
std::vector<NodeId> nodes();
/// Every node the job has had, lost ones too, in id order (node_info(n).state says which).
/// Any thread. Throws NotRunning before start-up.
std::vector<NodeId> all_nodes();
/// What is known of node `n`; throws InvalidNode (listing the live nodes) for an unknown id.
NodeInfo node_info(NodeId n);
/// The node with this name, if any.
std::optional<NodeId> node_named(std::string_view name);
/// The calling process: a task's or process's pid, <0.0> for the driver, the null pid on
/// other threads.
Pid self();
/// The node this code runs on.
NodeId self_node();
/// Lets the node serve others during a long computation (fiber only; a no-op elsewhere).
void yield();

}  // namespace cadre
