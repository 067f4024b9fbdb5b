// The process service's envelope classes, each to its named handler.

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

// The process classes, each to its handler.
const node::HandlerTable<ProcessService>& ProcessService::handlers() {
  using S = ProcessService;
  static const node::HandlerTable<S> table{
      {cls::message, "message", node::kAnyNode, &S::on_message},
      {cls::reply, "reply", node::kAnyNode, &S::on_message},
      {cls::spawn, "spawn", node::kAnyNode, &S::on_spawn},
      {cls::spawn_reply, "spawn_reply", node::kAnyNode, &S::on_spawn_reply},
      {cls::monitor, "monitor", node::kAnyNode, &S::on_monitor},
      {cls::demonitor, "demonitor", node::kAnyNode, &S::on_demonitor},
      {cls::down, "down", node::kAnyNode, &S::on_down},
      {cls::link, "link", node::kAnyNode, &S::on_link},
      {cls::unlink, "unlink", node::kAnyNode, &S::on_unlink},
      {cls::exit_signal, "exit_signal", node::kAnyNode, &S::on_exit_envelope},
      {cls::kill, "kill", node::kAnyNode, &S::on_kill},
      // A broadcast travels down a tree: its source is the process that broadcast.
      {cls::broadcast, "broadcast", node::kForwarded, &S::on_broadcast},
      {cls::name_register, "name_register", node::kAnyNode, &S::on_name_request},
      {cls::name_lookup, "name_lookup", node::kAnyNode, &S::on_name_request},
      {cls::name_reply, "name_reply", node::kAnyNode, &S::on_name_reply},
  };
  return table;
}

std::vector<node::ClassSpec> ProcessService::classes() const { return handlers().specs(); }

void ProcessService::on_envelope(NodeId src, const wire::Envelope& env, const char* p,
                                 std::size_t n) {
  handlers().dispatch(*this, src, env, p, n);
}

void ProcessService::on_message(NodeId, const wire::Envelope& env, const char* p, std::size_t n) {
  deliver_local(env, p, n);
}

void ProcessService::on_monitor(NodeId, const wire::Envelope& env, const char*, std::size_t) {
  monitor(env.src, env.dst, env.corr);
}

void ProcessService::on_demonitor(NodeId, const wire::Envelope& env, const char*, std::size_t) {
  demonitor(env.src, env.dst, env.corr);
}

void ProcessService::on_link(NodeId, const wire::Envelope& env, const char*, std::size_t) {
  link(env.src, env.dst);
}

void ProcessService::on_unlink(NodeId, const wire::Envelope& env, const char*, std::size_t) {
  unlink(env.src, env.dst);
}

void ProcessService::on_kill(NodeId, const wire::Envelope& env, const char* p, std::size_t n) {
  kill(env.dst, detail::decode_as<std::string>(p, n));
}

void ProcessService::on_name_request(NodeId, const wire::Envelope& env, const char* p,
                                     std::size_t n) {
  name_service(static_cast<node::Cls>(env.cls), env.src, env.corr, p, n);
}

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

// A Down: for a future watching a process (hubs), the name service, or a watcher's mailbox.
void ProcessService::on_down(NodeId src, const wire::Envelope& env, const char* p, std::size_t n) {
  if (detail::decode_as<Down>(p, n).pid != env.src)
    throw DecodeError(fmt::format("a Down whose pid is not its sender {}", env.src));
  if (env.dst.serial == kFutureWatchSerial) {
    auto it = future_watches_.find(env.corr);
    if (it == future_watches_.end()) return;
    auto st = std::move(it->second);
    future_watches_.erase(it);
    future_watch_nodes_.erase(env.corr);
    auto d = detail::decode_as<Down>(p, n);
    if (d.reason != Reason::normal)
      st->set_all_errors(std::make_exception_ptr(RemoteError(
          fmt::format("cadre: process {} on {} ended ({}){}{}", d.pid, core_.describe(src),
                      to_string(d.reason), d.detail.empty() ? "" : ": ", d.detail))));
    st->complete();
    return;
  }
  if (env.dst.node == core_.self_node() && env.dst.serial == kNameServiceSerial) {
    auto it = name_monitors_.find(env.corr);
    if (it == name_monitors_.end()) return;
    Pid gone = it->second;
    name_monitors_.erase(it);
    std::erase_if(names_, [&](const auto& kv) { return kv.second == gone; });
    return;
  }
  Process* w = find(env.dst.serial);
  if (!w || !w->monitors.erase(env.corr)) return;  // unmonitored meanwhile: dropped
  Mail m;
  m.kind = MailKind::down;
  m.set_from(env.src);
  m.corr = env.corr;
  m.payload.assign(p, n);
  deliver(*w, std::move(m));
}

// An exit signal of a linked process.
void ProcessService::on_exit_envelope(NodeId, const wire::Envelope& env, const char* p,
                                      std::size_t n) {
  Process* proc = find(env.dst.serial);
  // Only a linked process's exit reaches it (unlinked meanwhile: dropped).
  if (!proc || !proc->links.count(env.src)) return;
  auto sig = detail::decode_as<ExitSignal>(p, n);
  on_exit_signal(*proc, env.src, sig.reason, sig.detail);
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

// The master's answer to a name request.
void ProcessService::on_name_reply(NodeId, const wire::Envelope& env, const char* p,
                                   std::size_t n) {
  auto it = name_waits_.find(env.corr);
  if (it == name_waits_.end()) return;
  auto result = std::move(it->second);
  name_waits_.erase(it);
  auto a = detail::decode_as<NameAnswer>(p, n);
  if (a.ok)
    result->set_value(0, a.pid);
  else
    result->set_all_errors(std::make_exception_ptr(Error(a.error)));
  result->complete();
}

}  // namespace cadre::services
