// The bodies of include/cadre/hub.hpp: a hub's process, watched by a future that completes
// when it ends; a hub's refusals and dropped frames.

#include <fmt/format.h>

#include "api/process_support.hpp"
#include "cadre/hub.hpp"
#include "node/log.hpp"

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

void hub_refuse(Pid hub, const HubHello& h, const std::string& in, const std::string& out) {
  std::string why = fmt::format(
      "hub {} is a Hub<{}, {}> but the channel of {} is a Channel<{}, {}>; a channel needs "
      "the hub's In and Out types",
      hub, in, out, h.client, h.in, h.out);
  node::log_local(Level::warn, fmt::format("cadre::Hub: refused a client: {}", why));
  try {
    cadre::send(h.client, HubRefused{hub, h.in, h.out, why});
  } catch (const Error& e) {
    // A forged client pid (a node that never existed): nobody to tell.
    hub_drop(hub, h.client, e.what());
  }
}

void hub_drop(Pid hub, Pid client, const std::string& why) {
  node::log_local(
      Level::warn,
      fmt::format("cadre::Hub: hub {} dropped a message from client {}: {}", hub, client, why));
}

void throw_hub_refused(const HubRefused& r, const char* what) {
  throw Error(fmt::format("{}: the hub refused this channel: {}", what, r.why));
}

}  // namespace cadre::detail
