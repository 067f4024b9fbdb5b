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

class NodeDirectory {
 public:
  /// The table as last published. Any thread.
  std::shared_ptr<const NodeTable> table() const;
  /// Replaces the table. Loop thread.
  void publish(NodeTable t);
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
  std::vector<NodeId> lost_;
  std::vector<std::string> lost_why_;
};

}  // namespace cadre::node
