#include "node/node_table.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "cadre/errors.hpp"

namespace cadre::node {

std::shared_ptr<const NodeTable> NodeDirectory::table() const {
  std::lock_guard lock(mu_);
  return table_;
}

void NodeDirectory::publish(NodeTable t) {
  auto p = std::make_shared<const NodeTable>(std::move(t));
  std::uint32_t contiguous = 0;
  while (contiguous < p->size() && (*p)[contiguous].id.value() == contiguous &&
         (*p)[contiguous].state == NodeState::up)
    ++contiguous;
  std::lock_guard lock(mu_);
  table_ = std::move(p);
  version_.fetch_add(1, std::memory_order_acq_rel);
  contiguous_up_.store(contiguous, std::memory_order_release);
}

bool NodeDirectory::is_up(NodeId n) const {
  if (n.value() < contiguous_up_.load(std::memory_order_acquire)) return true;
  auto t = table();
  for (auto& i : *t)
    if (i.id == n) return i.state == NodeState::up;
  return false;
}

std::string NodeDirectory::describe(NodeId n) const {
  auto t = table();
  for (auto& i : *t)
    if (i.id == n) return fmt::format("node {} ({} on host {})", n.value(), i.name, i.host);
  return fmt::format("node {}", n.value());
}

void NodeDirectory::add(const NodeInfo& info) {
  NodeTable t = *table();
  bool found = false;
  for (auto& i : t)
    if (i.id == info.id) {
      i = info;
      found = true;
    }
  if (!found) t.push_back(info);
  std::sort(t.begin(), t.end(), [](const NodeInfo& a, const NodeInfo& b) { return a.id < b.id; });
  publish(std::move(t));
}

void NodeDirectory::set_state(NodeId n, NodeState s) {
  NodeTable t = *table();
  for (auto& i : t)
    if (i.id == n) i.state = s;
  publish(std::move(t));
}

std::string NodeDirectory::mark_down(NodeId n, const std::string& why) {
  NodeTable t = *table();
  std::string name = fmt::format("node {}", n.value());
  for (auto& i : t)
    if (i.id == n) {
      i.state = NodeState::down;
      name = fmt::format("node {} ({} on host {})", n.value(), i.name, i.host);
    }
  publish(std::move(t));
  lost_.push_back(n);
  lost_why_.push_back(fmt::format("{}: {}", name, why));
  return name;
}

void NodeDirectory::check_in_table(NodeId n, const char* what) const {
  auto t = table();
  for (auto& i : *t) {
    if (i.id != n) continue;
    if (i.state == NodeState::stopped)
      throw NodeDown(fmt::format("{}: node {} ({} on host {}) was stopped (stop_node)", what,
                                 n.value(), i.name, i.host));
    if (i.state == NodeState::left)
      throw NodeDown(fmt::format("{}: node {} ({} on host {}) left the job (leave or remove_node)",
                                 what, n.value(), i.name, i.host));
    if (i.state != NodeState::down) return;
    throw NodeDown(
        fmt::format("{}: node {} ({} on host {}) was lost", what, n.value(), i.name, i.host));
  }
  std::string live;
  for (auto& i : *t)
    if (i.state == NodeState::up || i.state == NodeState::stopping)
      live += fmt::format("{}{} ({})", live.empty() ? "" : ", ", i.id.value(), i.name);
  throw InvalidNode(fmt::format("{}: node {} is not part of the runtime (live nodes: {})", what,
                                n.value(), live));
}

}  // namespace cadre::node
