// The process service: the process table, delivery into mailboxes (and their bound), starting
// and ending processes, remote spawns. Monitors, links and kill are in process_signals.cpp,
// names and broadcasts in process_names.cpp, the envelope handlers in process_dispatch.cpp.

#include "services/processes.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "cadre/errors.hpp"
#include "node/log.hpp"
#include "node/trace.hpp"
#include "services/process_wire.hpp"
#include "wire/lent_frame.hpp"

namespace cadre::services {

using detail::ByteBuffer;
using detail::Mail;
using detail::MailKind;

namespace {

// The type a dropped message is counted under (DropCounts::by_type).
std::uint64_t drop_type(const Mail& m) {
  if (m.kind == MailKind::down) return node::kDownNotice;
  if (m.kind == MailKind::exit) return node::kExitNotice;
  return m.type_id;
}

// Counts the messages still in `q` as dropped for `reason`, by type.
void count_mailbox(node::DropCounts& d, MailQueue& q, std::uint64_t& reason) {
  for (std::size_t i = 0; i < q.size(); ++i)
    if (q[i].kind != MailKind::taken) d.typed(reason, drop_type(q[i]));
}

}  // namespace

ProcessService::ProcessService(node::NodeContext& node) : core_(node) {}
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

Pid ProcessService::caller() const {
  if (Process* p = current()) return pid_of(*p);
  if (core_.on_loop_thread())
    if (auto* f = sched::Scheduler::current()) return Pid{core_.self_node(), f->serial()};
  return null_pid;
}

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
    drops_.typed(drops_.overflow, drop_type(m));
    return;
  }
  if (over_bound(p, n)) {
    overflow(p);
    drops_.typed(drops_.overflow, drop_type(m));
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
    for (const Mail& m : p.inbox) drops_.typed(drops_.overflow, drop_type(m));
    p.queued -= p.inbox.size();
    p.inbox.clear();
  } else {
    queued = p.mailbox.live();
    bytes = p.mailbox.bytes();
    count_mailbox(drops_, p.mailbox, drops_.overflow);
    p.mailbox.clear();
  }
  const std::string detail = fmt::format(
      "its mailbox passed the bound of {} messages or {} bytes with {} messages ({} bytes) "
      "unread (Options::mailbox_limit; CADRE_MAILBOX_LIMIT_MESSAGES, "
      "CADRE_MAILBOX_LIMIT_BYTES)",
      limit.messages, limit.bytes, queued, bytes);
  const Pid me = pid_of(p);
  if (p.threaded) {
    node::log_local(
        Level::error,
        fmt::format("process {} (the driver) overflowed: {}; the job ends", me, detail));
    core_.fail_job(fmt::format("the driver's mailbox overflowed ({})", detail));
    std::lock_guard lock(p.mu);
    p.kill = ProcessEnded{Reason::overflow, detail};
    p.cv.notify_one();
    return;
  }
  node::log_local(
      Level::warn,
      fmt::format("process {} overflowed: {}; it ends with reason overflow", me, detail));
  p.kill = ProcessEnded{Reason::overflow, detail};
  core_.scheduler().wake(p.fiber);
}

void ProcessService::count_driver_unread() {
  if (!driver_) return;
  std::lock_guard lock(driver_->mu);
  // The driver's thread is done with its mailbox (it returned, or it is inside shutdown()).
  std::size_t counted = driver_->inbox.size() + driver_->mailbox.live();
  for (const Mail& m : driver_->inbox) drops_.typed(drops_.unread, drop_type(m));
  count_mailbox(drops_, driver_->mailbox, drops_.unread);
  if (driver_->queued > counted) drops_.unread += driver_->queued - counted;
  driver_->queued = 0;
  driver_->queued_bytes = 0;
  driver_->inbox.clear();
}

std::string user_mail_by_type(MailQueue& q, std::size_t& total) {
  std::vector<std::pair<std::uint64_t, std::size_t>> counts;  // few types: a linear search
  total = 0;
  for (std::size_t i = 0; i < q.size(); ++i) {
    const Mail& m = q[i];
    if (m.kind != MailKind::user) continue;
    ++total;
    auto it = std::find_if(counts.begin(), counts.end(),
                           [&](const auto& c) { return c.first == m.type_id; });
    if (it == counts.end())
      counts.emplace_back(m.type_id, 1);
    else
      ++it->second;
  }
  std::string s;
  for (auto& [id, n] : counts)
    s += fmt::format("{}{} \u00d7{}", s.empty() ? "" : ", ", detail::message_type_name(id), n);
  return s;
}

// -- processes ------------------------------------------------------------------------------

void ProcessService::start_process(std::uint64_t serial, const detail::Entry* e, ByteBuffer args) {
  auto owned = std::make_unique<Process>();
  Process* raw = owned.get();
  raw->serial = serial;
  procs_.emplace(serial, std::move(owned));
  raw->fiber = core_.scheduler().spawn(
      [this, raw, serial, e, args = std::move(args)]() mutable {
        const std::int64_t t0 = node::trace::on() ? node::trace::now_ns() : 0;
        Reason r = Reason::normal;
        std::string d;
        try {
          check_killed(raw);
          detail::InArchive ia(args.data(), args.size());
          ByteBuffer out;
          detail::OutArchive oa(out);
          bool decoded = false;
          e->invoke(*e, ia, oa, &decoded);
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
        if (t0 != 0 && node::trace::on()) [[unlikely]]
          node::trace::span(node::trace::Kind::process, t0, e->id, serial,
                            static_cast<std::uint8_t>(r));
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
  if (reason == Reason::shutdown) report_unmatched_at_shutdown(p);
  count_mailbox(drops_, p.mailbox, drops_.unread);  // delivered, never handled
  if (last_ == &p) last_ = nullptr;
  procs_.erase(p.serial);
  for (auto& [id, w] : watchers) send_down(w, me, id, reason, detail);
  for (auto& l : links) send_exit(l, me, reason, detail);
}

namespace {
// Processes a node names one by one at shut-down for the messages they never accepted.
constexpr std::size_t kShutdownReports = 10;
}  // namespace

void ProcessService::report_unmatched_at_shutdown(Process& p) {
  std::size_t total = 0;
  const std::string types = user_mail_by_type(p.mailbox, total);
  if (total == 0) return;
  if (shutdown_reports_ >= kShutdownReports) {
    ++shutdown_unlisted_;
    return;
  }
  ++shutdown_reports_;
  node::log_local(Level::warn,
                  fmt::format("process {} on node {} ended at shut-down holding {} message(s) no "
                              "receive accepted: {}",
                              pid_of(p), core_.self_node().value(), total, types));
}

void ProcessService::report_unlisted_at_shutdown() {
  if (shutdown_unlisted_ == 0) return;
  node::log_local(Level::warn, fmt::format("{} more process(es) on node {} ended at shut-down "
                                           "holding messages no receive accepted",
                                           shutdown_unlisted_, core_.self_node().value()));
  shutdown_unlisted_ = 0;
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
    // Its process has ended (or never existed): counted, never a failure.
    drops_.typed(drops_.ended, env.type_id);
    return;
  }
  const bool reply = env.cls == static_cast<std::uint8_t>(cls::reply);
  if (reply && !proc->calls.count(env.corr)) {
    drops_.typed(drops_.late_reply, env.type_id);  // its caller gave up
    return;
  }
  auto fill = [&](Mail& m) {
    m.kind = reply ? MailKind::reply : MailKind::user;
    m.is_call = (env.flags & kFlagCall) != 0;
    m.type_id = env.type_id;
    m.set_from(env.src);
    m.corr = env.corr;
    std::size_t offset = 0;
    if (n >= wire::kLendBytes) [[unlikely]]
      if (char* frame = wire::take_lent_frame(p, offset)) {
        m.payload.adopt(frame, offset, n);  // the frame's buffer becomes the mail's: no copy
        return;
      }
    m.payload.assign(p, n);
  };
  if (proc->threaded) {
    Mail m;
    fill(m);
    deliver(*proc, std::move(m));
    return;
  }
  if (proc->overflowed) {
    drops_.typed(drops_.overflow, env.type_id);
    return;
  }
  if (over_bound(*proc, n)) {
    overflow(*proc);
    drops_.typed(drops_.overflow, env.type_id);
    return;
  }
  fill(proc->mailbox.emplace_back(n));  // built in place: the stream's common case
  if (proc->waiting) core_.scheduler().wake(proc->fiber);
}

}  // namespace cadre::services
