// Liveness: heartbeats over the control channel, lost nodes, ping.
//
// Open MPI 4.1 never reports a dead peer (no ULFM): under `mpirun --enable-recovery` the
// survivors must find out themselves. The master and each worker send each other a
// heartbeat every heartbeat_interval on the control tag, which overtakes the data links; any
// frame counts as a sign of life too. A worker silent for heartbeat_timeout is declared lost
// by the master, which tells everybody; a worker whose master is silent for three timeouts
// stops itself.

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cadre/errors.hpp"
#include "node/core.hpp"
#include "node/status_report.hpp"
#include "node/trace_session.hpp"

namespace cadre::node {
namespace {

enum class Ctl : std::uint8_t { heartbeat = 1, ping = 2, pong = 3 };

struct ControlMsg {
  Ctl kind;
  std::uint64_t id;
};

void encode(char* out, const ControlMsg& m) {
  out[0] = static_cast<char>(m.kind);
  std::memcpy(out + 1, &m.id, sizeof m.id);
}

}  // namespace

void Core::start_heartbeats() {
  // Always: a job of one rank may spawn nodes later, and they must hear from the master.
  for (auto& t : last_heard_) t = Clock::now();
  // Ticks come at least four times per timeout, so that detection is not late by more than a
  // quarter of it.
  auto period = std::min(options_.heartbeat_interval, options_.heartbeat_timeout / 4);
  if (period < std::chrono::milliseconds(1)) period = std::chrono::milliseconds(1);
  struct Ticker {
    Core* core;
    std::chrono::milliseconds period;
    void operator()() const {
      core->heartbeat_tick();
      core->sched_.add_timer(Clock::now() + period, Ticker{core, period});
    }
  };
  sched_.add_timer(Clock::now() + period, Ticker{this, period});
  watchdog_.start(options_.heartbeat_timeout, is_master());
}

void Core::heartbeat_tick() {
  const auto now = Clock::now();
  watchdog_.ticked(now);
  trace_->tick();
  char msg[16];
  encode(msg, ControlMsg{Ctl::heartbeat, 0});
  const bool send_now = now - last_beat_ >= options_.heartbeat_interval;
  if (send_now) last_beat_ = now;
  for (std::uint32_t r = 0; r < last_heard_.size(); ++r) {
    NodeId n(r);
    if (n == self_ || (!is_master() && r != 0) || !is_up(n)) continue;
    if (heard_[r]) {
      heard_[r] = 0;
      last_heard_[r] = now;
      if (r == 0) watchdog_.heard_master(now);
    }
    if (send_now) transport_->send_control(n, msg, sizeof msg);
    const auto silent = now - last_heard_[r];
    if (is_master()) {
      if (silent > options_.heartbeat_timeout)
        node_down(n,
                  fmt::format("silent for {} ms (heartbeat_timeout {} ms)",
                              std::chrono::duration_cast<std::chrono::milliseconds>(silent).count(),
                              options_.heartbeat_timeout.count()));
    } else if (silent > 3 * options_.heartbeat_timeout && !final_status_) {
      log_local(Level::error,
                fmt::format("the master has been silent for {} ms (3 x heartbeat_timeout): this "
                            "node stops itself",
                            std::chrono::duration_cast<std::chrono::milliseconds>(silent).count()));
      std::fflush(nullptr);
      std::_Exit(1);
    }
  }
}

void Core::end_on_signal(int sig) {
  const auto now = Clock::now();
  std::string silent;
  for (std::uint32_t r = 1; r < last_heard_.size(); ++r) {
    NodeId n(r);
    if (!is_up(n) || heard_[r]) continue;
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now - last_heard_[r]).count();
    if (now - last_heard_[r] > 2 * options_.heartbeat_interval)
      silent += fmt::format("{}{}: silent for {} ms", silent.empty() ? "" : "; ", describe(n), ms);
  }
  std::string why = fmt::format(
      "ended from outside by signal {} (mpirun ends a job so when it loses a host's daemon, or "
      "when it is interrupted)",
      sig);
  if (!silent.empty()) why += "; not heard from lately: " + silent;
  report_status(128 + sig, 0, nodes_, failures_, why);
  std::fflush(nullptr);
  std::_Exit(128 + sig);
}

void Core::on_alive(NodeId src) {
  if (src.value() < heard_.size()) heard_[src.value()] = 1;
}

void Core::on_control(NodeId src, const char* p, std::size_t n) {
  if (n < 9) return;
  ControlMsg m{static_cast<Ctl>(p[0]), 0};
  std::memcpy(&m.id, p + 1, sizeof m.id);
  // The run timeline's clock probes (node/trace_session.hpp): the master probes, workers
  // answer; anything else is forged, reported and not answered (no echo to amplify a flood).
  if (static_cast<std::uint8_t>(m.kind) == kClockProbe) {
    if (is_master() || src.value() != 0) {
      on_bad_frame(src, fmt::format("a clock probe from node {}: only the master probes clocks",
                                    src.value()));
      return;
    }
    char out[17];
    out[0] = static_cast<char>(kClockReply);
    const std::int64_t now = trace::now_ns();
    std::memcpy(out + 1, &m.id, sizeof m.id);
    std::memcpy(out + 9, &now, sizeof now);
    transport_->send_control(src, out, sizeof out);
    return;
  }
  if (static_cast<std::uint8_t>(m.kind) == kClockReply) {
    std::int64_t remote = 0;
    if (n < 17) {
      on_bad_frame(src, fmt::format("a clock reply of {} bytes (17 expected)", n));
      return;
    }
    std::memcpy(&remote, p + 9, sizeof remote);
    if (std::string why = trace_->on_probe_reply(src, m.id, remote); !why.empty())
      on_bad_frame(src, why);
    return;
  }
  switch (m.kind) {
    case Ctl::heartbeat:
      return;  // on_alive did what it takes
    case Ctl::ping: {
      char out[16];
      encode(out, ControlMsg{Ctl::pong, m.id});
      transport_->send_control(src, out, sizeof out);
      return;
    }
    case Ctl::pong: {
      auto it = pings_.find(m.id);
      if (it == pings_.end()) return;  // a late pong: its ping timed out
      auto [t0, result] = std::move(it->second);
      pings_.erase(it);
      result->set_value(
          0, std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
      result->complete();
      return;
    }
  }
}

void Core::ping(NodeId n, std::shared_ptr<detail::ResultState<std::int64_t>> result) {
  if (n == self_) {
    result->set_value(0, 0);
    result->complete();
    return;
  }
  std::uint64_t id = next_ping_++;
  pings_.emplace(id, std::make_pair(Clock::now(), result));
  char out[16];
  encode(out, ControlMsg{Ctl::ping, id});
  transport_->send_control(n, out, sizeof out);
}

void Core::node_down(NodeId n, const std::string& why) {
  if (n == self_ || !is_up(n)) return;
  if (is_master()) {
    // The node itself is told, last: a stopped one that is continued reads it after what was
    // queued for it meanwhile, and ends at once (node/core.cpp, on_node_down_notice).
    auto self_notice = detail::ByteBuffer();
    {
      detail::OutArchive ar(self_notice);
      ar& n.value();
    }
    send_control(n, Cls::node_down, self_notice);
    transport_->flush();
  }
  const std::string name = nodes_.mark_down(n, why);
  if (is_master() && trace::on()) trace::instant(trace::Kind::node_lost, n.value(), why);
  transport_->forget(n);
  log_local(Level::error, fmt::format("{} is lost: {}", name, why));
  placer_.forget(n);
  for (Service* s : services_) s->on_node_down(n);
  if (!is_master()) return;
  auto payload = detail::ByteBuffer();
  {
    detail::OutArchive ar(payload);
    ar& n.value();
  }
  for (std::uint32_t r = 1; r < transport_->size(); ++r)
    if (NodeId(r) != n && is_up(NodeId(r))) send_control(NodeId(r), Cls::node_down, payload);
  if (options_.on_node_down) {
    try {
      options_.on_node_down(n);
    } catch (const std::exception& e) {
      log_local(Level::error, fmt::format("on_node_down threw: {}", e.what()));
    }
  }
}

}  // namespace cadre::node
