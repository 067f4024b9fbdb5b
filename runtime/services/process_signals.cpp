// Monitors, links, exit signals and kill; what a lost node means for them.

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

void ProcessService::send_down(Pid watcher, Pid target, std::uint64_t id, Reason r,
                               const std::string& d) {
  Down down{target, r, d, MonitorRef{watcher, target, id}};
  std::string payload = detail::encode_string(down);
  const wire::Envelope env =
      node::envelope({.cls = cls::down, .corr = id, .src = target, .dst = watcher});
  if (watcher.node == core_.self_node()) {
    on_envelope(core_.self_node(), env, payload.data(), payload.size());
  } else {
    send_env(watcher.node, env, payload.data(), payload.size());
  }
}

void ProcessService::send_exit(Pid to, Pid from, Reason r, const std::string& d) {
  const wire::Envelope env = node::envelope({.cls = cls::exit_signal, .src = from, .dst = to});
  std::string payload = detail::encode_string(ExitSignal{r, d});
  if (to.node == core_.self_node()) {
    on_envelope(core_.self_node(), env, payload.data(), payload.size());
  } else {
    send_env(to.node, env, payload.data(), payload.size());
  }
}

void ProcessService::on_exit_signal(Process& p, Pid from, Reason r, const std::string& d) {
  p.links.erase(from);
  if (p.trap) {
    Mail m;
    m.kind = MailKind::exit;
    m.set_from(from);
    m.payload = detail::encode_string(Exit{from, r, d});
    deliver(p, std::move(m));
    return;
  }
  if (r == Reason::normal) return;
  ProcessEnded k{Reason::linked, fmt::format("linked process {} ended ({}){}{}", from, to_string(r),
                                             d.empty() ? "" : ": ", d)};
  if (p.threaded) {
    std::lock_guard lock(p.mu);
    p.kill = std::move(k);
    p.cv.notify_one();
  } else {
    p.kill = std::move(k);
    core_.scheduler().wake(p.fiber);
  }
}

// -- monitors, links, kill -----------------------------------------------------------------

void ProcessService::monitor(Pid watcher, Pid target, std::uint64_t id) {
  if (watcher.node == core_.self_node())
    if (Process* w = find(watcher.serial)) w->monitors.emplace(id, target);
  if (target.node != core_.self_node()) {
    const wire::Envelope env =
        node::envelope({.cls = cls::monitor, .corr = id, .src = watcher, .dst = target});
    send_env(target.node, env, nullptr, 0);
    return;
  }
  Process* t = find(target.serial);
  if (!t) {
    send_down(watcher, target, id, Reason::no_process, "");
    return;
  }
  t->watchers[id] = watcher;
}

void ProcessService::demonitor(Pid watcher, Pid target, std::uint64_t id) {
  if (watcher.node == core_.self_node())
    if (Process* w = find(watcher.serial)) w->monitors.erase(id);
  if (target.node != core_.self_node()) {
    const wire::Envelope env =
        node::envelope({.cls = cls::demonitor, .corr = id, .src = watcher, .dst = target});
    send_env(target.node, env, nullptr, 0);
    return;
  }
  if (Process* t = find(target.serial)) t->watchers.erase(id);
}

std::size_t ProcessService::drop_queued_downs(Process& p, std::uint64_t id) {
  std::size_t count = 0, bytes = 0;
  auto is_it = [&](const detail::Mail& x) {
    if (x.kind != detail::MailKind::down || x.corr != id) return false;
    ++count;
    bytes += MailQueue::kSlotBytes + x.payload.heap_bytes();
    return true;
  };
  p.mailbox.erase_if(is_it);
  if (p.threaded) {
    std::lock_guard lock(p.mu);
    std::erase_if(p.inbox, is_it);
    p.queued -= count;
    p.queued_bytes -= bytes;
  }
  return count;
}

void ProcessService::link(Pid a, Pid b) {
  if (Process* pa = a.node == core_.self_node() ? find(a.serial) : nullptr) pa->links.insert(b);
  if (b.node != core_.self_node()) {
    const wire::Envelope env = node::envelope({.cls = cls::link, .src = a, .dst = b});
    send_env(b.node, env, nullptr, 0);
    return;
  }
  Process* pb = find(b.serial);
  if (!pb) {
    send_exit(a, b, Reason::no_process, "");
    return;
  }
  pb->links.insert(a);
}

void ProcessService::unlink(Pid a, Pid b) {
  if (Process* pa = a.node == core_.self_node() ? find(a.serial) : nullptr) pa->links.erase(b);
  if (b.node != core_.self_node()) {
    const wire::Envelope env = node::envelope({.cls = cls::unlink, .src = a, .dst = b});
    send_env(b.node, env, nullptr, 0);
    return;
  }
  if (Process* pb = find(b.serial)) pb->links.erase(a);
}

void ProcessService::kill(Pid target, const std::string& d) {
  if (target.node != core_.self_node()) {
    const wire::Envelope env = node::envelope({.cls = cls::kill, .dst = target});
    std::string payload = detail::encode_string(d);
    send_env(target.node, env, payload.data(), payload.size());
    return;
  }
  Process* p = find(target.serial);
  if (!p) return;  // already ended: nothing to kill
  if (p->threaded) {
    std::lock_guard lock(p->mu);
    p->kill = ProcessEnded{Reason::killed, d};
    p->cv.notify_one();
  } else {
    p->kill = ProcessEnded{Reason::killed, d};
    core_.scheduler().wake(p->fiber);
  }
}

void ProcessService::node_down(NodeId n) {
  const std::string why =
      fmt::format("{} {}", core_.describe(n), node::node_ended_phrase(*core_.table(), n));
  std::vector<std::pair<Process*, Pid>> broken_links;
  for (auto& [serial, owned] : procs_) {
    Process& p = *owned;
    for (auto it = p.monitors.begin(); it != p.monitors.end();) {
      if (it->second.node != n) {
        ++it;
        continue;
      }
      Down d{it->second, Reason::node_down, why, MonitorRef{pid_of(p), it->second, it->first}};
      Mail m;
      m.kind = MailKind::down;
      m.set_from(it->second);
      m.corr = it->first;
      m.payload = detail::encode_string(d);
      it = p.monitors.erase(it);
      deliver(p, std::move(m));
    }
    for (auto& l : p.links)
      if (l.node == n) broken_links.emplace_back(&p, l);
    std::erase_if(p.watchers, [&](const auto& kv) { return kv.second.node == n; });
  }
  for (auto& [p, l] : broken_links) on_exit_signal(*p, l, Reason::node_down, why);
  for (auto it = spawns_.begin(); it != spawns_.end();) {
    if (it->second.node != n) {
      ++it;
      continue;
    }
    it->second.result->set_all_errors(
        std::make_exception_ptr(NodeDown(fmt::format("cadre::spawn: {}", why))));
    it->second.result->complete();
    it = spawns_.erase(it);
  }
  std::erase_if(names_, [&](const auto& kv) { return kv.second.node == n; });
  std::erase_if(name_monitors_, [&](const auto& kv) { return kv.second.node == n; });
  for (auto it = future_watch_nodes_.begin(); it != future_watch_nodes_.end();) {
    if (it->second != n) {
      ++it;
      continue;
    }
    if (auto w = future_watches_.find(it->first); w != future_watches_.end()) {
      w->second->set_all_errors(
          std::make_exception_ptr(NodeDown(fmt::format("cadre: a hub's process: {}", why))));
      w->second->complete();
      future_watches_.erase(w);
    }
    it = future_watch_nodes_.erase(it);
  }
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

}  // namespace cadre::services
