// The bodies of the process API around mailboxes: receive's cursor, call and reply,
// monitors, links, kill, names.

#include <fmt/format.h>

#include "api/process_support.hpp"
#include "cadre/errors.hpp"
#include "cadre/process.hpp"
#include "node/core.hpp"
#include "services/mail_queue.hpp"
#include "services/processes.hpp"
#include "services/tasks.hpp"

namespace cadre {

using api::check_pid;
using api::core;
using api::global_id;
using api::require_process;
using api::wait_result;

namespace detail {

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
    api::processes().check_killed(&p);
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
  api::processes().check_killed(&p);
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
