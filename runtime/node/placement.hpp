#pragma once
// Placement: which node new work (a task, a map chunk, a process) goes to. Candidates come
// from the node table and the Placement asked for; among several, the least loaded wins, ties
// going round-robin so that equal nodes share the work.
//
// Thread rule: loop thread only.

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "cadre/tasks.hpp"

namespace cadre::node {

class NodeContext;
class NodeDirectory;

class Placer {
 public:
  /// Places work for `node`, whose table and identity it reads. With the node's `directory`,
  /// the candidates of any() are kept between table changes rather than listed at each pick.
  explicit Placer(const NodeContext& node, const NodeDirectory* directory = nullptr);
  /// The nodes `where` allows (throws InvalidNode, naming the live nodes or hosts).
  std::vector<NodeId> candidates(const Placement& where) const;
  /// The node new work goes to (throws InvalidNode).
  NodeId pick(const Placement& where);
  /// Whether `where` picks at random among its candidates (random, random_on).
  static bool is_random(const Placement& where) {
    return where.kind == Placement::Kind::random || where.kind == Placement::Kind::random_on;
  }
  /// A uniform index below `n` (> 0), from the generator random placement uses.
  std::size_t random_index(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }
  /// Adds `delta` to the outstanding work on `n`.
  void add_load(NodeId n, std::int64_t delta);
  /// Adds `delta` to the task requests (messages) `n` has in hand.
  void add_requests(NodeId n, std::int64_t delta);
  /// The task requests sent to `n` whose results have not come back.
  std::int64_t requests(NodeId n) const {
    return n.value() < requests_.size() ? requests_[n.value()] : 0;
  }
  /// `n` is lost: nothing is outstanding there any more.
  void forget(NodeId n);

 private:
  /// random_on's candidates: live workers on `hosts` (the master when it is the only one).
  std::vector<NodeId> on_hosts(const std::vector<std::string>& hosts) const;

  /// any()'s candidates, listed again when the directory's version moved.
  const std::vector<NodeId>& any_candidates();

  const NodeContext& node_;
  const NodeDirectory* directory_;
  std::vector<NodeId> any_;
  std::uint64_t any_version_ = UINT64_MAX;
  std::vector<std::int64_t> load_;      // outstanding inputs per node
  std::vector<std::int64_t> requests_;  // outstanding task requests per node
  std::minstd_rand rng_;
  std::size_t rr_ = 0;
};

}  // namespace cadre::node
