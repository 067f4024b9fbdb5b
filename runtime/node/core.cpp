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
#include "services/output.hpp"
#include "services/processes.hpp"
#include "services/tasks.hpp"
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
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

Core::Core(std::unique_ptr<transport::Transport> transport, Options options, std::string host)
    : transport_(std::move(transport)),
      options_(std::move(options)),
      self_(transport_->self()),
      host_(std::move(host)),
      sched_(options_.stack_size),
      tasks_(std::make_unique<services::TaskService>(*this)),
      processes_(std::make_unique<services::ProcessService>(*this)),
      output_(std::make_unique<services::OutputService>(*this)) {
  if (is_master()) processes_->add_driver();
  check_limits(options_);
  transport_->set_limits(options_.payload_cap, options_.coalesce_bytes, options_.link_credit);
  NodeTable t;
  t.push_back(NodeInfo{self_, fmt::format("{}:{}", host_, self_.value()), host_,
                       static_cast<int>(self_.value()), NodeState::up,
                       static_cast<int>(::getpid())});
  publish(std::move(t));
  {
    std::lock_guard lock(g_log_mu);
    g_log_prefix = fmt::format("cadre[{}:{}]", host_, self_.value());
  }
  Core* expected = nullptr;
  if (!g_core.compare_exchange_strong(expected, this))
    throw InitTwice("cadre::Runtime: a runtime already exists in this process");
}

Core::~Core() {
  stop_watchdog();
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

std::shared_ptr<const NodeTable> Core::table() const {
  std::lock_guard lock(table_mu_);
  return table_;
}

void Core::publish(NodeTable t) {
  auto p = std::make_shared<const NodeTable>(std::move(t));
  std::uint32_t contiguous = 0;
  while (contiguous < p->size() && (*p)[contiguous].id.value() == contiguous &&
         (*p)[contiguous].state == NodeState::up)
    ++contiguous;
  std::lock_guard lock(table_mu_);
  table_ = std::move(p);
  known_nodes_.store(contiguous, std::memory_order_release);
}

std::string Core::describe(NodeId n) const {
  auto t = table();
  for (auto& i : *t)
    if (i.id == n) return fmt::format("node {} ({} on host {})", n.value(), i.name, i.host);
  return fmt::format("node {}", n.value());
}

void Core::check_node_in_table(NodeId n, const char* what) const {
  auto t = table();
  for (auto& i : *t) {
    if (i.id != n) continue;
    if (i.state != NodeState::down) return;
    throw NodeDown(
        fmt::format("{}: node {} ({} on host {}) was lost", what, n.value(), i.name, i.host));
  }
  std::string live;
  for (auto& i : *t)
    if (i.state != NodeState::down)
      live += fmt::format("{}{} ({})", live.empty() ? "" : ", ", i.id.value(), i.name);
  throw InvalidNode(fmt::format("{}: node {} is not part of the runtime (live nodes: {})", what,
                                n.value(), live));
}

// -- dispatch ---------------------------------------------------------------------------

std::string Core::refusal(NodeId src, const wire::Envelope& env) const {
  const auto cls = static_cast<Cls>(env.cls);
  switch (cls) {
    case Cls::welcome:
    case Cls::abort_start:
    case Cls::shutdown:
    case Cls::final_status:
    case Cls::node_down:
    case Cls::relay:
      if (src.value() != 0) return "it may only come from the master";
      break;
    case Cls::hello:
      if (!is_master() || !accepting_hellos_) return "the sending node is not joining";
      break;
    case Cls::shutdown_ack:
    case Cls::log:
    case Cls::stat:
    case Cls::progress:
    case Cls::relay_request:
      if (!is_master()) return "it may only go to the master";
      break;
    default:
      break;
  }
  // Broadcasts travel down a tree: their source is the process that broadcast.
  if (cls != Cls::broadcast && !env.src.is_null() && env.src.node != src)
    return fmt::format("its source pid {} does not belong to the sending node", env.src);
  return {};
}

void Core::on_envelope(NodeId src, const wire::Envelope& env, const char* payload,
                       std::size_t len) {
  if (env.cls == static_cast<std::uint8_t>(Cls::message) &&  // the stream: first, directly
      (env.src.node == src || env.src.is_null())) {
    processes_->deliver_local(env, payload, len);
    return;
  }
  if (std::string why = refusal(src, env); !why.empty()) {
    on_bad_frame(src, fmt::format("refused an envelope of class {}: {}",
                                  to_string(static_cast<Cls>(env.cls)), why));
    return;
  }
  switch (static_cast<Cls>(env.cls)) {
    case Cls::task_request:
      tasks_->on_request(src, env, payload, len);
      return;
    case Cls::task_result:
      tasks_->on_result(src, env, payload, len);
      return;
    case Cls::hello:
      on_hello(src, payload, len);
      return;
    case Cls::welcome:
      on_welcome(payload, len);
      return;
    case Cls::abort_start:
      abort_message_ = decode_payload<std::string>(payload, len, "start-up refusal");
      return;
    case Cls::shutdown:
      on_shutdown_request(payload, len);
      return;
    case Cls::shutdown_ack:
      if (src.value() < acks_.size())
        acks_[src.value()] = decode_payload<ShutdownAck>(payload, len, "shut-down ack");
      return;
    case Cls::final_status:
      final_status_ = decode_payload<FinalStatus>(payload, len, "final status");
      finalize_safe_ = final_status_->finalize;
      final_seen_.store(true);
      return;
    case Cls::link_fin:
      on_link_fin(src, payload, len);
      return;
    case Cls::node_down:
      node_down(NodeId(decode_payload<std::uint32_t>(payload, len, "node-down notice")),
                "the master declared it lost");
      return;
    case Cls::terminate:
      terminate_requested_.store(true);
      return;
    case Cls::message:
    case Cls::reply:
    case Cls::spawn:
    case Cls::spawn_reply:
    case Cls::monitor:
    case Cls::demonitor:
    case Cls::down:
    case Cls::link:
    case Cls::unlink:
    case Cls::exit_signal:
    case Cls::kill:
    case Cls::broadcast:
    case Cls::name_register:
    case Cls::name_lookup:
    case Cls::name_reply:
      processes_->on_envelope(src, env, payload, len);
      return;
    case Cls::log:
    case Cls::stat:
    case Cls::progress:
    case Cls::relay:
    case Cls::relay_request:
      output_->on_envelope(src, env, payload, len);
      return;
  }
  on_bad_frame(src, fmt::format("an envelope of unknown class {}", unsigned(env.cls)));
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
