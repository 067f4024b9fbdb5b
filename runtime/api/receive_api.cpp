// The bodies of include/cadre/receive.hpp: the mailbox cursor a receive walks, takes from,
// and waits on.

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
  // The handler about to run sees this message's sender; an enclosing handler's comes back
  // when this receive ends.
  if (!handled_) {
    handled_ = true;
    prev_handling_ = p.handling;
    prev_sender_ = p.sender;
  }
  p.handling = true;
  p.sender = m.from();
  uncount(p, m);
  if (index_ == 0) {
    p.mailbox.pop_front();  // the common case: the oldest message matched
  } else {
    p.mailbox.erase_at(index_);
    ++index_;
  }
}

void MailboxCursor::end_handling() {
  auto& p = *static_cast<services::Process*>(proc_);
  p.handling = prev_handling_;
  p.sender = prev_sender_;
}

void MailboxCursor::drop_malformed(const std::string& type, const std::string& why) {
  Mail m = take();
  node::log_local(Level::error,
                  fmt::format("dropped a malformed message from {} to {}: it carries the id of "
                              "{} but could not be decoded as one: {}",
                              m.from(), self(), type, why));
}

void MailboxCursor::timed_out(std::chrono::nanoseconds waited, std::string (*waiting_for)()) {
  auto& p = *static_cast<services::Process*>(proc_);
  std::size_t total = 0;
  const std::string types = services::user_mail_by_type(p.mailbox, total);
  if (total == 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (p.unmatched_warned != std::chrono::steady_clock::time_point{} &&
      now - p.unmatched_warned < std::chrono::seconds(1)) {
    ++p.unmatched_suppressed;
    return;
  }
  const double ms = std::chrono::duration<double, std::milli>(waited).count();
  std::string suppressed;
  if (p.unmatched_suppressed > 0)
    suppressed = fmt::format(" ({} more such warning(s) for this process were suppressed)",
                             p.unmatched_suppressed);
  node::log_local(
      Level::warn,
      fmt::format("receive in {} on node {} timed out after {} ms waiting for {}; its mailbox "
                  "holds {} message(s) no matcher accepted: {} (a matcher accepts exactly its "
                  "type: send(p, 5) sends an int){}",
                  self(), core().self_node().value(), ms, waiting_for(), total, types, suppressed));
  p.unmatched_warned = now;
  p.unmatched_suppressed = 0;
}

bool MailboxCursor::wait() {
  auto& p = *static_cast<services::Process*>(proc_);
  auto& c = core();
  if (deadline_ && std::chrono::steady_clock::now() >= *deadline_) return false;
  if (p.threaded) {
    auto ready = [&] { return !p.inbox.empty() || p.kill.has_value(); };
    // The driver serves the loop while it waits, when it can have the loop's baton.
    auto locked_ready = [&] {
      std::lock_guard lock(p.mu);
      return ready();
    };
    if (c.driver_wait(locked_ready, deadline_)) {
      api::processes().check_killed(&p);
      return true;
    }
    std::unique_lock lock(p.mu);
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

}  // namespace detail

Pid sender() {
  auto& p = require_process("cadre::sender");
  if (!p.handling)
    throw WrongRole(
        "cadre::sender(): called outside a receive handler; it is the pid that sent the message "
        "a match/on_down/on_exit handler is handling, and has no meaning elsewhere");
  return p.sender;
}

}  // namespace cadre
