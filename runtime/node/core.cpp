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
                     o.mailbox_limit.bytes};
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

// One MPI message carries at most INT_MAX bytes: a frame is a payload, the coalescing
// buffer it may join, and headers.
constexpr std::size_t kMaxFrame = static_cast<std::size_t>(INT_MAX) - 65536;

// Checks the options that every node must agree on, and brings a few into range: the payload
// cap to what one MPI message carries (any value up to 2^31 - 1 is accepted), and the idle
// loop's waits to at most a second of spinning and 100 ms of sleep (a longer sleep would
// leave MPI traffic unread).
void check_limits(Options& o) {
  if (o.coalesce_bytes > (std::size_t(1) << 26))
    throw Error(
        fmt::format("cadre: coalesce_bytes = {} is above the limit of 64 MiB", o.coalesce_bytes));
  o.payload_cap = std::min(o.payload_cap, kMaxFrame - o.coalesce_bytes);
  if (o.payload_cap < 1024)
    throw Error(fmt::format("cadre: payload_cap = {} bytes is below 1 KiB", o.payload_cap));
  if (o.map_window < 1 || o.map_window > (1 << 20))
    throw Error(fmt::format("cadre: map_window = {} is not between 1 and 2^20", o.map_window));
  if (o.link_credit < 4096 || o.link_credit > (std::size_t(1) << 40))
    throw Error(
        fmt::format("cadre: link_credit = {} bytes is not between 4 KiB and 1 TiB", o.link_credit));
  if (o.mailbox_limit.messages < 1 || o.mailbox_limit.bytes < 1024)
    throw Error(fmt::format(
        "cadre: mailbox_limit = {{{} messages, {} bytes}} is below 1 message or 1 KiB",
        o.mailbox_limit.messages, o.mailbox_limit.bytes));
  o.idle_spin = std::min<std::chrono::microseconds>(o.idle_spin, std::chrono::seconds(1));
  o.idle_sleep = std::min<std::chrono::microseconds>(o.idle_sleep, std::chrono::milliseconds(100));
}

constexpr unsigned kQuickPasses = 256;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

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

// -- the loop ---------------------------------------------------------------------------

void Core::post(sched::Job fn) {
  std::lock_guard lock(post_mu_);
  if (closed_) throw NotRunning("cadre: the runtime has shut down; no more work is accepted");
  posted_.push_back(std::move(fn));
  has_posted_.store(true, std::memory_order_release);
  if (sleeping_) post_cv_.notify_one();
}

std::size_t Core::drain_posted() {
  if (!has_posted_.load(std::memory_order_acquire)) return 0;
  {
    std::lock_guard lock(post_mu_);
    draining_.swap(posted_);
    has_posted_.store(false, std::memory_order_relaxed);
  }
  std::size_t n = draining_.size();
  for (auto& fn : draining_) {
    sched::Job job = std::move(fn);
    try {
      job();
    } catch (const std::exception& e) {
      log_local(Level::error, fmt::format("posted work failed: {}", e.what()));
    }
  }
  draining_.clear();
  return n;
}

std::size_t Core::step() {
  loop_passes_.store(++pass_count_, std::memory_order_relaxed);
  std::size_t work = transport_->poll(*this);
  work += drain_posted();
  work += sched_.run_ready();
  // Timers are checked every few passes only: reading the clock costs more than a pass.
  if (auto next = sched_.next_deadline(); next && (++passes_ & 7) == 0) {
    auto now = Clock::now();
    if (*next <= now) work += sched_.fire_timers(now);
  }
  // The loop flushes every pass: what the fibers of this pass sent is coalesced already.
  work += transport_->flush();
  if (!thread_watch_.empty()) publish_thread_links();
  return work;
}

bool Core::run_until(const std::function<bool()>& done, std::optional<Clock::time_point> deadline) {
  Clock::time_point last_work{};
  bool timing = false;  // the quiet period's start is known
  unsigned quiet = 0;   // passes without work since the last work
  while (!done()) {
    if (step() > 0) {
      // How long the node waited for this work (when it waited long enough to be timed):
      // the next wait spins at least twice as long (see idle()).
      if (timing) last_quiet_ = Clock::now() - last_work;
      quiet = 0;
      timing = false;
      continue;
    }
    if (done()) break;
    // The first quiet passes poll at once, without reading the clock: a reply is usually a
    // few microseconds away.
    if (++quiet < kQuickPasses) continue;
    auto now = Clock::now();
    if (!timing) {
      timing = true;
      last_work = now;
    }
    if (deadline && now >= *deadline) return done();
    // After a sleep, poll a few times again before the next one (a single probe can miss
    // what arrived during the sleep).
    if (idle(now, last_work, deadline)) quiet = kQuickPasses - 4;
  }
  return true;
}

// After work the loop polls for `idle_spin` (pausing, then yielding the core), then sleeps up
// to `idle_sleep` at a time: an idle node costs a few percent of a core, and a message to it
// waits about a millisecond. Posting threads wake it at once. When the last wait ended with
// work after less than 20 spins' time, the loop spins twice that wait: an exchange whose
// round trips take a few milliseconds (large messages) is not slowed by a sleep on every hop,
// while a node that hears only heartbeats still sleeps.
bool Core::idle(Clock::time_point now, Clock::time_point last_work,
                std::optional<Clock::time_point> deadline) {
  auto since = now - last_work;
  auto spin = std::chrono::duration_cast<Clock::duration>(options_.idle_spin);
  if (last_quiet_ < 20 * spin) spin = std::max(spin, 2 * last_quiet_);
  // Sends in flight keep the loop polling, but not for ever: a peer stuck in a long task may
  // not take a large message for a while.
  if (since < spin || (transport_->busy() && since < 10 * spin)) {
    if (since < spin / 2) {
      cpu_relax();  // one pause: on recent x86 it alone costs ~140 cycles
    } else {
      sched_yield();
    }
    return false;
  }
  auto until = now + options_.idle_sleep;
  if (auto next = sched_.next_deadline(); next && *next < until) until = *next;
  if (deadline && *deadline < until) until = *deadline;
  std::unique_lock lock(post_mu_);
  if (!posted_.empty()) return false;
  sleeping_ = true;
  post_cv_.wait_until(lock, until);
  sleeping_ = false;
  return true;
}

void Core::send_control(NodeId dst, Cls cls, const detail::ByteBuffer& payload) {
  wire::Envelope env{};
  env.cls = static_cast<std::uint8_t>(cls);
  env.src = Pid{self_, 0};
  env.dst = Pid{dst, 0};
  transport_->send(dst, env, payload.data(), payload.size());
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

void Core::on_hello(NodeId src, const char* p, std::size_t n) {
  if (std::any_of(hellos_.begin(), hellos_.end(), [&](auto& h) { return h.first == src; }))
    throw DecodeError("a second hello from this node");
  hellos_.emplace_back(src, decode_payload<Hello>(p, n, "hello"));
}

void Core::on_welcome(const char* p, std::size_t n) {
  auto w = decode_payload<Welcome>(p, n, "welcome");
  Options o = options_;
  from_wire(w.options, o);
  check_limits(o);
  options_ = std::move(o);
  // The master's limits hold on every link, in both directions.
  transport_->set_limits(options_.payload_cap, options_.coalesce_bytes, options_.link_credit);
  sched_.set_stack_size(options_.stack_size);
  NodeTable t;
  for (auto& r : w.nodes)
    t.push_back(NodeInfo{NodeId(r.id), r.name, r.host, r.rank, NodeState::up, r.os_pid});
  publish(std::move(t));
  output_->load_history(std::move(w.relays));  // before anything else reaches this node
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

void Core::start() {
  const std::uint32_t size = transport_->size();
  const auto deadline = Clock::now() + options_.ready_timeout;
  fin_from_.assign(size, 0);
  size_thread_sends(size);
  if (is_master()) {
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
      std::string msg =
          "cadre start-up: the registries of the job's programs disagree:" + problems +
          "\n  Every program must register a name with one signature.";
      auto payload = encode_payload(msg);
      for (std::uint32_t r = 1; r < size; ++r) send_control(NodeId(r), Cls::abort_start, payload);
      run_until([&] { return !transport_->busy(); }, Clock::now() + std::chrono::seconds(5));
      throw RegistryMismatch(msg);
    }
    Welcome w;
    w.options = to_wire(options_);
    w.relays = output_->relay_history();
    std::sort(hellos_.begin(), hellos_.end(), [](auto& a, auto& b) { return a.first < b.first; });
    NodeTable t;
    for (auto& [id, h] : hellos_) {
      w.nodes.push_back(NodeRecordWire{id.value(), h.name, h.host,
                                       static_cast<std::int32_t>(id.value()), h.os_pid});
      t.push_back(
          NodeInfo{id, h.name, h.host, static_cast<int>(id.value()), NodeState::up, h.os_pid});
    }
    publish(std::move(t));
    auto payload = encode_payload(w);
    for (std::uint32_t r = 1; r < size; ++r) send_control(NodeId(r), Cls::welcome, payload);
    transport_->flush();
    hellos_.clear();
    start_heartbeats();
    return;
  }
  send_control(NodeId(0), Cls::hello, encode_payload(make_hello()));
  // The master waits ready_timeout for everybody; give it that and some more to answer.
  run_until([&] { return welcomed_ || !abort_message_.empty(); },
            deadline + options_.ready_timeout + std::chrono::seconds(5));
  if (!abort_message_.empty()) throw RegistryMismatch(abort_message_);
  if (!welcomed_)
    throw Error(fmt::format("cadre start-up: node {} got no answer from the master within {} ms",
                            self_.value(), 2 * options_.ready_timeout.count() + 5000));
  start_heartbeats();
}

}  // namespace cadre::node
