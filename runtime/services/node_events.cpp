// Node monitors (node_events.hpp).

#include "services/node_events.hpp"

#include <algorithm>

#include "cadre/detail/registry.hpp"

CADRE_MESSAGE(cadre::NodeEvent);

namespace cadre::services {

void NodeEventService::watch(Pid watcher, NodeId n) {
  auto table = node_.table();
  for (const NodeInfo& i : *table) {
    if (i.id != n) continue;
    if (i.state == NodeState::up || i.state == NodeState::stopping) {
      tell(watcher, NodeEvent{n, NodeEvent::Kind::up, {}});
      auto& w = watchers_[n.value()];
      if (std::find(w.begin(), w.end(), watcher) == w.end()) w.push_back(watcher);
    } else {
      tell(watcher, NodeEvent{n, NodeEvent::Kind::down, node::how_node_ended(*table, n)});
    }
    return;
  }
}

void NodeEventService::unwatch(Pid watcher, NodeId n) {
  auto it = watchers_.find(n.value());
  if (it == watchers_.end()) return;
  std::erase(it->second, watcher);
  if (it->second.empty()) watchers_.erase(it);
}

void NodeEventService::on_node_down(NodeId n) {
  auto it = watchers_.find(n.value());
  if (it == watchers_.end()) return;
  std::vector<Pid> watchers = std::move(it->second);
  watchers_.erase(it);
  const std::string why = node::how_node_ended(*node_.table(), n);
  for (Pid w : watchers) tell(w, NodeEvent{n, NodeEvent::Kind::down, why});
}

void NodeEventService::tell(Pid watcher, const NodeEvent& e) {
  const detail::Entry* entry = detail::find_message(typeid(NodeEvent));
  if (!entry) return;
  detail::ByteBuffer b;
  {
    detail::OutArchive ar(b);
    ar& const_cast<NodeEvent&>(e);
  }
  wire::Envelope env{};
  env.cls = static_cast<std::uint8_t>(cls::message);
  env.type_id = entry->id;
  env.src = Pid{node_.self_node(), 0};
  env.dst = watcher;
  processes_.route(env, b.data(), b.size());
}

}  // namespace cadre::services
