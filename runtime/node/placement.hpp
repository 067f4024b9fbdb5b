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

class Placer {
 public:
  /// Places work for `node`, whose table and identity it reads.
  explicit Placer(const NodeContext& node);
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
  /// `n` is lost: nothing is outstanding there any more.
  void forget(NodeId n);

 private:
  /// random_on's candidates: live workers on `hosts` (the master when it is the only one).
  std::vector<NodeId> on_hosts(const std::vector<std::string>& hosts) const;

  const NodeContext& node_;
  std::vector<std::int64_t> load_;  // outstanding inputs per node
  std::minstd_rand rng_;
  std::size_t rr_ = 0;
};

}  // namespace cadre::node
