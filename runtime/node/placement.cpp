#include "node/placement.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "cadre/errors.hpp"
#include "node/job_hosts.hpp"
#include "node/node_table.hpp"
#include "node/service.hpp"

namespace cadre::node {

Placer::Placer(const NodeContext& node, const NodeDirectory* directory)
    : node_(node), directory_(directory), rng_(node.self_node().value() * 7919 + 17) {}

const std::vector<NodeId>& Placer::any_candidates() {
  const std::uint64_t v = directory_->version();
  if (v != any_version_) {
    any_ = candidates(Placement{});
    any_version_ = v;
  }
  return any_;
}

std::vector<NodeId> Placer::candidates(const Placement& where) const {
  auto table = node_.table();
  std::vector<NodeId> out;
  switch (where.kind) {
    case Placement::Kind::any:
    case Placement::Kind::random:
      for (auto& n : *table)
        if (n.id.value() != 0 && n.state == NodeState::up) out.push_back(n.id);
      if (out.empty()) out.push_back(NodeId(0));
      break;
    case Placement::Kind::node:
      node_.check_node(where.node, "cadre placement on()");
      out.push_back(where.node);
      break;
    case Placement::Kind::host: {
      std::string hosts;
      for (auto& n : *table) {
        if (n.state != NodeState::up) continue;
        if (n.host == where.host) out.push_back(n.id);
        if (hosts.find(n.host) == std::string::npos) hosts += (hosts.empty() ? "" : ", ") + n.host;
      }
      if (out.empty()) {
        // A host of the allocation (or of CADRE_HOSTS) without a node yet: say how to get one.
        const auto allocated = allocation_hosts();
        const bool known =
            std::find(allocated.begin(), allocated.end(), where.host) != allocated.end();
        throw InvalidNode(fmt::format(
            "cadre placement on_host(\"{}\"): no live node on that host (hosts with live nodes: "
            "{}){}",
            where.host, hosts,
            known ? "; it is one of the job's hosts (SLURM_JOB_NODELIST, CADRE_HOSTS): start a "
                    "node there with spawn_nodes({.host = ...})"
                  : "; it is not one of the job's hosts either (SLURM_JOB_NODELIST, CADRE_HOSTS)"));
      }
      break;
    }
    case Placement::Kind::local:
      out.push_back(node_.self_node());
      break;
    case Placement::Kind::random_on:
      out = on_hosts(where.hosts);
      break;
  }
  return out;
}

std::vector<NodeId> Placer::on_hosts(const std::vector<std::string>& wanted) const {
  const auto list = [&] {
    std::string s;
    for (auto& h : wanted) s += (s.empty() ? "\"" : ", \"") + h + "\"";
    return s;
  };
  if (wanted.empty())
    throw InvalidNode("cadre placement random_on({}): no host given; name at least one");
  auto table = node_.table();
  const auto listed = [&](const std::string& h) {
    return std::find(wanted.begin(), wanted.end(), h) != wanted.end();
  };
  // A name no node ever had is a mistake; a host whose nodes are all lost is only skipped.
  for (auto& h : wanted) {
    bool seen = false;
    for (auto& n : *table) seen = seen || n.host == h;
    if (!seen) {
      std::string hosts;
      for (auto& n : *table)
        if (hosts.find(n.host) == std::string::npos) hosts += (hosts.empty() ? "" : ", ") + n.host;
      throw InvalidNode(fmt::format(
          "cadre placement random_on({{{}}}): no node of this job is on host \"{}\" (the job's "
          "hosts: {})",
          list(), h, hosts));
    }
  }
  std::vector<NodeId> out;
  bool master_there = false;
  for (auto& n : *table) {
    if (n.state != NodeState::up || !listed(n.host)) continue;
    if (n.id.value() == 0)
      master_there = true;
    else
      out.push_back(n.id);
  }
  if (out.empty() && master_there) out.push_back(NodeId(0));
  if (out.empty())
    throw InvalidNode(fmt::format(
        "cadre placement random_on({{{}}}): every node on those hosts is lost", list()));
  return out;
}

NodeId Placer::pick(const Placement& where) {
  std::vector<NodeId> listed;
  const bool cached = directory_ && where.kind == Placement::Kind::any;
  if (!cached) listed = candidates(where);
  const std::vector<NodeId>& c = cached ? any_candidates() : listed;
  if (c.size() == 1) return c[0];
  if (is_random(where)) return c[random_index(c.size())];
  // Least outstanding work; ties go round-robin so equal nodes share the load.
  std::size_t start = rr_++ % c.size();
  NodeId best = c[start];
  for (std::size_t k = 0; k < c.size(); ++k) {
    NodeId n = c[(start + k) % c.size()];
    if (n.value() >= load_.size()) load_.resize(n.value() + 1, 0);
    if (best.value() >= load_.size()) load_.resize(best.value() + 1, 0);
    if (load_[n.value()] < load_[best.value()]) best = n;
  }
  return best;
}

void Placer::add_load(NodeId n, std::int64_t delta) {
  if (n.value() >= load_.size()) load_.resize(n.value() + 1, 0);
  load_[n.value()] += delta;
}

void Placer::add_requests(NodeId n, std::int64_t delta) {
  if (n.value() >= requests_.size()) requests_.resize(n.value() + 1, 0);
  requests_[n.value()] += delta;
}

void Placer::forget(NodeId n) {
  if (n.value() < load_.size()) load_[n.value()] = 0;
  if (n.value() < requests_.size()) requests_[n.value()] = 0;
}

}  // namespace cadre::node
