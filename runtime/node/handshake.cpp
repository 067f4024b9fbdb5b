// The start-up handshake: workers say hello with their registries, the master checks them all
// and welcomes every node with its options, the node table and the relay history.

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "cadre/detail/registry.hpp"
#include "cadre/errors.hpp"
#include "node/core.hpp"
#include "node/options_env.hpp"
#include "node/payload.hpp"
#include "node/trace_session.hpp"
#include "wire/registry_internal.hpp"

namespace cadre::node {
namespace {

WireOptions to_wire(const Options& o) {
  return WireOptions{o.heartbeat_interval.count(),
                     o.heartbeat_timeout.count(),
                     o.ready_timeout.count(),
                     o.shutdown_timeout.count(),
                     o.idle_spin.count(),
                     o.idle_sleep.count(),
                     static_cast<std::uint8_t>(o.log_level),
                     o.coalesce_bytes,
                     o.payload_cap,
                     o.stack_size,
                     o.map_window,
                     o.link_credit,
                     o.mailbox_limit.messages,
                     o.mailbox_limit.bytes,
                     static_cast<std::uint8_t>(trace::on() ? 1 : 0)};
}

void from_wire(const WireOptions& w, Options& o) {
  using std::chrono::microseconds;
  using std::chrono::milliseconds;
  o.heartbeat_interval = milliseconds(w.heartbeat_interval_ms);
  o.heartbeat_timeout = milliseconds(w.heartbeat_timeout_ms);
  o.ready_timeout = milliseconds(w.ready_timeout_ms);
  o.shutdown_timeout = milliseconds(w.shutdown_timeout_ms);
  o.idle_spin = microseconds(w.idle_spin_us);
  o.idle_sleep = microseconds(w.idle_sleep_us);
  o.log_level = static_cast<Level>(std::min<std::uint8_t>(w.log_level, 5));
  o.coalesce_bytes = w.coalesce_bytes;
  o.payload_cap = w.payload_cap;
  o.stack_size = w.stack_size;
  o.map_window = w.map_window;
  o.link_credit = w.link_credit;
  o.mailbox_limit.messages = w.mailbox_limit_messages;
  o.mailbox_limit.bytes = w.mailbox_limit_bytes;
}

}  // namespace

// -- start-up ---------------------------------------------------------------------------

Hello Core::make_hello() const {
  Hello h;
  h.name = fmt::format("{}:{}", host_, self_.value());
  h.host = host_;
  h.build_id = detail::build_id();
  h.os_pid = static_cast<std::int32_t>(::getpid());
  for (const detail::Entry* e : detail::all_entries())
    h.registry.push_back(RegistryRecord{static_cast<std::uint8_t>(e->kind), e->name, e->signature});
  h.local_error = detail::registry_errors();
  return h;
}

void Core::on_hello(NodeId src, const wire::Envelope&, const char* p, std::size_t n) {
  if (!accepting_hellos_ && joining_.count(src.value())) {
    admit(src, decode_payload<Hello>(p, n, "hello"));
    return;
  }
  if (std::any_of(hellos_.begin(), hellos_.end(), [&](auto& h) { return h.first == src; }))
    throw DecodeError("a second hello from this node");
  hellos_.emplace_back(src, decode_payload<Hello>(p, n, "hello"));
}

void Core::on_welcome(NodeId, const wire::Envelope&, const char* p, std::size_t n) {
  auto w = decode_payload<Welcome>(p, n, "welcome");
  Options o = options_;
  from_wire(w.options, o);
  check_limits(o);
  options_ = std::move(o);
  // The master's limits hold on every link, in both directions.
  transport_->set_limits(options_.payload_cap, options_.coalesce_bytes, options_.link_credit);
  sched_.set_stack_size(options_.stack_size);
  NodeTable t;
  for (auto& r : w.nodes) {
    ensure_node(NodeId(r.id));
    transport_->add_node(NodeId(r.id));
    t.push_back(NodeInfo{NodeId(r.id), r.name, r.host, r.rank,
                         static_cast<NodeState>(std::min<std::uint8_t>(r.state, 4)), r.os_pid});
    if (t.back().state != NodeState::up && NodeId(r.id) != self_) transport_->forget(NodeId(r.id));
  }
  nodes_.publish(std::move(t));
  connect_doorbells();
  // Before anything else reaches this node.
  if (joiner_) joiner_->load_join_records(std::move(w.relays));
  trace_->welcomed(w.options.trace != 0);
  welcomed_ = true;
}

std::string Core::check_registries(const std::vector<std::pair<NodeId, Hello>>& hellos) const {
  std::string problems;
  for (auto& [id, h] : hellos)
    if (!h.local_error.empty())
      problems += fmt::format("\n  on node {} ({}): {}", id.value(), h.name, h.local_error);
  // name -> first (signature, node) seen
  std::map<std::pair<std::uint8_t, std::string>, std::pair<std::string, const Hello*>> first;
  std::map<std::string, bool> reported;
  for (auto& [id, h] : hellos) {
    for (auto& r : h.registry) {
      auto [it, added] =
          first.emplace(std::make_pair(r.kind, r.name), std::make_pair(r.signature, &h));
      if (added || it->second.first == r.signature || reported[r.name]) continue;
      reported[r.name] = true;
      problems += fmt::format(
          "\n  {} '{}' is registered as '{}' on {} and as '{}' on {}",
          r.kind == static_cast<std::uint8_t>(detail::EntryKind::task) ? "task" : "message type",
          r.name, it->second.first, it->second.second->name, r.signature, h.name);
    }
  }
  return problems;
}

Welcome Core::make_welcome() const {
  Welcome w;
  w.options = to_wire(options_);
  if (joiner_) w.relays = joiner_->join_records();
  for (const NodeInfo& i : *table())
    w.nodes.push_back(
        NodeRecordWire{i.id.value(), i.name, i.host, static_cast<std::int32_t>(i.rank),
                       static_cast<std::int32_t>(i.pid), static_cast<std::uint8_t>(i.state)});
  return w;
}

void Core::start() {
  const std::uint32_t size = transport_->size();
  const auto deadline = Clock::now() + options_.ready_timeout;
  next_node_id_ = size;
  ensure_node(NodeId(size - 1));
  if (is_master())
    start_master(deadline);
  else
    start_worker(deadline);
  start_heartbeats();
}

// The master's half: every node's hello within ready_timeout, the registries agree, and
// each worker gets the welcome (options, node table, join records) or the refusal.
void Core::start_master(Clock::time_point deadline) {
  const std::uint32_t size = transport_->size();
  hellos_.emplace_back(self_, make_hello());
  accepting_hellos_ = true;
  run_until([&] { return hellos_.size() == size; }, deadline);
  accepting_hellos_ = false;
  if (hellos_.size() != size) {
    std::string missing;
    for (std::uint32_t r = 1; r < size; ++r)
      if (std::none_of(hellos_.begin(), hellos_.end(),
                       [&](auto& h) { return h.first.value() == r; }))
        missing += fmt::format(" {}", r);
    throw Error(
        fmt::format("cadre start-up: nodes{} did not report ready within {} ms (ready_timeout; "
                    "CADRE_READY_TIMEOUT_MS). Are all ranks cadre programs?",
                    missing, options_.ready_timeout.count()));
  }
  std::string problems = check_registries(hellos_);
  if (!problems.empty()) {
    std::string msg = "cadre start-up: the registries of the job's programs disagree:" + problems +
                      "\n  Every program must register a name with one signature.";
    auto payload = encode_payload(msg);
    for (std::uint32_t r = 1; r < size; ++r) send_control(NodeId(r), Cls::abort_start, payload);
    run_until([&] { return !transport_->busy(); }, Clock::now() + std::chrono::seconds(5));
    throw RegistryMismatch(msg);
  }
  if (problems = trace_->check_file(); !problems.empty()) {
    for (std::uint32_t r = 1; r < size; ++r)
      send_control(NodeId(r), Cls::abort_start, encode_payload(problems));
    run_until([&] { return !transport_->busy(); }, Clock::now() + std::chrono::seconds(5));
    throw Error(problems);
  }
  std::sort(hellos_.begin(), hellos_.end(), [](auto& a, auto& b) { return a.first < b.first; });
  NodeTable t;
  for (auto& [id, h] : hellos_) {
    t.push_back(
        NodeInfo{id, h.name, h.host, static_cast<int>(id.value()), NodeState::up, h.os_pid});
    std::lock_guard lock(registry_mu_);
    for (auto& r : h.registry) {
      registry_.push_back(r);
      registry_owner_.push_back(h.name);
    }
  }
  nodes_.publish(std::move(t));
  connect_doorbells();
  auto payload = encode_payload(make_welcome());
  for (std::uint32_t r = 1; r < size; ++r) send_control(NodeId(r), Cls::welcome, payload);
  transport_->flush();
  hellos_.clear();
  trace_->started();
}

// The worker's half: say hello, and wait for the welcome or the refusal.
void Core::start_worker(Clock::time_point deadline) {
  send_control(NodeId(0), Cls::hello, encode_payload(make_hello()));
  // The master waits ready_timeout for everybody; give it that and some more to answer.
  run_until([&] { return welcomed_ || !abort_message_.empty(); },
            deadline + options_.ready_timeout + std::chrono::seconds(5));
  if (!abort_message_.empty()) throw RegistryMismatch(abort_message_);
  if (!welcomed_)
    throw Error(fmt::format("cadre start-up: node {} got no answer from the master within {} ms",
                            self_.value(), 2 * options_.ready_timeout.count() + 5000));
}

}  // namespace cadre::node
