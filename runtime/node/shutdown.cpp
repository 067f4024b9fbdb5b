// Shut-down: the master's protocol and the worker's half, and the drain that ends them.
//
//  1. master -> every worker: shutdown (time left). Workers stop accepting tasks, end their
//     processes (reason shutdown), wait for running tasks, and acknowledge.
//  2. The master ends its own processes last (they still see the workers' ones go), then
//     sends final_status: the job's status, whether MPI_Finalize is safe, and the workers
//     that acknowledged (they drain; the others are stuck or lost).
//  3. Drain: every link carries a last frame, link_fin. A worker sends one to every other
//     draining worker, waits for one from each of them and from the master, and only then
//     sends its own to the master, carrying its drop counts: links deliver in order, so a
//     node that holds every peer's link_fin has read everything sent to it, and the counts
//     it reports are final. Anything sent on a closed link is counted (after_close).
//  4. The master prints the job's drop counts, the status line, and finalizes.
// A peer that is lost, or a deadline that passes, ends a wait; a link that did not drain is
// reported and makes the status non-zero. Nothing waits for ever.

#include <fmt/format.h>

#include <algorithm>

#include "cadre/errors.hpp"
#include "node/core.hpp"
#include "node/payload.hpp"
#include "node/status_report.hpp"
#include "node/trace_session.hpp"

namespace cadre::node {

DropCounts Core::all_drops() const {
  DropCounts d = drops_;
  for (const Service* s : services_) d += s->drops();
  const transport::LinkDrops t = transport_->dropped();
  d.node_down += t.node_down;
  d.after_close += t.after_close;
  return d;
}

void Core::fail_job(std::string why) {
  failures_.push_back(std::move(why));
  job_failed_.store(true);
}

std::size_t Core::running() const {
  std::size_t n = 0;
  for (const Service* s : services_) n += s->running();
  return n;
}

std::size_t Core::residents() const {
  std::size_t n = 0;
  for (const Service* s : services_) n += s->residents();
  return n;
}

void Core::on_shutdown_request(NodeId, const wire::Envelope&, const char* p, std::size_t n) {
  if (stopping_) return;  // one shut-down
  auto timeout_ms = decode_payload<std::int64_t>(p, n, "shut-down request");
  const std::int64_t trace_t0 = trace::now_ns();
  stopping_ = true;
  terminate_requested_.store(true);  // check_termination() tells long tasks to finish
  for (Service* s : services_) s->stop_accepting();
  const auto deadline =
      Clock::now() + std::chrono::milliseconds(std::max<std::int64_t>(0, timeout_ms));
  // Acknowledge from a fiber once local tasks finish or the deadline passes; the loop goes on
  // serving meanwhile (tasks may still need replies from elsewhere).
  sched_.spawn(
      [this, deadline, trace_t0] {
        end_residents(deadline);
        while (running() > 0 && Clock::now() < deadline) {
          auto* f = sched::Scheduler::current();
          auto t = sched_.add_timer(Clock::now() + std::chrono::milliseconds(1),
                                    [this, f] { sched_.wake(f); });
          sched_.suspend();
          sched_.cancel_timer(t);
        }
        ShutdownAck ack;
        ack.unfinished = static_cast<std::uint32_t>(running() + residents());
        ack.clean = ack.unfinished == 0;
        ack.dropped = all_drops().total();
        if (!ack.clean)
          ack.note = fmt::format(
              "{} task(s) or process(es) still running at the shut-down deadline", ack.unfinished);
        // The last of this node's timeline goes ahead of the acknowledgement, on its link.
        if (trace::on()) trace::span(trace::Kind::shutdown, trace_t0, 0, 0);
        trace_->flush(true);
        send_control(NodeId(0), Cls::shutdown_ack, encode_payload(ack));
      },
      next_serial());
}

// Residents still running at shut-down (processes) end at their next suspension point (their
// stacks unwind); this waits (in a fiber) until they have, or the deadline.
void Core::end_residents(Clock::time_point deadline) {
  for (Service* s : services_) s->end_residents();
  auto* f = sched::Scheduler::current();
  while (residents() > 0 && Clock::now() < deadline) {
    auto t = sched_.add_timer(Clock::now() + std::chrono::milliseconds(1),
                              [this, f] { sched_.wake(f); });
    sched_.suspend();
    sched_.cancel_timer(t);
  }
}

void Core::on_link_fin(NodeId src, const wire::Envelope&, const char* p, std::size_t n) {
  if (src.value() >= fin_from_.size()) return;
  fin_from_[src.value()] = 1;
  if (is_master() && n > 0) {
    if (fin_drops_.size() <= src.value()) fin_drops_.resize(src.value() + 1);
    fin_drops_[src.value()] = decode_payload<DropCounts>(p, n, "link_fin");
  }
}

std::size_t Core::drain_links(const std::vector<NodeId>& peers, Clock::time_point deadline) {
  // The master's link to each worker, and each worker's links to the other workers, close
  // at once; a worker's link to the master closes last, carrying its final counts.
  for (NodeId peer : peers) {
    if (!is_master() && peer.value() == 0) continue;
    send_control(peer, Cls::link_fin, {});
    transport_->close_link(peer);
  }
  auto pending = [&] {
    std::size_t n = 0;
    for (NodeId peer : peers)
      if (!fin_from_[peer.value()] && is_up(peer)) ++n;
    return n;
  };
  run_until([&] { return pending() == 0; }, deadline);
  std::size_t undrained = 0;
  for (NodeId peer : peers) {
    if (fin_from_[peer.value()] || !is_up(peer)) continue;
    ++undrained;
    log_local(Level::error,
              fmt::format("shutdown: the link from {} did not drain: its last frame did not "
                          "arrive in time, so messages on it may be unread and uncounted",
                          describe(peer)));
  }
  if (!is_master()) {
    DropCounts d = all_drops();
    d.undrained = undrained;
    send_control(NodeId(0), Cls::link_fin, encode_payload(d));
    transport_->close_link(NodeId(0));
  }
  return undrained;
}

int Core::serve() {
  run_until([&] { return final_status_.has_value(); });
  // A worker whose acknowledgement is still to come (late) ships its timeline now, while its
  // link to the master is open.
  trace_->flush(true);
  std::vector<NodeId> peers{NodeId(0)};
  for (std::uint32_t r : final_status_->draining)
    if (NodeId(r) != self_ && r < transport_->size()) peers.push_back(NodeId(r));
  drain_links(peers, Clock::now() + options_.shutdown_timeout + std::chrono::seconds(3));
  run_until([&] { return !transport_->busy(); }, Clock::now() + std::chrono::seconds(5));
  close();
  return final_status_->status;
}

void Core::close() {
  watchdog_.stop();
  std::lock_guard lock(post_mu_);
  closed_ = true;
}

int Core::shutdown(int driver_status) {
  // Work the driver posted before it returned goes out ahead of the shut-down notice.
  drain_posted();
  stopping_ = true;
  terminate_requested_.store(true);
  const auto t0 = Clock::now();
  const std::int64_t trace_t0 = trace::now_ns();
  trace_->shutdown_begins();
  // Requests already made (and map chunks already queued) were made before shut-down: they
  // finish first, within the shut-down timeout, before any node stops accepting work.
  if (!job_failed())
    run_until(
        [&] {
          std::size_t n = 0;
          for (const Service* s : services_) n += s->unfinished();
          return n == 0 || job_failed();
        },
        t0 + options_.shutdown_timeout);
  std::size_t abandoned = 0;
  for (Service* s : services_) abandoned += s->abandon_unsent();
  for (Service* s : services_) s->stop_accepting();
  const std::uint32_t size = transport_->size();
  acks_.assign(size, std::nullopt);
  fin_drops_.resize(size);  // nodes stopped earlier sent theirs already
  auto timeout_ms = static_cast<std::int64_t>(options_.shutdown_timeout.count());
  // Workers get what is left of the one shut-down timeout.
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(t0 + options_.shutdown_timeout -
                                                                    Clock::now());
  auto req = encode_payload(static_cast<std::int64_t>(std::max<std::int64_t>(0, left.count())));
  for (std::uint32_t r = 1; r < size; ++r)
    if (is_up(NodeId(r))) send_control(NodeId(r), Cls::shutdown, req);
  run_until([&] { return running() == 0; }, t0 + options_.shutdown_timeout);
  bool clean = running() == 0 && abandoned == 0 && failures_.empty();
  if (running() > 0)
    log_local(Level::error,
              fmt::format("shutdown: {} task(s) still running on the master after {} ms", running(),
                          timeout_ms));
  // Workers answer within their shutdown_timeout; allow for the links on top.
  const auto ack_deadline = t0 + options_.shutdown_timeout + std::chrono::seconds(3);
  run_until(
      [&] {
        for (std::uint32_t r = 1; r < size; ++r)
          if (!acks_[r] && is_up(NodeId(r))) return false;
        return true;
      },
      ack_deadline);
  // The master's own processes end last, so that they still see the Downs of the workers'
  // processes (which arrive ahead of the acknowledgements, on the same links).
  for (Service* s : services_) s->end_residents();
  run_until([&] { return residents() == 0; }, Clock::now() + std::chrono::seconds(2));
  if (residents() > 0) {
    clean = false;
    log_local(Level::error,
              fmt::format("shutdown: {} process(es) on the master did not end", residents()));
  }
  for (Service* s : services_) s->residents_ended();
  FinalStatus fin;
  for (std::uint32_t r = 1; r < size; ++r) {
    if (!is_up(NodeId(r))) continue;  // lost: reported when it was declared down
    if (!acks_[r]) {
      clean = false;
      finalize_safe_ = false;
      log_local(Level::error,
                fmt::format("shutdown: {} did not acknowledge within {} ms; it is stuck in a task "
                            "that does not yield, or lost",
                            describe(NodeId(r)), timeout_ms + 3000));
      continue;
    }
    fin.draining.push_back(r);
    if (!acks_[r]->clean) {
      clean = false;
      log_local(Level::error, fmt::format("shutdown: {}: {}", describe(NodeId(r)), acks_[r]->note));
    }
  }
  if (!nodes_.lost().empty()) {
    clean = false;
    // MPI_Finalize would wait for the lost node for ever: every node ends with _exit.
    finalize_safe_ = false;
  }
  int status = driver_status != 0 ? driver_status : (clean ? 0 : 1);
  fin.status = static_cast<std::int32_t>(status);
  fin.finalize = finalize_safe_;
  auto payload = encode_payload(fin);
  // Every worker gets it, late ones too: a worker that acknowledges after the deadline must
  // not wait for ever.
  for (std::uint32_t r = 1; r < size; ++r)
    if (is_up(NodeId(r))) send_control(NodeId(r), Cls::final_status, payload);
  std::vector<NodeId> peers;
  for (std::uint32_t r : fin.draining) peers.push_back(NodeId(r));
  const std::size_t undrained =
      drain_links(peers, Clock::now() + options_.shutdown_timeout + std::chrono::seconds(3));
  const DropCounts own = all_drops();
  DropCounts dropped = own;
  dropped.undrained += undrained;
  for (auto& d : fin_drops_)
    if (d) dropped += *d;
  if (dropped.total() > 0) {
    log_local(Level::info, fmt::format("shutdown: {} message(s) were dropped ({})", dropped.total(),
                                       dropped.describe()));
    // Then where, and of which types: each node counts what it dropped.
    auto by_node = [&](NodeId n, const DropCounts& d) {
      if (d.total() > 0)
        log_local(Level::info,
                  fmt::format("shutdown: dropped on {}: {}", describe(n), d.describe_types()));
    };
    by_node(self_, own);
    for (std::size_t r = 0; r < fin_drops_.size(); ++r)
      if (fin_drops_[r]) by_node(NodeId(static_cast<std::uint32_t>(r)), *fin_drops_[r]);
  }
  if (dropped.undrained > 0 && status == 0) {
    status = 1;
    failures_.push_back(fmt::format("{} link(s) did not drain at shut-down", dropped.undrained));
  }
  run_until([&] { return !transport_->busy(); }, Clock::now() + std::chrono::seconds(5));
  for (Service* s : services_) s->finish();
  if (trace::on()) trace::span(trace::Kind::shutdown, trace_t0, 0, 0);
  trace_->finish();
  report_status(status, driver_status, nodes_, failures_, "", &dropped);
  close();
  return status;
}

}  // namespace cadre::node
