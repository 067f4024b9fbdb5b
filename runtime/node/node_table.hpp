#pragma once
// The node table: the nodes of the job, their names and hosts, which are up, and which were
// lost and why. Published as an immutable snapshot, so that any thread reads it without
// holding a lock for long; nodes 0..n-1 that are all up are checked with one atomic load.

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cadre/runtime.hpp"

namespace cadre::node {

/// The nodes of the job, as a snapshot.
using NodeTable = std::vector<NodeInfo>;

/// How node `n`, no longer up, ended, in one word: "stopped" (stop_node, or on its way),
/// "left" (a joined node that left), else "lost".
inline const char* how_node_ended(const NodeTable& t, NodeId n) {
  for (const NodeInfo& i : t)
    if (i.id == n) {
      if (i.state == NodeState::stopped || i.state == NodeState::stopping) return "stopped";
      if (i.state == NodeState::left) return "left";
    }
  return "lost";
}

/// The same as a phrase after the node's description: "was lost", "was stopped", "left the
/// job".
inline std::string node_ended_phrase(const NodeTable& t, NodeId n) {
  const std::string word = how_node_ended(t, n);
  return word == "left" ? "left the job" : "was " + word;
}

class NodeDirectory {
 public:
  /// The table as last published. Any thread.
  std::shared_ptr<const NodeTable> table() const;
  /// Replaces the table. Loop thread.
  void publish(NodeTable t);
  /// How many times the table was published: a cache of what it holds is current while this
  /// has not moved. Any thread.
  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }
  /// Throws InvalidNode (naming the node and listing the live ones) or NodeDown unless `n`
  /// is known and up; `what` names the caller. Any thread.
  void check(NodeId n, const char* what) const {
    // Fast path without the table's lock: every node below the count is up.
    if (n.value() < contiguous_up_.load(std::memory_order_acquire)) return;
    check_in_table(n, what);
  }
  /// True when `n` is known and up. Any thread.
  bool is_up(NodeId n) const;
  /// "node 1 (host:1 on host host)", or "node 1" for a node the table does not hold.
  std::string describe(NodeId n) const;
  /// Marks `n` down, remembering `why`; returns its description. Loop thread.
  std::string mark_down(NodeId n, const std::string& why);
  /// Adds (or replaces) the record of node `info.id`. Loop thread.
  void add(const NodeInfo& info);
  /// Sets the state of `n` (stopping, stopped). Loop thread.
  void set_state(NodeId n, NodeState s);
  /// The nodes lost so far, in order. Loop thread.
  const std::vector<NodeId>& lost() const { return lost_; }
  /// For each lost node, "node 2 (...): why". Loop thread.
  const std::vector<std::string>& lost_why() const { return lost_why_; }

 private:
  void check_in_table(NodeId n, const char* what) const;

  mutable std::mutex mu_;
  std::shared_ptr<const NodeTable> table_ = std::make_shared<const NodeTable>();
  std::atomic<std::uint32_t> contiguous_up_{0};  // nodes 0..n-1 are known and up
  std::atomic<std::uint64_t> version_{0};
  std::vector<NodeId> lost_;
  std::vector<std::string> lost_why_;
};

}  // namespace cadre::node
