// Broadcasts: one copy to every process of every node, down a binomial tree of
// point-to-point sends rooted at the broadcasting node (each node forwards to at most
// log2(n) others).

#include <fmt/format.h>

#include <algorithm>

#include "cadre/errors.hpp"
#include "node/log.hpp"
#include "services/process_wire.hpp"
#include "services/processes.hpp"

namespace cadre::services {

using detail::ByteBuffer;
using detail::Mail;
using detail::MailKind;

void ProcessService::broadcast(NodeId node, std::uint64_t type_id, const std::string& payload,
                               bool tree, NodeId root) {
  const wire::Envelope env = node::envelope({.cls = cls::broadcast,
                                             .flags = std::uint8_t(tree ? kFlagForwardTree : 0),
                                             .type_id = type_id,
                                             .corr = root.value(),
                                             .src = caller(),
                                             .dst = Pid{node, 0}});
  if (node == core_.self_node()) {
    on_envelope(node, env, payload.data(), payload.size());
  } else {
    send_env(node, env, payload.data(), payload.size());
  }
}

// A broadcast: to every process here, then down the tree if it says so.
void ProcessService::on_broadcast(NodeId, const wire::Envelope& env, const char* p, std::size_t n) {
  for (auto& [serial, proc] : procs_) {
    Mail m;
    m.type_id = env.type_id;
    m.set_from(env.src);
    m.payload.assign(p, n);
    deliver(*proc, std::move(m));
  }
  if (env.flags & kFlagForwardTree) {
    // Forward down the binomial tree rooted at corr: position i sends to i + 2^k for
    // every 2^k > i.
    auto table = core_.table();
    std::vector<NodeId> ids;
    for (auto& ni : *table)
      if (ni.state == NodeState::up) ids.push_back(ni.id);
    const std::size_t size = ids.size();
    auto pos = [&](NodeId x) {
      return static_cast<std::size_t>(std::find(ids.begin(), ids.end(), x) - ids.begin());
    };
    const std::size_t root = pos(NodeId(static_cast<std::uint32_t>(env.corr)));
    const std::size_t me = pos(core_.self_node());
    if (root >= size || me >= size) return;
    const std::size_t i = (me + size - root) % size;
    for (std::size_t k = 1; k < size; k <<= 1) {
      if (k <= i) continue;
      if (i + k >= size) break;
      NodeId child = ids[(i + k + root) % size];
      wire::Envelope fwd = env;
      fwd.dst = Pid{child, 0};
      send_env(child, fwd, p, n);
    }
  }
}

}  // namespace cadre::services
