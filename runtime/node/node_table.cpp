#include "node/node_table.hpp"

#include <fmt/format.h>

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
    if (i.state != NodeState::down) return;
    throw NodeDown(
        fmt::format("{}: node {} ({} on host {}) was lost", what, n.value(), i.name, i.host));
  }
  std::string live;
  for (auto& i : *t)
    if (i.state != NodeState::down)
      live += fmt::format("{}{} ({})", live.empty() ? "" : ", ", i.id.value(), i.name);
  throw InvalidNode(fmt::format("{}: node {} is not part of the runtime (live nodes: {})", what,
                                n.value(), live));
}

}  // namespace cadre::node
