// The bodies of include/cadre/process.hpp: spawn, send, send_after, broadcast; call and
// reply; monitors, links, kill; names.

#include <fmt/format.h>

#include <functional>

#include "api/process_support.hpp"
#include "cadre/errors.hpp"
#include "cadre/process.hpp"
#include "services/mail_queue.hpp"

namespace cadre::api {

Pid start_spawn(const char* what, const Placement& where, const detail::Entry* e,
                detail::ByteBuffer&& args, std::uint8_t flags, Pid requester, std::uint64_t mon,
                std::function<void(NodeId)> before_start) {
  auto& c = core();
  if (c.stopping()) throw NotRunning(fmt::format("{}: the runtime is shutting down", what));
  if (where.kind == Placement::Kind::node) c.check_node(where.node, what);
  if (args.size() > c.options().payload_cap)
    throw PayloadTooLarge(
        fmt::format("{}('{}'): {} bytes of arguments, above the cap", what, e->name, args.size()));
  auto st = std::make_shared<detail::ResultState<std::uint64_t>>(1);
  auto node = std::make_shared<NodeId>();
  c.execute([&c, where, e, args = std::move(args), flags, requester, mon, st, node,
             before_start]() mutable {
    try {
      *node = c.pick(where);
    } catch (...) {
      st->set_all_errors(std::current_exception());
      st->complete();
      return;
    }
    before_start(*node);
    api::processes().spawn(*node, e, std::move(args), flags, requester, mon, st);
  });
  std::uint64_t serial = wait_result(st);  // before reading *node, which it publishes
  return Pid{*node, serial};
}

}  // namespace cadre::api

namespace cadre::detail {

using api::check_pid;
using api::core;
using api::global_id;
using api::require_process;
using api::start_spawn;
using api::wait_result;

std::pair<Pid, MonitorRef> spawn_process(const Placement& where, const Entry* e, ByteBuffer&& args,
                                         std::uint8_t flags) {
  Pid me = self();
  if ((flags & (services::kFlagSpawnMonitor | services::kFlagSpawnLink)) && me.is_null())
    throw WrongRole("cadre::spawn_monitor/spawn_link: call it from a process or the driver");
  std::uint64_t mon = (flags & services::kFlagSpawnMonitor) ? global_id() : 0;
  Pid pid = start_spawn("cadre::spawn", where, e, std::move(args), flags, me, mon, [](NodeId) {});
  return {pid, MonitorRef{me, pid, mon}};
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
      if (auto* p = api::processes().find(from.serial); p && from.node == c.self_node())
        p->calls.insert(corr);
    const wire::Envelope env =
        node::envelope({.cls = services::cls::message,
                        .flags = std::uint8_t(is_call ? services::kFlagCall : 0),
                        .type_id = type_id,
                        .corr = corr,
                        .src = from,
                        .dst = to});
    if (thread) c.thread_send_done(to.node, bytes);
    api::processes().route(env, payload.data(), payload.size());
  });
}

namespace {

// Backpressure: the calling process waits, yielding, while its link to `node` is out of
// credit (or has too many frames in flight) and the node is up; its own node goes on (and
// makes the progress it waits for). A process killed meanwhile ends here.
void wait_while_congested(node::Core& c, NodeId node) {
  while (c.congested(node) && c.is_up(node)) {
    c.scheduler().yield();
    api::processes().check_killed(api::processes().current());
  }
}

}  // namespace

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
    wait_while_congested(c, to.node);
  }
  wire::Envelope env{};
  env.cls = static_cast<std::uint8_t>(services::cls::message);
  env.type_id = type_id;
  env.src = f ? Pid{c.self_node(), f->serial()} : null_pid;
  // Field by field: a whole-Pid copy here is a 16-byte load of two 8-byte stores, which the
  // CPU cannot forward (a stall on every message).
  env.dst.node = to.node;
  env.dst.serial = to.serial;
  if (remote)
    c.send(to.node, env, p, n);
  else
    api::processes().deliver_local(env, p, n);
}

void send_borrowing(Pid to, std::uint64_t type_id, const ByteBuffer& head,
                    const std::vector<BorrowedBytes>& borrowed) {
  auto& c = core();
  auto* f = c.on_loop_thread() ? sched::Scheduler::current() : nullptr;
  if (!f || to.node == c.self_node()) {
    // Only a process can wait for MPI; a thread's message, or one that stays on this node,
    // is copied as every other message is.
    const ByteBuffer whole = join_borrowed(head, borrowed);
    send_bytes(to, type_id, whole.data(), whole.size());
    return;
  }
  check_pid(to, "cadre::send");
  // `head` is this thread's scratch buffer, which other processes use while this one waits.
  ByteBuffer own;
  own.append(head.data(), head.size());
  std::vector<transport::PayloadPart> parts;
  std::size_t n = 0, from = 0;
  for (const BorrowedBytes& b : borrowed) {
    parts.push_back({own.data() + from, b.at - from});
    parts.push_back({b.data, b.size});
    n += b.size;
    from = b.at;
  }
  parts.push_back({own.data() + from, own.size() - from});
  n += own.size();
  if (n > c.options().payload_cap)
    throw PayloadTooLarge(fmt::format("cadre::send to {}: {} bytes, above the payload cap of {}",
                                      to, n, c.options().payload_cap));
  wait_while_congested(c, to.node);
  wire::Envelope env{};
  env.cls = static_cast<std::uint8_t>(services::cls::message);
  env.type_id = type_id;
  env.src = Pid{c.self_node(), f->serial()};
  env.dst = to;
  const std::shared_ptr<const bool> done = c.send_borrowed(to.node, env, parts);
  // The borrowed bytes are the message's own: they may change once MPI has read them (or
  // their node was lost), not before, whatever else happens to this process meanwhile.
  while (!*done) c.scheduler().yield();
  api::processes().check_killed(api::processes().current());
}

void send_encoded_after(std::chrono::nanoseconds delay, Pid to, std::uint64_t type_id,
                        ByteBuffer&& payload) {
  check_pid(to, "cadre::send_after");
  auto& c = core();
  Pid from = self();
  c.execute([&c, delay, to, from, type_id, payload = std::move(payload)]() mutable {
    auto shared = std::make_shared<ByteBuffer>(std::move(payload));
    c.scheduler().add_timer(node::Clock::now() + delay, [&c, to, from, type_id, shared] {
      const wire::Envelope env = node::envelope(
          {.cls = services::cls::message, .type_id = type_id, .src = from, .dst = to});
      api::processes().route(env, shared->data(), shared->size());
    });
  });
}

void broadcast_encoded(NodeId node, std::uint64_t type_id, ByteBuffer&& payload) {
  auto& c = core();
  c.check_node(node, "cadre::broadcast");
  c.execute([&c, node, type_id, payload = std::move(payload)] {
    api::processes().broadcast(node, type_id, std::string(payload.data(), payload.size()), false,
                               node);
  });
}

void broadcast_all_encoded(std::uint64_t type_id, ByteBuffer&& payload) {
  auto& c = core();
  c.execute([&c, type_id, payload = std::move(payload)] {
    api::processes().broadcast(c.self_node(), type_id, std::string(payload.data(), payload.size()),
                               true, c.self_node());
  });
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
    const wire::Envelope env = node::envelope({.cls = services::cls::reply,
                                               .type_id = type_id,
                                               .corr = corr,
                                               .src = from,
                                               .dst = caller});
    api::processes().route(env, payload.data(), payload.size());
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

void throw_reply_type(Pid callee, const std::string& expected, std::uint64_t got) {
  throw DecodeError(fmt::format(
      "cadre::call<{}>({}): the reply is {}, not {} (call<R> must name the type the callee "
      "passes to reply())",
      expected, callee, with_article(message_type_name(got)), with_article(expected)));
}

}  // namespace cadre::detail

namespace cadre {

using api::check_pid;
using api::core;
using api::global_id;
using api::require_process;
using api::wait_result;

MonitorRef monitor(Pid p) {
  check_pid(p, "cadre::monitor");
  auto& proc = require_process("cadre::monitor");
  auto& c = core();
  Pid me = self();
  std::uint64_t id = global_id();
  services::Process* pp = &proc;
  c.execute([&c, me, p, id, pp] {
    pp->monitors.emplace(id, p);
    api::processes().monitor(me, p, id);
  });
  return MonitorRef{me, p, id};
}

void unmonitor(const MonitorRef& m) {
  auto& proc = require_process("cadre::unmonitor");
  auto& c = core();
  auto done = std::make_shared<detail::ResultState<bool>>(1);
  c.execute([&c, m, done] {
    api::processes().demonitor(m.watcher, m.target, m.id);
    done->set_value(0, true);
    done->complete();
  });
  detail::wait_state(done.get(), std::nullopt);
  // A Down of this monitor may already be queued: it goes too.
  services::ProcessService::drop_queued_downs(proc, m.id);
}

void link(Pid p) {
  check_pid(p, "cadre::link");
  require_process("cadre::link");
  Pid me = self();
  core().execute([me, p] { api::processes().link(me, p); });
}

void unlink(Pid p) {
  check_pid(p, "cadre::unlink");
  require_process("cadre::unlink");
  Pid me = self();
  core().execute([me, p] { api::processes().unlink(me, p); });
}

void trap_exits(bool on) {
  auto& proc = require_process("cadre::trap_exits");
  services::Process* pp = &proc;
  core().execute([pp, on] { pp->trap = on; });
}

void kill(Pid p, std::string reason) {
  check_pid(p, "cadre::kill");
  core().execute([p, reason = std::move(reason)] { api::processes().kill(p, reason); });
}

void register_name(const std::string& name, Pid p) {
  check_pid(p, "cadre::register_name");
  auto& c = core();
  auto st = std::make_shared<detail::ResultState<std::optional<Pid>>>(1);
  Pid me = self();
  if (me.is_null()) me = Pid{c.self_node(), 0};
  c.execute([&c, st, me, name, p] {
    api::processes().name_request(services::cls::name_register, me, name, p, st);
  });
  wait_result(st);
}

std::optional<Pid> whereis(const std::string& name) {
  auto& c = core();
  auto st = std::make_shared<detail::ResultState<std::optional<Pid>>>(1);
  Pid me = self();
  if (me.is_null()) me = Pid{c.self_node(), 0};
  c.execute([&c, st, me, name] {
    api::processes().name_request(services::cls::name_lookup, me, name, Pid{}, st);
  });
  return wait_result(st);
}

}  // namespace cadre
