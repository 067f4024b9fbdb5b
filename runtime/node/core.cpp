#include "node/core.hpp"

#include <fmt/format.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <map>

#include "cadre/detail/archive.hpp"
#include "cadre/detail/registry.hpp"
#include "cadre/errors.hpp"
#include "node/options_env.hpp"
#include "node/payload.hpp"
#include "node/terminal.hpp"
#include "node/trace_session.hpp"
#include "transport/mpi_env.hpp"
#include "wire/registry_internal.hpp"

namespace cadre::node {
namespace {

std::atomic<Core*> g_core{nullptr};

// What a node reports in its log prefix before and after the core exists.
std::mutex g_log_mu;
std::string g_log_prefix = "cadre";

}  // namespace

void log_local(Level level, const std::string& message) {
  std::string line;
  {
    std::lock_guard lock(g_log_mu);
    line = fmt::format("{} {}: {}\n", g_log_prefix, to_string(level), message);
  }
  write_lines(stderr, line);  // below a live progress line, never on it
}

Core::Core(std::unique_ptr<transport::Transport> transport, Options options, std::string host)
    : NodeContext(transport->self(), std::move(options)),
      transport_(std::move(transport)),
      host_(std::move(host)) {
  add_route(Cls::hello, "hello", kAnyNode, nullptr, nullptr, &Core::on_hello);
  add_route(Cls::welcome, "welcome", kFromMaster, nullptr, nullptr, &Core::on_welcome);
  add_route(Cls::abort_start, "abort_start", kFromMaster, nullptr, nullptr, &Core::on_abort_start);
  add_route(Cls::shutdown, "shutdown", kFromMaster, nullptr, nullptr, &Core::on_shutdown_request);
  add_route(Cls::shutdown_ack, "shutdown_ack", kToMaster, nullptr, nullptr, &Core::on_shutdown_ack);
  add_route(Cls::final_status, "final_status", kFromMaster, nullptr, nullptr,
            &Core::on_final_status);
  add_route(Cls::node_down, "node_down", kFromMaster, nullptr, nullptr, &Core::on_node_down_notice);
  add_route(Cls::terminate, "terminate", kAnyNode, nullptr, nullptr, &Core::on_terminate);
  add_route(Cls::link_fin, "link_fin", kAnyNode, nullptr, nullptr, &Core::on_link_fin);
  add_route(Cls::node_joined, "node_joined", kFromMaster, nullptr, nullptr, &Core::on_node_joined);
  add_route(Cls::node_stopped, "node_stopped", kFromMaster, nullptr, nullptr,
            &Core::on_node_stopped);
  add_route(Cls::node_left, "node_left", kFromMaster, nullptr, nullptr, &Core::on_node_stopped);
  add_route(Cls::leave_request, "leave_request", kToMaster, nullptr, nullptr,
            &Core::on_leave_request);
  add_route(Cls::trace_events, "trace_events", kToMaster, nullptr, nullptr, &Core::on_trace_events);
  spawned_ = transport_->spawned();
  yield_when_idle_ = transport::oversubscribed();
  check_limits(options_);
  transport_->set_limits(options_.payload_cap, options_.coalesce_bytes, options_.link_credit);
  NodeTable t;
  t.push_back(NodeInfo{self_, fmt::format("{}:{}", host_, self_.value()), host_,
                       static_cast<int>(self_.value()), NodeState::up,
                       static_cast<int>(::getpid())});
  nodes_.publish(std::move(t));
  trace_ = std::make_unique<TraceSession>(*this);
  {
    std::lock_guard lock(g_log_mu);
    g_log_prefix = fmt::format("cadre[{}:{}]", host_, self_.value());
  }
  Core* expected = nullptr;
  if (!g_core.compare_exchange_strong(expected, this))
    throw InitTwice("cadre::Runtime: a runtime already exists in this process");
}

Core::~Core() {
  watchdog_.stop();
  unbind_loop_thread();
  Core* me = this;
  g_core.compare_exchange_strong(me, nullptr);
}

Core& Core::get() {
  Core* c = g_core.load(std::memory_order_acquire);
  if (!c)
    throw NotRunning(
        "cadre: the runtime is not running (construct cadre::Runtime or call cadre::launch "
        "first)");
  return *c;
}

Core* Core::try_get() { return g_core.load(std::memory_order_acquire); }

// -- services and dispatch ------------------------------------------------------------------

void Core::add_route(Cls cls, const char* name, std::uint8_t rules, Service* s, Thunk t,
                     Handler h) {
  Route& r = routes_[static_cast<std::uint8_t>(cls)];
  if (r.name)
    throw std::logic_error(fmt::format("cadre: envelope class {} is claimed by '{}' and by '{}'",
                                       unsigned(cls), r.service ? r.service->name() : "the node",
                                       s ? s->name() : "the node"));
  r = Route{s, t, h, rules, name};
}

void Core::add_service(Service& s) {
  if (s.provides_join_records()) {
    if (joiner_)
      throw std::logic_error(fmt::format(
          "cadre: '{}' and '{}' both provide join records; the welcome carries one list",
          joiner_->name(), s.name()));
    joiner_ = &s;
  }
  for (const ClassSpec& c : s.classes()) add_route(c.cls, c.name, c.rules, &s, c.handler, nullptr);
  services_.push_back(&s);
}

std::string_view Core::class_name(std::uint8_t cls) const {
  const char* name = routes_[cls].name;
  return name ? name : "unknown";
}

std::string refusal(std::uint8_t rules, NodeId self, NodeId src, const wire::Envelope& env) {
  if ((rules & kFromMaster) && src.value() != 0) return "it may only come from the master";
  if ((rules & kToMaster) && self.value() != 0) return "it may only go to the master";
  // Forwarded classes (broadcasts down a tree) carry the pid of their first sender.
  if (!(rules & kForwarded) && !env.src.is_null() && env.src.node != src)
    return fmt::format("its source pid {} does not belong to the sending node", env.src);
  return {};
}

std::string Core::refusal(NodeId src, const wire::Envelope& env) const {
  const Route& r = routes_[env.cls];
  if ((r.rules & kFromMaster) && src.value() != 0) return "it may only come from the master";
  if ((r.rules & kToMaster) && !is_master()) return "it may only go to the master";
  // Hellos come from nodes that join: during start-up, to the master.
  if (env.cls == static_cast<std::uint8_t>(Cls::hello) &&
      (!is_master() || (!accepting_hellos_ && !joining_.count(src.value()))))
    return "the sending node is not joining";
  return node::refusal(r.rules, self_, src, env);
}

void Core::on_envelope(NodeId src, const wire::Envelope& env, const char* payload,
                       std::size_t len) {
  // The common case, a service's class that any node may send, from a process of the
  // sending node: one test, then a tail call to its handler. (A traced node's transport
  // records the envelope before it gets here: node/traced_transport.hpp.)
  const Route& r = routes_[env.cls];
  if (r.thunk && r.rules == kAnyNode && env.src.node == src) [[likely]]
    return r.thunk(*r.service, src, env, payload, len);
  dispatch_checked(src, env, payload, len);
}

void Core::dispatch_checked(NodeId src, const wire::Envelope& env, const char* payload,
                            std::size_t len) {
  const Route& r = routes_[env.cls];
  if (!r.name) {
    on_bad_frame(src, fmt::format("an envelope of unknown class {}", unsigned(env.cls)));
    return;
  }
  if (std::string why = refusal(src, env); !why.empty()) {
    on_bad_frame(src, fmt::format("refused an envelope of class {}: {}", class_name(env.cls), why));
    return;
  }
  if (r.thunk)
    r.thunk(*r.service, src, env, payload, len);  // straight to the service's named handler
  else if (r.service)
    r.service->on_envelope(src, env, payload, len);
  else
    (this->*r.handler)(src, env, payload, len);
}

void Core::on_abort_start(NodeId, const wire::Envelope&, const char* p, std::size_t n) {
  abort_message_ = decode_payload<std::string>(p, n, "start-up refusal");
}

void Core::on_shutdown_ack(NodeId src, const wire::Envelope&, const char* p, std::size_t n) {
  auto ack = decode_payload<ShutdownAck>(p, n, "shut-down ack");
  if (src.value() < acks_.size()) acks_[src.value()] = ack;
  if (auto it = stopping_nodes_.find(src.value());
      it != stopping_nodes_.end() && !it->second.acked) {
    it->second.acked = true;
    if (!ack.clean)
      log_local(Level::warn, fmt::format("stop_node: {}: {}", describe(src), ack.note));
    stop_acked(src);
  }
}

void Core::on_final_status(NodeId, const wire::Envelope&, const char* p, std::size_t n) {
  final_status_ = decode_payload<FinalStatus>(p, n, "final status");
  finalize_safe_ = final_status_->finalize;
  watchdog_.master_done();
}

void Core::on_node_down_notice(NodeId, const wire::Envelope&, const char* p, std::size_t n) {
  const NodeId lost(decode_payload<std::uint32_t>(p, n, "node-down notice"));
  if (lost == self_ && !final_status_) {
    // Declared lost (silent past heartbeat_timeout: stopped, frozen or cut off), this node's
    // messages are discarded everywhere: it has no part left to play.
    log_local(Level::error,
              "the master declared this node lost (it was silent past heartbeat_timeout): it "
              "stops itself");
    std::fflush(nullptr);
    std::_Exit(1);
  }
  node_down(lost, "the master declared it lost");
}

void Core::on_trace_events(NodeId src, const wire::Envelope&, const char* p, std::size_t n) {
  trace_->on_chunk(src, p, n);
}

void Core::on_terminate(NodeId, const wire::Envelope&, const char*, std::size_t) {
  terminate_requested_.store(true);
}

void Core::on_bad_frame(NodeId src, const std::string& why) {
  ++drops_.malformed;
  // A flood of bad frames must not become a flood of log lines: a few a second are logged,
  // the others counted (and named in the next line logged, and in the shut-down line).
  const auto now = Clock::now();
  if (now - bad_log_second_ >= std::chrono::seconds(1)) {
    bad_log_second_ = now;
    bad_log_lines_ = 0;
  }
  if (bad_log_lines_ >= kBadFrameLinesPerSecond) {
    ++bad_log_suppressed_;
    return;
  }
  ++bad_log_lines_;
  std::string more;
  if (bad_log_suppressed_ > 0)
    more = fmt::format(" ({} more malformed frame(s) were not logged)", bad_log_suppressed_);
  bad_log_suppressed_ = 0;
  log_local(Level::error,
            fmt::format("discarded a malformed frame from {}: {}{}", describe(src), why, more));
}

}  // namespace cadre::node
