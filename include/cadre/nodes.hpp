#pragma once
/// \file nodes.hpp
/// Nodes that start after the job: spawn_nodes (MPI_Comm_spawn), stop_node.
///
/// The master spawns over MPI_COMM_SELF; a spawned program builds its Runtime (or calls
/// launch) as usual, joins, receives the options and the relay history first, and serves.
/// Spawned nodes are full members: tasks, processes, monitors, names, calls and output work
/// with them. They are reached through the master (one path per ordered pair of nodes, order
/// kept, credit end to end). NodeIds are never reused.

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cadre/ids.hpp"

namespace cadre {

/// What spawn_nodes starts. Fields keep their order (designated initializers).
struct SpawnOptions {
  /// How many nodes.
  int count = 1;
  /// The program; empty: this binary. A name without '/' is looked up on PATH.
  std::string program;
  /// Its arguments (argv[1..]).
  std::vector<std::string> args;
  /// The host to start them on (MPI_Info "host"); it must be known to the job.
  std::string host;
  /// A hostfile for Open MPI to place them (MPI_Info "hostfile").
  std::string hostfile;
  /// Their working directory (MPI_Info "wdir").
  std::string wdir;
  /// Variables set in their environment before their Runtime starts serving.
  std::vector<std::pair<std::string, std::string>> env;
  /// Their standard output and error go to these files (appended) when set; by default they
  /// reach the user as world ranks' output does.
  std::string stdout_path;
  /// See stdout_path.
  std::string stderr_path;
  /// Every new node must have joined within this, else SpawnError.
  std::chrono::milliseconds ready_timeout{5000};
  /// Tie the new nodes to the calling process (documented limits in the README).
  bool link = true;
};

/// What a node monitor tells (monitor_node): the node is up, or went down ("lost" or
/// "stopped").
struct NodeEvent {
  NodeId node;  ///< the node
  /// What happened to a node.
  enum class Kind : std::uint8_t { up, down };
  Kind kind = Kind::up;  ///< what happened to it
  std::string reason;  ///< for down: "lost" or "stopped"
  /// Reads or writes the fields (cadre's archives and Boost.Serialization's alike).
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& node& kind& reason;
  }
};

/// Master: starts `o.count` nodes with MPI_Comm_spawn and returns their ids once every one
/// has joined. Throws SpawnError (what is wrong and how to fix it) before spawning when it
/// can: no free slots, a missing or non-executable program, an unknown host; and after, when
/// a node did not join within ready_timeout. Other nodes: WrongRole.
std::vector<NodeId> spawn_nodes(const SpawnOptions& o);

/// Master: ends node `n` as shut-down ends a worker (its processes end with reason shutdown,
/// its tasks finish within shutdown_timeout, its links drain); returns once it is stopped.
/// node_info(n).state is then NodeState::stopped. Throws InvalidNode, NodeDown, WrongRole.
void stop_node(NodeId n);

/// The calling process (or the driver) gets NodeEvent messages about `n` in its mailbox: `up`
/// at once when `n` is up, then `down` when it is lost or stopped (at once when it already
/// is). Works on every node. Throws InvalidNode for a node the job never had, WrongRole from a
/// thread that is neither a process nor the driver.
void monitor_node(NodeId n);
/// Stops the NodeEvents of monitor_node(n) (one already queued stays).
void demonitor_node(NodeId n);

/// Master: a fresh node (a new id) in the place of node `n`, which must be lost or stopped:
/// started as `n` was (its SpawnOptions, one node; for a world rank, this binary with the
/// master's arguments). It receives the relay history first; pids of `n` never reach it.
/// Throws SpawnError (as spawn_nodes, or when `n` is still up), InvalidNode, WrongRole.
NodeId respawn_node(NodeId n);

// -- joining a running job (cadre::join) ----------------------------------------------------

/// Master: makes the job joinable and returns its port description ("host:port" of a plain
/// TCP socket), also written to `port_file` when one is given. A joiner presents
/// CADRE_COOKIE there first; only a verified joiner is given an MPI port and accepted (over
/// Open MPI's ompi-server: start both jobs with `cadre-run --joinable` / `--ompi-server`).
/// Needs CADRE_COOKIE set (one line) and MPI_THREAD_MULTIPLE (cadre-run --joinable sets
/// CADRE_JOINABLE=1, which asks for it). A second call returns the same description. Throws
/// WrongRole (not the master), Error (no cookie, no MPI_THREAD_MULTIPLE, the socket).
std::string listen(const std::string& port_file = {});

/// In a separately launched program, before its Runtime is built: the Runtime then joins the
/// job listening at `port` (what listen() returned, or "@FILE" to read it from FILE) as a
/// node, instead of starting a job of its own, and serve() serves it until the node leaves
/// (leave(), remove_node) or the job ends. Every process of the joining job that builds a
/// Runtime joins as one node. The cookie is CADRE_COOKIE; a refusal, a wrong port or a
/// master that does not answer makes the Runtime throw Error saying so.
void join(std::string port);

/// On a joined node: asks the master to remove this node (as remove_node does). Returns at
/// once; the node's running tasks finish within shutdown_timeout, then serve() returns and
/// the process goes on by itself. Throws WrongRole on a node that did not join.
void leave();

/// Master: ends joined node `n`'s part in the job without stopping its process: its tasks
/// finish within shutdown_timeout (the rest fail with NodeDown), its processes end, monitors
/// of them see node_down with the detail "left the job", node events say "left", and
/// node_info(n).state becomes NodeState::left. Returns once it has left. Throws WrongRole (not
/// the master, or `n` did not join: stop_node() ends it), InvalidNode, NodeDown.
void remove_node(NodeId n);

}  // namespace cadre
