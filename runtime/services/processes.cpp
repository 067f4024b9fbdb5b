#include "services/processes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>

#include "cadre/errors.hpp"
#include "node/core.hpp"
#include "services/tasks.hpp"

namespace cadre {

std::string_view to_string(Reason r) {
  switch (r) {
    case Reason::normal:
      return "normal";
    case Reason::exception:
      return "exception";
    case Reason::no_process:
      return "no_process";
    case Reason::unknown_node:
      return "unknown_node";
    case Reason::node_down:
      return "node_down";
    case Reason::killed:
      return "killed";
    case Reason::linked:
      return "linked";
    case Reason::shutdown:
      return "shutdown";
    case Reason::overflow:
      return "overflow";
  }
  return "?";
}

}  // namespace cadre

namespace cadre::services {

using detail::ByteBuffer;
using detail::Mail;
using detail::MailKind;
using node::Cls;

namespace {

// The master's name service watches named pids under this serial.
constexpr std::uint64_t kNameService = UINT64_MAX - 1;
// Futures that complete when a process ends (hubs) watch under this serial.
constexpr std::uint64_t kFutureWatch = kFutureWatchSerial;

struct SpawnAnswer {
  bool ok = false;
  std::uint64_t serial = 0;
  std::uint8_t error_kind = 0;  // 1 not registered
  std::string error;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& ok& serial& error_kind& error;
  }
};

struct NameAnswer {
  bool ok = false;
  std::optional<Pid> pid;
  std::string error;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& ok& pid& error;
  }
};

struct ExitSignal {
  Reason reason = Reason::normal;
  std::string detail;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& reason& detail;
  }
};

}  // namespace

ProcessService::ProcessService(node::Core& core) : core_(core) {}
ProcessService::~ProcessService() = default;

void ProcessService::add_driver() {
  auto p = std::make_unique<Process>();
  p->serial = 0;
  p->threaded = true;
  driver_ = p.get();
  procs_.emplace(0, std::move(p));
}

Process* ProcessService::current() const {
  if (node::t_driver_thread) return driver_;
  if (!core_.on_loop_thread()) return nullptr;
  auto* f = sched::Scheduler::current();
  return f ? static_cast<Process*>(f->local) : nullptr;
}

Pid ProcessService::pid_of(const Process& p) const { return Pid{core_.self_node(), p.serial}; }

Process* ProcessService::find(std::uint64_t serial) {
  auto it = procs_.find(serial);
  return it == procs_.end() ? nullptr : it->second.get();
}

void ProcessService::send_env(NodeId dst, const wire::Envelope& env, const char* p, std::size_t n) {
  core_.send(dst, env, p, n);
}

void ProcessService::check_killed(Process* p) {
  if (!p) return;
  std::optional<ProcessEnded> k;
  if (p->threaded) {
    std::lock_guard lock(p->mu);
    k.swap(p->kill);
  } else {
    k.swap(p->kill);
  }
  if (k) throw *k;
}

void ProcessService::deliver(Process& p, Mail&& m) {
  const std::size_t n = m.payload.size();
  if (p.overflowed) {
    ++drops_.overflow;
    return;
  }
  if (over_bound(p, n)) {
    overflow(p);
    ++drops_.overflow;
    return;
  }
  if (p.threaded) {
    std::lock_guard lock(p.mu);
    p.queued += 1;
    p.queued_bytes += MailQueue::kSlotBytes + m.payload.heap_bytes();
    p.inbox.push_back(std::move(m));
    p.cv.notify_one();
    return;
  }
  p.mailbox.push_back(std::move(m));
  if (p.waiting) core_.scheduler().wake(p.fiber);
}

bool ProcessService::over_bound(Process& p, std::size_t n) const {
  const MailboxLimit& limit = core_.options().mailbox_limit;
  const std::size_t add = MailQueue::kSlotBytes + (n > detail::InlineBytes::kInline ? n : 0);
  if (p.threaded) {
    std::lock_guard lock(p.mu);
    return p.queued >= limit.messages || p.queued_bytes + add > limit.bytes;
  }
  return p.mailbox.live() >= limit.messages || p.mailbox.bytes() + add > limit.bytes;
}

void ProcessService::overflow(Process& p) {
  const MailboxLimit& limit = core_.options().mailbox_limit;
  std::size_t queued = 0, bytes = 0;
  p.overflowed = true;
  if (p.threaded) {
    // The driver's own mailbox belongs to its thread: only what waits in the inbox goes now.
    std::lock_guard lock(p.mu);
    queued = p.queued;
    bytes = p.queued_bytes;
    drops_.overflow += p.inbox.size();
    p.queued -= p.inbox.size();
    p.inbox.clear();
  } else {
    queued = p.mailbox.live();
    bytes = p.mailbox.bytes();
    drops_.overflow += p.mailbox.clear();
  }
  const std::string detail = fmt::format(
      "its mailbox passed the bound of {} messages or {} bytes with {} messages ({} bytes) "
      "unread (Options::mailbox_limit; CADRE_MAILBOX_LIMIT_MESSAGES, "
      "CADRE_MAILBOX_LIMIT_BYTES)",
      limit.messages, limit.bytes, queued, bytes);
  const Pid me = pid_of(p);
  if (p.threaded) {
    node::log_local(Level::error,
                    fmt::format("process {} (the driver) overflowed: {}; the job ends", me, detail));
    core_.fail_job(fmt::format("the driver's mailbox overflowed ({})", detail));
    std::lock_guard lock(p.mu);
    p.kill = ProcessEnded{Reason::overflow, detail};
    p.cv.notify_one();
    return;
  }
  node::log_local(Level::warn,
                  fmt::format("process {} overflowed: {}; it ends with reason overflow", me, detail));
  p.kill = ProcessEnded{Reason::overflow, detail};
  core_.scheduler().wake(p.fiber);
}

void ProcessService::count_driver_unread() {
  if (!driver_) return;
  std::lock_guard lock(driver_->mu);
  drops_.unread += driver_->queued;
  driver_->queued = 0;
  driver_->queued_bytes = 0;
  driver_->inbox.clear();
}

// -- processes ------------------------------------------------------------------------------

void ProcessService::start_process(std::uint64_t serial, const detail::Entry* e, ByteBuffer args) {
  auto owned = std::make_unique<Process>();
  Process* raw = owned.get();
  raw->serial = serial;
  procs_.emplace(serial, std::move(owned));
  raw->fiber = core_.scheduler().spawn(
      [this, raw, serial, e, args = std::move(args)]() mutable {
        Reason r = Reason::normal;
        std::string d;
        try {
          check_killed(raw);
          detail::InArchive ia(args.data(), args.size());
          ByteBuffer out;
          detail::OutArchive oa(out);
          bool decoded = false;
          e->invoke(ia, oa, &decoded);
        } catch (const ProcessEnded& k) {
          r = k.reason;
          d = k.detail;
        } catch (const InvalidNode& ex) {
          r = Reason::unknown_node;
          d = ex.what();
        } catch (const std::exception& ex) {
          r = Reason::exception;
          d = fmt::format("{}: {}", detail::type_name(typeid(ex)), ex.what());
        } catch (...) {
          r = Reason::exception;
          d = "a non-standard exception";
        }
        if (Process* p = find(serial)) finish(*p, r, d);
      },
      serial);
  raw->fiber->local = raw;
}

void ProcessService::finish(Process& p, Reason reason, const std::string& detail) {
  const Pid me = pid_of(p);
  // Monitors and links are told after everything the process sent: its last messages are on
  // the same links, ahead of these notices.
  auto watchers = std::move(p.watchers);
  auto links = std::move(p.links);
  drops_.unread += p.mailbox.live();  // delivered, never handled
  if (last_ == &p) last_ = nullptr;
  procs_.erase(p.serial);
  for (auto& [id, w] : watchers) send_down(w, me, id, reason, detail);
  for (auto& l : links) send_exit(l, me, reason, detail);
}

void ProcessService::spawn(NodeId node, const detail::Entry* e, ByteBuffer args, std::uint8_t flags,
                           Pid requester, std::uint64_t monitor_id,
                           std::shared_ptr<detail::ResultState<std::uint64_t>> result) {
  Process* req = requester.node == core_.self_node() ? find(requester.serial) : nullptr;
  const bool system_watch = requester.serial == kFutureWatch;
  if ((flags & 3) && !req && !system_watch) {
    result->set_all_errors(std::make_exception_ptr(WrongRole(
        "cadre::spawn_monitor/spawn_link: only a process or the driver can monitor or link")));
    result->complete();
    return;
  }
  if ((flags & 1) && req) req->monitors.emplace(monitor_id, Pid{node, 0});
  if (node == core_.self_node()) {
    std::uint64_t serial = core_.next_serial();
    start_process(serial, e, std::move(args));
    Process* p = find(serial);
    if (flags & 1) p->watchers[monitor_id] = requester;
    if (flags & 2) {
      p->links.insert(requester);
      req->links.insert(pid_of(*p));
    }
    result->set_value(0, serial);
    result->complete();
    return;
  }
  std::uint64_t corr = next_id_++;
  spawns_[corr] = PendingSpawn{result, node, monitor_id};
  wire::Envelope env{};
  env.cls = static_cast<std::uint8_t>(Cls::spawn);
  env.flags = flags;
  env.type_id = e->id;
  env.corr = corr;
  env.src = requester;
  env.dst = Pid{node, 0};
  ByteBuffer payload;
  detail::OutArchive ar(payload);
  ar& monitor_id;
  payload.append(args.data(), args.size());
  send_env(node, env, payload.data(), payload.size());
}

std::size_t ProcessService::end_all(Reason reason, const std::string& detail) {
  std::size_t n = 0;
  for (auto& [serial, p] : procs_) {
    if (p.get() == driver_) continue;
    p->kill = ProcessEnded{reason, detail};
    core_.scheduler().wake(p->fiber);
    ++n;
  }
  return n;
}

// -- delivery -------------------------------------------------------------------------------

void ProcessService::route(const wire::Envelope& env, const char* p, std::size_t n) {
  if (env.dst.node == core_.self_node()) {
    deliver_local(env, p, n);
  } else {
    send_env(env.dst.node, env, p, n);
  }
}

void ProcessService::deliver_local(const wire::Envelope& env, const char* p, std::size_t n) {
  // Streams go to one process: remember the last one found.
  Process* proc = last_ && last_serial_ == env.dst.serial ? last_ : find(env.dst.serial);
  last_ = proc;
  last_serial_ = env.dst.serial;
  if (!proc) {
    ++drops_.ended;  // its process has ended (or never existed): counted, never a failure
    return;
  }
  const bool reply = env.cls == static_cast<std::uint8_t>(Cls::reply);
  if (reply && !proc->calls.count(env.corr)) {
    ++drops_.late_reply;  // its caller gave up
    return;
  }
  auto fill = [&](Mail& m) {
    m.kind = reply ? MailKind::reply : MailKind::user;
    m.is_call = (env.flags & 1) != 0;
    m.type_id = env.type_id;
    m.set_from(env.src);
    m.corr = env.corr;
    m.payload.assign(p, n);
  };
  if (proc->threaded) {
    Mail m;
    fill(m);
    deliver(*proc, std::move(m));
    return;
  }
  if (proc->overflowed) {
    ++drops_.overflow;
    return;
  }
  if (over_bound(*proc, n)) {
    overflow(*proc);
    ++drops_.overflow;
    return;
  }
  fill(proc->mailbox.emplace_back(n));  // built in place: the stream's common case
  if (proc->waiting) core_.scheduler().wake(proc->fiber);
}

void ProcessService::send_down(Pid watcher, Pid target, std::uint64_t id, Reason r,
                               const std::string& d) {
  Down down{target, r, d, MonitorRef{watcher, target, id}};
  std::string payload = detail::encode_string(down);
  wire::Envelope env{};
  env.cls = static_cast<std::uint8_t>(Cls::down);
  env.corr = id;
  env.src = target;
  env.dst = watcher;
  if (watcher.node == core_.self_node()) {
    on_envelope(core_.self_node(), env, payload.data(), payload.size());
  } else {
    send_env(watcher.node, env, payload.data(), payload.size());
  }
}

void ProcessService::send_exit(Pid to, Pid from, Reason r, const std::string& d) {
  wire::Envelope env{};
  env.cls = static_cast<std::uint8_t>(Cls::exit_signal);
  env.src = from;
  env.dst = to;
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
    wire::Envelope env{};
    env.cls = static_cast<std::uint8_t>(Cls::monitor);
    env.corr = id;
    env.src = watcher;
    env.dst = target;
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
    wire::Envelope env{};
    env.cls = static_cast<std::uint8_t>(Cls::demonitor);
    env.corr = id;
    env.src = watcher;
    env.dst = target;
    send_env(target.node, env, nullptr, 0);
    return;
  }
  if (Process* t = find(target.serial)) t->watchers.erase(id);
}

void ProcessService::link(Pid a, Pid b) {
  if (Process* pa = a.node == core_.self_node() ? find(a.serial) : nullptr) pa->links.insert(b);
  if (b.node != core_.self_node()) {
    wire::Envelope env{};
    env.cls = static_cast<std::uint8_t>(Cls::link);
    env.src = a;
    env.dst = b;
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
    wire::Envelope env{};
    env.cls = static_cast<std::uint8_t>(Cls::unlink);
    env.src = a;
    env.dst = b;
    send_env(b.node, env, nullptr, 0);
    return;
  }
  if (Process* pb = find(b.serial)) pb->links.erase(a);
}

void ProcessService::kill(Pid target, const std::string& d) {
  if (target.node != core_.self_node()) {
    wire::Envelope env{};
    env.cls = static_cast<std::uint8_t>(Cls::kill);
    env.dst = target;
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

// -- broadcasts -----------------------------------------------------------------------------

void ProcessService::broadcast(NodeId node, std::uint64_t type_id, const std::string& payload,
                               bool tree, NodeId root) {
  wire::Envelope env{};
  env.cls = static_cast<std::uint8_t>(Cls::broadcast);
  env.type_id = type_id;
  env.flags = tree ? 1 : 0;
  env.corr = root.value();
  env.src = self();
  env.dst = Pid{node, 0};
  if (node == core_.self_node()) {
    on_envelope(node, env, payload.data(), payload.size());
  } else {
    send_env(node, env, payload.data(), payload.size());
  }
}

// -- names (the service runs on the master) ------------------------------------------------

void ProcessService::name_request(Cls cls, Pid requester, std::string name, Pid pid,
                                  std::shared_ptr<detail::ResultState<std::optional<Pid>>> result) {
  std::uint64_t corr = next_id_++;
  name_waits_[corr] = std::move(result);
  std::string payload = detail::encode_string(std::make_pair(name, pid));
  if (core_.is_master()) {
    name_service(cls, requester, corr, payload.data(), payload.size());
    return;
  }
  wire::Envelope env{};
  env.cls = static_cast<std::uint8_t>(cls);
  env.corr = corr;
  env.src = requester;
  env.dst = Pid{NodeId(0), 0};
  send_env(NodeId(0), env, payload.data(), payload.size());
}

void ProcessService::name_service(Cls cls, Pid requester, std::uint64_t corr, const char* p,
                                  std::size_t n) {
  auto [name, pid] = detail::decode_as<std::pair<std::string, Pid>>(p, n);
  NameAnswer a;
  if (cls == Cls::name_lookup) {
    a.ok = true;
    if (auto it = names_.find(name); it != names_.end()) a.pid = it->second;
  } else if (auto it = names_.find(name); it != names_.end() && it->second != pid) {
    a.error = fmt::format("cadre::register_name: the name '{}' is taken by {}", name, it->second);
  } else {
    a.ok = true;
    names_[name] = pid;
    // Watch the named process: its name goes when it ends.
    std::uint64_t id = (std::uint64_t(core_.self_node().value()) << 48) | next_id_++;
    name_monitors_[id] = pid;
    monitor(Pid{NodeId(0), kNameService}, pid, id);
  }
  std::string payload = detail::encode_string(a);
  wire::Envelope env{};
  env.cls = static_cast<std::uint8_t>(Cls::name_reply);
  env.corr = corr;
  env.dst = requester;
  if (requester.node == core_.self_node()) {
    on_envelope(core_.self_node(), env, payload.data(), payload.size());
  } else {
    send_env(requester.node, env, payload.data(), payload.size());
  }
}

// -- dispatch -------------------------------------------------------------------------------

void ProcessService::on_envelope(NodeId src, const wire::Envelope& env, const char* p,
                                 std::size_t n) {
  switch (static_cast<Cls>(env.cls)) {
    case Cls::message:
    case Cls::reply:
      deliver_local(env, p, n);
      return;
    case Cls::spawn: {
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
        if (env.flags & 1) proc->watchers[monitor_id] = env.src;
        if (env.flags & 2) proc->links.insert(env.src);
        a.ok = true;
        a.serial = serial;
      }
      std::string payload = detail::encode_string(a);
      wire::Envelope r{};
      r.cls = static_cast<std::uint8_t>(Cls::spawn_reply);
      r.flags = env.flags;
      r.type_id = env.type_id;
      r.corr = env.corr;
      r.src = Pid{core_.self_node(), a.serial};
      r.dst = env.src;
      send_env(src, r, payload.data(), payload.size());
      return;
    }
    case Cls::spawn_reply: {
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
          if (env.flags & 2) req->links.insert(Pid{src, a.serial});
          if (auto m = req->monitors.find(pending.monitor_id);
              (env.flags & 1) && m != req->monitors.end())
            m->second = Pid{src, a.serial};
        }
      } else if (a.error_kind == 1) {
        result->set_all_errors(std::make_exception_ptr(NotRegistered(fmt::format(
            "cadre::spawn: '{}' is not registered on {} (its program lacks CADRE_TASK({}))", name,
            core_.describe(src), name))));
        if (env.flags & 1)
          if (Process* req = find(env.dst.serial)) req->monitors.erase(pending.monitor_id);
      } else {
        result->set_all_errors(std::make_exception_ptr(
            SpawnError(fmt::format("cadre::spawn of '{}': {}", name, a.error))));
      }
      result->complete();
      return;
    }
    case Cls::monitor:
      monitor(env.src, env.dst, env.corr);
      return;
    case Cls::demonitor:
      demonitor(env.src, env.dst, env.corr);
      return;
    case Cls::down: {
      if (detail::decode_as<Down>(p, n).pid != env.src)
        throw DecodeError(fmt::format("a Down whose pid is not its sender {}", env.src));
      if (env.dst.serial == kFutureWatch) {
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
      if (env.dst.node == core_.self_node() && env.dst.serial == kNameService) {
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
      return;
    }
    case Cls::link:
      link(env.src, env.dst);
      return;
    case Cls::unlink:
      unlink(env.src, env.dst);
      return;
    case Cls::exit_signal: {
      Process* proc = find(env.dst.serial);
      // Only a linked process's exit reaches it (unlinked meanwhile: dropped).
      if (!proc || !proc->links.count(env.src)) return;
      auto sig = detail::decode_as<ExitSignal>(p, n);
      on_exit_signal(*proc, env.src, sig.reason, sig.detail);
      return;
    }
    case Cls::kill:
      kill(env.dst, detail::decode_as<std::string>(p, n));
      return;
    case Cls::broadcast: {
      for (auto& [serial, proc] : procs_) {
        Mail m;
        m.type_id = env.type_id;
        m.set_from(env.src);
        m.payload.assign(p, n);
        deliver(*proc, std::move(m));
      }
      if (env.flags & 1) {
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
      return;
    }
    case Cls::name_register:
    case Cls::name_lookup:
      name_service(static_cast<Cls>(env.cls), env.src, env.corr, p, n);
      return;
    case Cls::name_reply: {
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
      return;
    }
    default:
      return;
  }
}

void ProcessService::node_down(NodeId n) {
  const std::string why = fmt::format("{} was lost", core_.describe(n));
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

}  // namespace cadre::services

// -- the public API -------------------------------------------------------------------------

namespace cadre {
namespace {

node::Core& core() { return node::Core::get(); }

services::Process& require_process(const char* what) {
  auto* p = core().processes().current();
  if (!p)
    throw WrongRole(fmt::format(
        "{}: only processes and the driver have mailboxes; call it from a process (spawn) or "
        "the driver, not from a task or another thread",
        what));
  return *p;
}

std::uint64_t global_id() {
  static std::atomic<std::uint64_t> counter{1};
  return (std::uint64_t(core().self_node().value()) << 48) | counter.fetch_add(1);
}

template <class T>
T wait_result(const std::shared_ptr<detail::ResultState<T>>& st) {
  detail::wait_state(st.get(), std::nullopt);
  if (auto e = st->error(0)) std::rethrow_exception(e);
  return st->value(0);
}

void check_pid(Pid p, const char* what) {
  if (p.is_null()) throw InvalidNode(fmt::format("{}: the null pid names no process", what));
  core().check_node(p.node, what);
}

}  // namespace

namespace detail {

std::pair<Pid, MonitorRef> spawn_process(const Placement& where, const Entry* e, ByteBuffer&& args,
                                         std::uint8_t flags) {
  auto& c = core();
  if (c.stopping()) throw NotRunning("cadre::spawn: the runtime is shutting down");
  if (where.kind == Placement::Kind::node) c.check_node(where.node, "cadre::spawn");
  if (args.size() > c.options().payload_cap)
    throw PayloadTooLarge(fmt::format("cadre::spawn('{}'): {} bytes of arguments, above the cap",
                                      e->name, args.size()));
  Pid me = self();
  if ((flags & 3) && me.is_null())
    throw WrongRole("cadre::spawn_monitor/spawn_link: call it from a process or the driver");
  std::uint64_t mon = (flags & 1) ? global_id() : 0;
  auto st = std::make_shared<ResultState<std::uint64_t>>(1);
  auto node = std::make_shared<NodeId>();
  c.execute([&c, where, e, args = std::move(args), flags, me, mon, st, node]() mutable {
    try {
      *node = c.tasks().pick(where);
    } catch (...) {
      st->set_all_errors(std::current_exception());
      st->complete();
      return;
    }
    c.processes().spawn(*node, e, std::move(args), flags, me, mon, st);
  });
  std::uint64_t serial = wait_result(st);
  Pid pid{*node, serial};
  return {pid, MonitorRef{me, pid, mon}};
}

Pid spawn_watched(const Placement& where, const Entry* e, ByteBuffer&& args,
                  std::shared_ptr<ResultState<void>> done) {
  auto& c = core();
  if (c.stopping()) throw NotRunning("cadre::spawn_hub: the runtime is shutting down");
  if (where.kind == Placement::Kind::node) c.check_node(where.node, "cadre::spawn_hub");
  Pid watcher{c.self_node(), services::kFutureWatchSerial};
  std::uint64_t mon = global_id();
  auto st = std::make_shared<ResultState<std::uint64_t>>(1);
  auto node = std::make_shared<NodeId>();
  c.execute([&c, where, e, args = std::move(args), watcher, mon, st, node, done]() mutable {
    try {
      *node = c.tasks().pick(where);
    } catch (...) {
      st->set_all_errors(std::current_exception());
      st->complete();
      return;
    }
    c.processes().future_watches_[mon] = done;
    c.processes().future_watch_nodes_[mon] = *node;
    c.processes().spawn(*node, e, std::move(args), 1, watcher, mon, st);
  });
  std::uint64_t serial = wait_result(st);  // before reading *node, which it publishes
  return Pid{*node, serial};
}

void send_encoded(Pid to, std::uint64_t type_id, ByteBuffer&& payload, bool is_call,
                  std::uint64_t corr) {
  check_pid(to, "cadre::send");
  auto& c = core();
  if (payload.size() > c.options().payload_cap)
    throw PayloadTooLarge(fmt::format("cadre::send to {}: {} bytes, above the payload cap of {}",
                                      to, payload.size(), c.options().payload_cap));
  Pid from = self();
  // A thread waits here, as a process would in send_bytes, while the link is out of credit
  // or its earlier messages to that node have not left yet.
  const bool thread = !c.on_loop_thread();
  const std::size_t bytes = payload.size() + wire::kEnvelopeHeaderSize;
  if (thread) c.wait_thread_send(to.node, bytes);
  c.execute([&c, to, from, type_id, payload = std::move(payload), is_call, corr, thread, bytes] {
    if (is_call)
      if (auto* p = c.processes().find(from.serial); p && from.node == c.self_node())
        p->calls.insert(corr);
    wire::Envelope env{};
    env.cls = static_cast<std::uint8_t>(node::Cls::message);
    env.flags = is_call ? 1 : 0;
    env.type_id = type_id;
    env.corr = corr;
    env.src = from;
    env.dst = to;
    if (thread) c.thread_send_done(to.node, bytes);
    c.processes().route(env, payload.data(), payload.size());
  });
}

void send_bytes(Pid to, std::uint64_t type_id, const char* p, std::size_t n) {
  auto& c = core();
  if (!c.on_loop_thread()) {
    ByteBuffer b;
    b.append(p, n);
    send_encoded(to, type_id, std::move(b), false, 0);
    return;
  }
  check_pid(to, "cadre::send");
  if (n > c.options().payload_cap)
    throw PayloadTooLarge(fmt::format("cadre::send to {}: {} bytes, above the payload cap of {}",
                                      to, n, c.options().payload_cap));
  // self(), for the loop thread: a process, or nobody (posted work, timers).
  auto* f = sched::Scheduler::current();
  const bool remote = to.node != c.self_node();
  ByteBuffer held;
  if (f && remote && c.congested(to.node)) {
    // Backpressure: a process that sends faster than its link drains waits here, and only
    // it: the node loop goes on (and makes the progress it waits for). The bytes may be
    // borrowed from a per-thread buffer that other fibers use meanwhile: they are kept.
    held.append(p, n);
    p = held.data();
    while (c.congested(to.node) && c.is_up(to.node)) {
      c.scheduler().yield();
      c.processes().check_killed(c.processes().current());
    }
  }
  wire::Envelope env{};
  env.cls = static_cast<std::uint8_t>(node::Cls::message);
  env.type_id = type_id;
  env.src = f ? Pid{c.self_node(), f->serial()} : null_pid;
  // Field by field: a whole-Pid copy here is a 16-byte load of two 8-byte stores, which the
  // CPU cannot forward (a stall on every message).
  env.dst.node = to.node;
  env.dst.serial = to.serial;
  if (remote)
    c.send(to.node, env, p, n);
  else
    c.processes().deliver_local(env, p, n);
}

void send_encoded_after(std::chrono::nanoseconds delay, Pid to, std::uint64_t type_id,
                        ByteBuffer&& payload) {
  check_pid(to, "cadre::send_after");
  auto& c = core();
  Pid from = self();
  c.execute([&c, delay, to, from, type_id, payload = std::move(payload)]() mutable {
    auto shared = std::make_shared<ByteBuffer>(std::move(payload));
    c.scheduler().add_timer(node::Clock::now() + delay, [&c, to, from, type_id, shared] {
      wire::Envelope env{};
      env.cls = static_cast<std::uint8_t>(node::Cls::message);
      env.type_id = type_id;
      env.src = from;
      env.dst = to;
      c.processes().route(env, shared->data(), shared->size());
    });
  });
}

void broadcast_encoded(NodeId node, std::uint64_t type_id, ByteBuffer&& payload) {
  auto& c = core();
  c.check_node(node, "cadre::broadcast");
  c.execute([&c, node, type_id, payload = std::move(payload)] {
    c.processes().broadcast(node, type_id, std::string(payload.data(), payload.size()), false,
                            node);
  });
}

void broadcast_all_encoded(std::uint64_t type_id, ByteBuffer&& payload) {
  auto& c = core();
  c.execute([&c, type_id, payload = std::move(payload)] {
    c.processes().broadcast(c.self_node(), type_id, std::string(payload.data(), payload.size()),
                            true, c.self_node());
  });
}

// -- mailboxes --------------------------------------------------------------------------

MailboxCursor::MailboxCursor(std::optional<std::chrono::steady_clock::time_point> deadline)
    : proc_(&require_process("cadre::receive")), deadline_(deadline) {
  // No receive walks the mailbox now: the slots its earlier receives took can go.
  auto& mb = static_cast<services::Process*>(proc_)->mailbox;
  if (mb.should_compact()) mb.compact();
}

Mail* MailboxCursor::next() {
  auto& p = *static_cast<services::Process*>(proc_);
  if (p.threaded && index_ >= p.mailbox.size()) {
    std::lock_guard lock(p.mu);
    while (!p.inbox.empty()) {
      p.mailbox.push_back(std::move(p.inbox.front()));
      p.inbox.pop_front();
    }
  }
  while (index_ < p.mailbox.size() && p.mailbox[index_].kind == MailKind::taken) ++index_;
  if (index_ >= p.mailbox.size()) return nullptr;
  return &p.mailbox[index_++];
}

namespace {
// The driver's bound counts what its thread holds too: a message it removes is uncounted.
void uncount(services::Process& p, const Mail& m) {
  if (!p.threaded) return;
  std::lock_guard lock(p.mu);
  p.queued -= 1;
  p.queued_bytes -= services::MailQueue::kSlotBytes + m.payload.heap_bytes();
}
}  // namespace

Mail MailboxCursor::take() {
  auto& p = *static_cast<services::Process*>(proc_);
  const std::size_t i = --index_;
  uncount(p, p.mailbox[i]);
  Mail m = p.mailbox.take_at(i);
  // The walk goes on after the taken slot; taking the oldest drops it from the front, and the
  // next message becomes the oldest.
  index_ = i == 0 ? 0 : i + 1;
  return m;
}

void MailboxCursor::consume() {
  auto& p = *static_cast<services::Process*>(proc_);
  --index_;
  Mail& m = p.mailbox[index_];
  if (m.is_call) p.call = std::make_pair(m.from(), m.corr);
  uncount(p, m);
  if (index_ == 0) {
    p.mailbox.pop_front();  // the common case: the oldest message matched
  } else {
    p.mailbox.erase_at(index_);
    ++index_;
  }
}

void MailboxCursor::drop_malformed(const std::string& why) {
  Mail m = take();
  node::log_local(Level::error, fmt::format("dropped a malformed message from {} to {}: {}",
                                            m.from(), self(), why));
}

bool MailboxCursor::wait() {
  auto& p = *static_cast<services::Process*>(proc_);
  auto& c = core();
  if (deadline_ && std::chrono::steady_clock::now() >= *deadline_) return false;
  if (p.threaded) {
    std::unique_lock lock(p.mu);
    auto ready = [&] { return !p.inbox.empty() || p.kill.has_value(); };
    if (deadline_)
      p.cv.wait_until(lock, *deadline_, ready);
    else
      p.cv.wait(lock, ready);
    lock.unlock();
    c.processes().check_killed(&p);
    return true;
  }
  auto& s = c.scheduler();
  std::uint64_t timer = 0;
  if (deadline_) timer = s.add_timer(*deadline_, [&s, f = p.fiber] { s.wake(f); });
  p.waiting = true;
  c.flush_if_last();
  s.suspend();
  p.waiting = false;
  if (deadline_) s.cancel_timer(timer);
  c.processes().check_killed(&p);
  return true;
}


std::uint64_t new_call_id() { return global_id(); }

void reply_encoded(std::uint64_t type_id, ByteBuffer&& payload) {
  auto& p = require_process("cadre::reply");
  if (!p.call)
    throw Error(
        "cadre::reply: there is no call to answer (reply() answers the last call request "
        "this process received)");
  auto [caller, corr] = *p.call;
  p.call.reset();
  auto& c = core();
  Pid from = self();
  c.execute([&c, caller, corr, from, type_id, payload = std::move(payload)] {
    wire::Envelope env{};
    env.cls = static_cast<std::uint8_t>(node::Cls::reply);
    env.type_id = type_id;
    env.corr = corr;
    env.src = from;
    env.dst = caller;
    c.processes().route(env, payload.data(), payload.size());
  });
}

Mail await_reply(Pid callee, std::uint64_t corr, MonitorRef mon,
                 std::optional<std::chrono::steady_clock::time_point> deadline) {
  auto& c = core();
  auto& proc = require_process("cadre::call");
  auto forget = [&] {
    services::Process* pp = &proc;
    c.execute([pp, corr] { pp->calls.erase(corr); });
    unmonitor(mon);
  };
  MailboxCursor cur(deadline);
  for (;;) {
    while (Mail* m = cur.next()) {
      if (m->kind == MailKind::reply && m->corr == corr) {
        Mail r = cur.take();
        forget();
        return r;
      }
      if (m->kind == MailKind::down && m->corr == mon.id) {
        Down d = decode_mail<Down>(cur.take());
        forget();
        throw CallFailed(fmt::format("cadre::call to {}: the callee ended before replying ({}{}{})",
                                     callee, to_string(d.reason), d.detail.empty() ? "" : ": ",
                                     d.detail));
      }
    }
    bool more;
    try {
      more = cur.wait();
    } catch (...) {
      forget();
      throw;
    }
    if (!more) {
      forget();
      throw Timeout(
          fmt::format("cadre::call to {}: no reply in time (a late reply is dropped)", callee));
    }
  }
}

}  // namespace detail

MonitorRef monitor(Pid p) {
  check_pid(p, "cadre::monitor");
  auto& proc = require_process("cadre::monitor");
  auto& c = core();
  Pid me = self();
  std::uint64_t id = global_id();
  services::Process* pp = &proc;
  c.execute([&c, me, p, id, pp] {
    pp->monitors.emplace(id, p);
    c.processes().monitor(me, p, id);
  });
  return MonitorRef{me, p, id};
}

void unmonitor(const MonitorRef& m) {
  auto& proc = require_process("cadre::unmonitor");
  auto& c = core();
  auto done = std::make_shared<detail::ResultState<bool>>(1);
  c.execute([&c, m, done] {
    c.processes().demonitor(m.watcher, m.target, m.id);
    done->set_value(0, true);
    done->complete();
  });
  detail::wait_state(done.get(), std::nullopt);
  // A Down of this monitor may already be queued: it goes too.
  std::size_t count = 0, bytes = 0;
  auto is_it = [&](const detail::Mail& x) {
    if (x.kind != detail::MailKind::down || x.corr != m.id) return false;
    ++count;
    bytes += services::MailQueue::kSlotBytes + x.payload.heap_bytes();
    return true;
  };
  proc.mailbox.erase_if(is_it);
  if (proc.threaded) {
    std::lock_guard lock(proc.mu);
    std::erase_if(proc.inbox, is_it);
    proc.queued -= count;
    proc.queued_bytes -= bytes;
  }
}

void link(Pid p) {
  check_pid(p, "cadre::link");
  require_process("cadre::link");
  Pid me = self();
  core().execute([me, p] { core().processes().link(me, p); });
}

void unlink(Pid p) {
  check_pid(p, "cadre::unlink");
  require_process("cadre::unlink");
  Pid me = self();
  core().execute([me, p] { core().processes().unlink(me, p); });
}

void trap_exits(bool on) {
  auto& proc = require_process("cadre::trap_exits");
  services::Process* pp = &proc;
  core().execute([pp, on] { pp->trap = on; });
}

void kill(Pid p, std::string reason) {
  check_pid(p, "cadre::kill");
  core().execute([p, reason = std::move(reason)] { core().processes().kill(p, reason); });
}

void register_name(const std::string& name, Pid p) {
  check_pid(p, "cadre::register_name");
  auto& c = core();
  auto st = std::make_shared<detail::ResultState<std::optional<Pid>>>(1);
  Pid me = self();
  if (me.is_null()) me = Pid{c.self_node(), 0};
  c.execute([&c, st, me, name, p] {
    c.processes().name_request(node::Cls::name_register, me, name, p, st);
  });
  wait_result(st);
}

std::optional<Pid> whereis(const std::string& name) {
  auto& c = core();
  auto st = std::make_shared<detail::ResultState<std::optional<Pid>>>(1);
  Pid me = self();
  if (me.is_null()) me = Pid{c.self_node(), 0};
  c.execute([&c, st, me, name] {
    c.processes().name_request(node::Cls::name_lookup, me, name, Pid{}, st);
  });
  return wait_result(st);
}

}  // namespace cadre
