#include "node/trace_session.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cadre/detail/registry.hpp"
#include "cadre/errors.hpp"
#include "cadre/termination.hpp"
#include "node/core.hpp"
#include "node/payload.hpp"
#include "node/traced_transport.hpp"

namespace cadre::node {
namespace {

// Once a minute the master probes every node's clock again, so slow drift is followed.
constexpr auto kRoundEvery = std::chrono::seconds(60);

}  // namespace

TraceSession::TraceSession(Core& core) : core_(core) {
  if (!core_.is_master() || core_.options_.trace_file.empty()) return;
#if CADRE_TRACING
  collector_ = std::make_unique<trace::Collector>(core_.options_.trace_file);
  record();
#else
  log_local(Level::warn,
            fmt::format("cadre was built without the run timeline (CADRE_TRACING=OFF): "
                        "the trace file '{}' is not written",
                        core_.options_.trace_file));
#endif
}

trace::Names TraceSession::names() const {
  trace::Names n;
  n.envelope_class = [this](std::uint8_t cls) { return std::string(core_.class_name(cls)); };
  n.body = [](std::uint64_t id) {
    const detail::Entry* e = detail::find_id(id);
    return e ? e->name : fmt::format("an unregistered body (id {:#x})", id);
  };
  n.reason = [](std::uint8_t r) { return std::string(to_string(static_cast<Reason>(r))); };
  return n;
}

std::string TraceSession::check_file() {
  if (!collector_) return {};
  // Opened now, so a path that cannot be written fails the job before its work, not after;
  // for appending, and removed again if it is new, so that a job that never gets to write it
  // (ended by a signal) leaves no empty file, nor an earlier one emptied.
  const char* path = collector_->path().c_str();
  const bool existed = ::access(path, F_OK) == 0;
  std::FILE* f = std::fopen(path, "a");
  if (!f)
    return fmt::format(
        "cadre start-up: the trace file '{}' (Options::trace_file, CADRE_TRACE) "
        "cannot be written: {}",
        collector_->path(), std::strerror(errno));
  std::fclose(f);
  if (!existed) std::remove(path);
  return {};
}

void TraceSession::started() {
  if (!collector_) return;
  last_round_ = std::chrono::steady_clock::now();
  for (std::uint32_t r = 1; r < core_.transport_->size(); ++r)
    if (core_.is_up(NodeId(r))) round(NodeId(r));
}

void TraceSession::welcomed(bool traced) {
#if CADRE_TRACING
  if (!core_.is_master() && traced) record();
#else
  (void)traced;
#endif
}

void TraceSession::record() {
  // Only a traced node's links go through TracedTransport: an untraced one pays nothing.
  core_.transport_ = std::make_unique<TracedTransport>(std::move(core_.transport_));
  trace::enable(true);
}

void TraceSession::round(NodeId n) {
  collector_->new_round(n.value());
  probe(n);
}

void TraceSession::probe(NodeId n) {
  const std::uint64_t id = next_probe_++;
  probes_[id] = {n.value(), trace::now_ns()};
  char out[16] = {};
  out[0] = static_cast<char>(kClockProbe);
  std::memcpy(out + 1, &id, sizeof id);
  core_.transport_->send_control(n, out, 9);
}

std::string TraceSession::on_probe_reply(NodeId src, std::uint64_t id, std::int64_t remote) {
  if (!collector_) return "a clock reply, but this node probes no clocks";
  auto it = probes_.find(id);
  if (it == probes_.end())
    return fmt::format("a clock reply to probe {}, which is not pending", id);
  // Left pending: the node it went to may still answer.
  if (it->second.first != src.value())
    return fmt::format("a clock reply to probe {}, which went to node {}", id, it->second.first);
  const std::int64_t t0 = it->second.second;
  probes_.erase(it);
  const bool sane = collector_->clock_sample(src.value(), t0, remote, trace::now_ns());
  if (collector_->wants_probe(src.value()) && core_.is_up(src)) probe(src);
  return sane ? std::string()
              : fmt::format("a clock reply with a time no clock reads ({} ns)", remote);
}

void TraceSession::tick() {
  if (!on()) return;
  if (!core_.is_master()) {
    flush();
    return;
  }
  keep_own(false);
  if (std::chrono::steady_clock::now() - last_round_ < kRoundEvery) return;
  started();
}

void TraceSession::keep_own(bool last) {
  // At every tick, not only at the end: the recorder keeps kMaxEvents between two takes, and
  // a master that took only at the end would lose what came after its first million.
  try {
    collector_->add(0, trace::take(names(), last));
  } catch (const std::exception& e) {
    log_local(Level::error,
              fmt::format("trace: the master's own events were not kept: {}", e.what()));
  }
}

void TraceSession::node_joined(NodeId n) {
  if (!collector_) return;
  trace::instant(trace::Kind::node_joined, n.value());
  round(n);
}

void TraceSession::shutdown_begins() {
  if (collector_) started();
}

void TraceSession::flush(bool last) {
  if (!on() || core_.is_master()) return;
  if (last) trace::enable(false);
  trace::Chunk c = trace::take(names(), last);
  if (c.events.empty() && c.counts.empty() && c.unrecorded == 0) return;
  // A piece stays well under the payload cap (an event is about 40 bytes encoded).
  for (const trace::Chunk& piece : trace::split(std::move(c), core_.payload_cap() / 64))
    core_.send_control(NodeId(0), Cls::trace_events, encode_payload(piece));
}

void TraceSession::on_chunk(NodeId src, const char* p, std::size_t n) {
  // Workers record only when the welcome says the job is traced.
  if (!collector_) throw DecodeError("trace events, but this job is not traced");
  collector_->add(src.value(), decode_payload<trace::Chunk>(p, n, "trace events"));
}

void TraceSession::finish() {
  if (!collector_) return;
  trace::enable(false);
  keep_own(true);
  std::vector<trace::NodeLabel> labels;
  const auto table = core_.table();
  std::string master_host;
  for (const NodeInfo& i : *table)
    if (i.id.value() == 0) master_host = i.host;
  for (const NodeInfo& i : *table) {
    labels.push_back(trace::NodeLabel{i.id.value(), core_.describe(i.id)});
    // Nodes on the master's host read its very clock: no probe can do better than that.
    if (i.id.value() != 0 && i.host == master_host) collector_->shares_clock(i.id.value());
  }
  const std::string error = collector_->write(labels);
  if (!error.empty())
    log_local(Level::error, fmt::format("the trace file '{}' (CADRE_TRACE) was not written: {}",
                                        collector_->path(), error));
  else
    log_local(Level::info, fmt::format("trace: {} events of {} node(s) in '{}' (open it in "
                                       "Perfetto or draw it with cadre-timeline)",
                                       collector_->events(), labels.size(), collector_->path()));
}

}  // namespace cadre::node
