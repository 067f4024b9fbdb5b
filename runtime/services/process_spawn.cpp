// Spawning processes: locally, or on another node by request (spawn -> spawn_reply), with
// the spawner monitoring or linked from the start.

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

// A remote spawn: start the process here and answer with its serial or why not.
void ProcessService::on_spawn(NodeId src, const wire::Envelope& env, const char* p, std::size_t n) {
  detail::InArchive ia(p, n);
  std::uint64_t monitor_id;
  ia& monitor_id;
  SpawnAnswer a;
  const detail::Entry* e = detail::find_id(env.type_id);
  if (!e || e->kind != detail::EntryKind::task) {
    a.error_kind = 1;
    a.error = "not registered";
  } else if (core_.stopping()) {
    a.error = fmt::format("{} is shutting down", core_.describe(core_.self_node()));
  } else {
    ByteBuffer args;
    args.append(p + (n - ia.remaining()), ia.remaining());
    std::uint64_t serial = core_.next_serial();
    start_process(serial, e, std::move(args));
    Process* proc = find(serial);
    if (env.flags & kFlagSpawnMonitor) proc->watchers[monitor_id] = env.src;
    if (env.flags & kFlagSpawnLink) proc->links.insert(env.src);
    a.ok = true;
    a.serial = serial;
  }
  std::string payload = detail::encode_string(a);
  const wire::Envelope r = node::envelope({.cls = cls::spawn_reply,
                                           .flags = env.flags,
                                           .type_id = env.type_id,
                                           .corr = env.corr,
                                           .src = Pid{core_.self_node(), a.serial},
                                           .dst = env.src});
  send_env(src, r, payload.data(), payload.size());
}

// The answer to a spawn this node asked for.
void ProcessService::on_spawn_reply(NodeId src, const wire::Envelope& env, const char* p,
                                    std::size_t n) {
  auto it = spawns_.find(env.corr);
  if (it == spawns_.end()) return;
  auto pending = std::move(it->second);
  auto& result = pending.result;
  spawns_.erase(it);
  auto a = detail::decode_as<SpawnAnswer>(p, n);
  const detail::Entry* e = detail::find_id(env.type_id);
  std::string name = e ? e->name : fmt::format("{:#x}", env.type_id);
  if (a.ok) {
    result->set_value(0, a.serial);
    if (Process* req = find(env.dst.serial)) {
      if (env.flags & kFlagSpawnLink) req->links.insert(Pid{src, a.serial});
      if (auto m = req->monitors.find(pending.monitor_id);
          (env.flags & kFlagSpawnMonitor) && m != req->monitors.end())
        m->second = Pid{src, a.serial};
    }
  } else if (a.error_kind == 1) {
    result->set_all_errors(std::make_exception_ptr(NotRegistered(
        fmt::format("cadre::spawn: '{}' is not registered on {} (its program lacks CADRE_TASK({}))",
                    name, core_.describe(src), name))));
    if (env.flags & kFlagSpawnMonitor)
      if (Process* req = find(env.dst.serial)) req->monitors.erase(pending.monitor_id);
  } else {
    result->set_all_errors(std::make_exception_ptr(
        SpawnError(fmt::format("cadre::spawn of '{}': {}", name, a.error))));
  }
  result->complete();
}

void ProcessService::spawn(NodeId node, const detail::Entry* e, ByteBuffer args, std::uint8_t flags,
                           Pid requester, std::uint64_t monitor_id,
                           std::shared_ptr<detail::ResultState<std::uint64_t>> result) {
  Process* req = requester.node == core_.self_node() ? find(requester.serial) : nullptr;
  const bool system_watch = requester.serial == kFutureWatchSerial;
  if ((flags & (kFlagSpawnMonitor | kFlagSpawnLink)) && !req && !system_watch) {
    result->set_all_errors(std::make_exception_ptr(WrongRole(
        "cadre::spawn_monitor/spawn_link: only a process or the driver can monitor or link")));
    result->complete();
    return;
  }
  if ((flags & kFlagSpawnMonitor) && req) req->monitors.emplace(monitor_id, Pid{node, 0});
  if (node == core_.self_node()) {
    std::uint64_t serial = core_.next_serial();
    start_process(serial, e, std::move(args));
    Process* p = find(serial);
    if (flags & kFlagSpawnMonitor) p->watchers[monitor_id] = requester;
    if (flags & kFlagSpawnLink) {
      p->links.insert(requester);
      req->links.insert(pid_of(*p));
    }
    result->set_value(0, serial);
    result->complete();
    return;
  }
  std::uint64_t corr = next_id_++;
  spawns_[corr] = PendingSpawn{result, node, monitor_id};
  const wire::Envelope env = node::envelope({.cls = cls::spawn,
                                             .flags = flags,
                                             .type_id = e->id,
                                             .corr = corr,
                                             .src = requester,
                                             .dst = Pid{node, 0}});
  ByteBuffer payload;
  detail::OutArchive ar(payload);
  ar& monitor_id;
  payload.append(args.data(), args.size());
  send_env(node, env, payload.data(), payload.size());
}

}  // namespace cadre::services
