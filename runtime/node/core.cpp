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

template <class T>
T decode_payload(const char* p, std::size_t n, const char* what) {
  try {
    return detail::decode_as<T>(p, n);
  } catch (const DecodeError& e) {
    throw DecodeError(fmt::format("{}: {}", what, e.what()));
  }
}

template <class T>
detail::ByteBuffer encode_payload(const T& v) {
  detail::ByteBuffer b;
  detail::OutArchive ar(b);
  ar& v;
  return b;
}

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
                     o.link_credit};
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
}

// One MPI message carries at most INT_MAX bytes: a frame is a payload, the coalescing
// buffer it may join, and headers.
constexpr std::size_t kMaxFrame = static_cast<std::size_t>(INT_MAX) - 65536;

void check_limits(const Options& o) {
  if (o.coalesce_bytes > (std::size_t(1) << 26))
    throw Error(
        fmt::format("cadre: coalesce_bytes = {} is above the limit of 64 MiB", o.coalesce_bytes));
  if (o.payload_cap + o.coalesce_bytes > kMaxFrame)
    throw Error(fmt::format(
        "cadre: payload_cap = {} bytes is above what one MPI message can carry ({} bytes)",
        o.payload_cap, kMaxFrame - o.coalesce_bytes));
  if (o.map_window < 1 || o.map_window > (1 << 20))
    throw Error(fmt::format("cadre: map_window = {} is not between 1 and 2^20", o.map_window));
  if (o.link_credit < 4096 || o.link_credit > (std::size_t(1) << 40))
    throw Error(
        fmt::format("cadre: link_credit = {} bytes is not between 4 KiB and 1 TiB", o.link_credit));
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

void Core::on_envelope(NodeId src, const wire::Envelope& env, const char* payload,
                       std::size_t len) {
  if (env.cls == static_cast<std::uint8_t>(Cls::message)) {  // the stream: first, directly
    processes_->deliver_local(env, payload, len);
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
    case Cls::final_status: {
      auto fin = decode_payload<FinalStatus>(payload, len, "final status");
      final_status_ = fin.status;
      finalize_safe_ = fin.finalize;
      return;
    }
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
  log_local(Level::warn, fmt::format("dropped an envelope of unknown class {} from {}",
                                     unsigned(env.cls), describe(src)));
  ++dropped_;
}

void Core::on_bad_frame(NodeId src, const std::string& why) {
  log_local(Level::error,
            fmt::format("discarded a malformed frame from {}: {}", describe(src), why));
  ++dropped_;
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
  if (is_master()) {
    hellos_.emplace_back(self_, make_hello());
    run_until([&] { return hellos_.size() == size; }, deadline);
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

// -- shut-down --------------------------------------------------------------------------

void Core::on_shutdown_request(const char* p, std::size_t n) {
  auto timeout_ms = decode_payload<std::int64_t>(p, n, "shut-down request");
  stopping_ = true;
  terminate_requested_.store(true);  // check_termination() tells long tasks to finish
  tasks_->stop_accepting();
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  // Acknowledge from a fiber once local tasks finish or the deadline passes; the loop goes on
  // serving meanwhile (tasks may still need replies from elsewhere).
  sched_.spawn(
      [this, deadline] {
        end_processes(deadline);
        while (tasks_->running() > 0 && Clock::now() < deadline) {
          auto* f = sched::Scheduler::current();
          auto t = sched_.add_timer(Clock::now() + std::chrono::milliseconds(1),
                                    [this, f] { sched_.wake(f); });
          sched_.suspend();
          sched_.cancel_timer(t);
        }
        ShutdownAck ack;
        ack.unfinished = static_cast<std::uint32_t>(tasks_->running() + processes_->live());
        ack.clean = ack.unfinished == 0;
        ack.dropped = dropped_ + processes_->dropped();
        if (!ack.clean)
          ack.note = fmt::format(
              "{} task(s) or process(es) still running at the shut-down deadline", ack.unfinished);
        send_control(NodeId(0), Cls::shutdown_ack, encode_payload(ack));
      },
      next_serial());
}

// Processes still running at shut-down end with reason `shutdown` at their next suspension
// point; this waits (in a fiber) until they have, or the deadline.
void Core::end_processes(Clock::time_point deadline) {
  processes_->end_all(Reason::shutdown, "the runtime shut down");
  auto* f = sched::Scheduler::current();
  while (processes_->live() > 0 && Clock::now() < deadline) {
    auto t = sched_.add_timer(Clock::now() + std::chrono::milliseconds(1),
                              [this, f] { sched_.wake(f); });
    sched_.suspend();
    sched_.cancel_timer(t);
  }
}

int Core::serve() {
  run_until([&] { return final_status_.has_value(); });
  run_until([&] { return !transport_->busy(); }, Clock::now() + std::chrono::seconds(5));
  close();
  return *final_status_;
}

void Core::close() {
  std::lock_guard lock(post_mu_);
  closed_ = true;
}

int Core::shutdown(int driver_status) {
  // Work the driver posted before it returned goes out ahead of the shut-down notice.
  drain_posted();
  stopping_ = true;
  terminate_requested_.store(true);
  const auto t0 = Clock::now();
  // Requests already made (and map chunks already queued) were made before shut-down: they
  // finish first, within the shut-down timeout, before any node stops accepting work.
  run_until([&] { return tasks_->outstanding() == 0; }, t0 + options_.shutdown_timeout);
  std::size_t abandoned = tasks_->abandon_queued(
      "cadre: the runtime shut down before this map input was sent (shutdown_timeout)");
  tasks_->stop_accepting();
  const std::uint32_t size = transport_->size();
  acks_.assign(size, std::nullopt);
  auto timeout_ms = static_cast<std::int64_t>(options_.shutdown_timeout.count());
  // Workers get what is left of the one shut-down timeout.
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(t0 + options_.shutdown_timeout -
                                                                    Clock::now());
  auto req = encode_payload(static_cast<std::int64_t>(std::max<std::int64_t>(0, left.count())));
  for (std::uint32_t r = 1; r < size; ++r)
    if (is_up(NodeId(r))) send_control(NodeId(r), Cls::shutdown, req);
  run_until([&] { return tasks_->running() == 0; }, t0 + options_.shutdown_timeout);
  bool clean = tasks_->running() == 0 && abandoned == 0;
  if (abandoned)
    log_local(Level::error, fmt::format("shutdown: {} map input(s) were never sent: the "
                                        "shut-down timeout ({} ms) ran out first",
                                        abandoned, timeout_ms));
  if (tasks_->running() > 0)
    log_local(Level::error,
              fmt::format("shutdown: {} task(s) still running on the master after {} ms",
                          tasks_->running(), timeout_ms));
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
  processes_->end_all(Reason::shutdown, "the runtime shut down");
  run_until([&] { return processes_->live() == 0; }, Clock::now() + std::chrono::seconds(2));
  if (processes_->live() > 0) {
    clean = false;
    log_local(Level::error, fmt::format("shutdown: {} process(es) on the master did not end",
                                        processes_->live()));
  }
  std::uint64_t dropped = dropped_ + processes_->dropped();
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
    dropped += acks_[r]->dropped;
    if (!acks_[r]->clean) {
      clean = false;
      log_local(Level::error, fmt::format("shutdown: {}: {}", describe(NodeId(r)), acks_[r]->note));
    }
  }
  if (dropped > 0)
    log_local(Level::info,
              fmt::format("shutdown: {} message(s) were dropped (destination ended or malformed)",
                          dropped));
  if (!lost_.empty()) {
    clean = false;
    // MPI_Finalize would wait for the lost node for ever: every node ends with _exit.
    finalize_safe_ = false;
  }
  int status = driver_status != 0 ? driver_status : (clean ? 0 : 1);
  FinalStatus fin{static_cast<std::int32_t>(status), finalize_safe_};
  auto payload = encode_payload(fin);
  // Every worker gets it, late ones too: a worker that acknowledges after the deadline must
  // not wait for ever.
  for (std::uint32_t r = 1; r < size; ++r)
    if (is_up(NodeId(r))) send_control(NodeId(r), Cls::final_status, payload);
  run_until([&] { return !transport_->busy(); }, Clock::now() + std::chrono::seconds(5));
  output_->finish();
  report_status(status, driver_status);
  close();
  return status;
}

}  // namespace cadre::node
