// The bodies of include/cadre/hub.hpp: a hub's process, watched by a future that completes
// when it ends.

#include "api/process_support.hpp"
#include "cadre/hub.hpp"

namespace cadre::detail {

using api::core;
using api::global_id;
using api::start_spawn;

Pid spawn_watched(const Placement& where, const Entry* e, ByteBuffer&& args,
                  std::shared_ptr<ResultState<void>> done) {
  // The future `done` watches the process under the reserved serial.
  auto& c = core();
  std::uint64_t mon = global_id();
  return start_spawn("cadre::spawn_hub", where, e, std::move(args), services::kFlagSpawnMonitor,
                     Pid{c.self_node(), node::kFutureWatchSerial}, mon, [mon, done](NodeId n) {
                       api::processes().future_watches_[mon] = done;
                       api::processes().future_watch_nodes_[mon] = n;
                     });
}

}  // namespace cadre::detail
