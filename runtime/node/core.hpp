#pragma once
// The node: the loop that polls the transport, runs fibers and timers, and the node protocol
// (start-up handshake, node table, shut-down). One per OS process. Its services register
// with it (node/service.hpp); it hands each the envelopes of the classes it owns.
//
// Thread rules: members marked "any thread" may be called from any thread; everything else
// runs on the loop thread only.

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cadre/detail/future_state.hpp"
#include "cadre/options.hpp"
#include "cadre/runtime.hpp"
#include "node/baton.hpp"
#include "node/log.hpp"
#include "node/node_table.hpp"
#include "node/placement.hpp"
#include "node/protocol.hpp"
#include "node/service.hpp"
#include "node/thread_sends.hpp"
#include "node/trace.hpp"
#include "node/watchdog.hpp"
#include "scheduler/scheduler.hpp"
#include "transport/transport.hpp"

namespace cadre::node {

using Clock = std::chrono::steady_clock;
class TraceSession;

class Core final : public transport::Sink, public NodeContext {
 public:
  Core(std::unique_ptr<transport::Transport> transport, Options options, std::string host);
  ~Core() override;
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  /// The running core; throws NotRunning when there is none. Any thread.
  static Core& get();
  /// The running core or nullptr. Any thread.
  static Core* try_get();

  // -- services --------------------------------------------------------------------------
  /// Registers `s` (before start()): envelopes of its classes go to it, and it takes part in
  /// start-up, lost nodes and shut-down. Throws std::logic_error when a class it claims is
  /// taken. The node does not own it: the composition root keeps it alive past the node's
  /// last pass.
  void add_service(Service& s);
  /// The name of an envelope class ("task_request"), or "unknown".
  std::string_view class_name(std::uint8_t cls) const;

  // -- identity (any thread) ----------------------------------------------------------
  /// The node table as last published. Any thread.
  std::shared_ptr<const NodeTable> table() const override { return nodes_.table(); }
  /// Throws InvalidNode (naming the node and listing live ones) unless `n` is known and up.
  void check_node(NodeId n, const char* what) const override { nodes_.check(n, what); }
  /// "node 1 (host:1 on host host)".
  std::string describe(NodeId n) const override { return nodes_.describe(n); }

  // -- placement ------------------------------------------------------------------------
  std::vector<NodeId> candidates(const Placement& where) const override {
    return placer_.candidates(where);
  }
  NodeId pick(const Placement& where) override { return placer_.pick(where); }
  void add_load(NodeId n, std::int64_t delta) override { placer_.add_load(n, delta); }
  std::size_t random_index(std::size_t n) override { return placer_.random_index(n); }

  // -- the loop ---------------------------------------------------------------------
  /// Marks the calling thread as the loop thread; it holds the loop's baton from now on.
  void bind_loop_thread() {
    t_loop_node = this;
    if (baton_.open()) baton_.take();
  }
  /// The loop thread is done with the loop: it gives the baton up for good. Loop thread.
  void unbind_loop_thread();
  /// Lets a waiting driver serve the loop on its own thread (MPI initialised SERIALIZED or
  /// more). Master, before bind_loop_thread().
  void enable_driver_baton() { baton_.enable(); }
  /// One pass: receive, run posted work, fibers and timers, flush. Returns the work done.
  std::size_t step();
  /// Runs the loop (with idle backoff) until `done()` or the deadline; returns done().
  bool run_until(const std::function<bool()>& done,
                 std::optional<Clock::time_point> deadline = std::nullopt);
  /// Queues `fn` to run on the loop. Any thread.
  void post(sched::Job fn);
  /// Runs `fn` on the loop now if called there (or by the driver, when the loop's baton is
  /// free), else posts it. Any thread.
  template <class F>
  void execute(F&& fn) {
    // On the loop the work runs at once, without wrapping it in a heap-allocated Job.
    if (on_loop_thread() || baton_.held_here()) {
      fn();
    } else if (t_driver_thread && baton_.try_take_open()) {
      DriverTurn turn(*this);
      try {
        fn();
      } catch (const std::exception& e) {
        turn.failed(e);
      }
    } else {
      post(sched::Job(std::forward<F>(fn)));
    }
  }
  /// Runs the loop until `done()` while the driver runs: a waiting driver may take the
  /// baton meanwhile. Afterwards the driver never takes it again. Loop thread.
  bool serve_driver(const std::function<bool()>& done);
  /// The driver waits until `ready()` or `deadline`, serving the loop itself while it holds
  /// the baton (no fibers: for those it hands the baton back). Returns readiness, or nothing
  /// when the baton is not to be had (not the driver, MPI FUNNELED, the loop closing): the
  /// caller then waits as any thread does. Throws WrongRole inside work the driver runs for
  /// the loop. The driver's thread only.
  std::optional<bool> driver_wait(const std::function<bool()>& ready,
                                  std::optional<Clock::time_point> deadline);

  // -- start-up and shut-down --------------------------------------------------------
  /// The handshake: workers say hello, the master checks every registry and welcomes them.
  /// Throws RegistryMismatch or Error. Loop thread.
  void start();
  /// Worker: serves until the master's final status; returns it.
  int serve();
  /// Master: the shut-down protocol; returns the job's status.
  int shutdown(int driver_status);
  /// True when every node acknowledged shut-down (MPI_Finalize is safe).
  bool clean_exit() const { return finalize_safe_; }
  bool stopping() const override { return stopping_.load(); }
  bool leaving() const override { return leaving_; }

  // -- what services ask (loop thread) ---------------------------------------------------
  void send(NodeId dst, const wire::Envelope& env, const char* p, std::size_t n) override {
    plain_sent_ = true;                // not to be held back by a driver's call
    transport_->send(dst, env, p, n);  // a traced node's transport records (TracedTransport)
  }
  void send_request(NodeId dst, const wire::Envelope& env, const char* p, std::size_t n) override {
    transport_->send(dst, env, p, n);
    placer_.add_requests(dst, 1);
  }
  void request_answered(NodeId dst) override { placer_.add_requests(dst, -1); }
  /// Sends a payload of `parts` read in place by MPI (transport::Transport::send_borrowed):
  /// the returned flag is set once their memory may change again.
  std::shared_ptr<const bool> send_borrowed(NodeId dst, const wire::Envelope& env,
                                            std::span<const transport::PayloadPart> parts) {
    return transport_->send_borrowed(dst, env, parts);
  }
  std::uint64_t next_serial() override { return next_serial_++; }
  /// Called by a fiber about to suspend: when no other fiber is ready, nothing more will be
  /// sent in this pass, so the links are flushed now, before the switch back to the loop
  /// (a reply leaves a switch and a loop pass sooner; coalescing is unchanged).
  void flush_if_last() override {
    if (!sched_.has_ready()) transport_->flush();
  }
  /// A process sending to `dst` waits while this holds: the link is out of credit, or MPI has
  /// not yet taken kMaxFramesInFlight of its frames (its node goes on meanwhile).
  bool congested(NodeId dst) const override {
    return transport_->credit(dst) <= 0 || transport_->in_flight(dst) >= kMaxFramesInFlight;
  }
  static constexpr std::size_t kMaxFramesInFlight = 16;

  // -- sends from other threads (node/thread_sends.hpp) ---------------------------------
  /// Before a thread other than the loop posts a send of `bytes` to `dst`: waits while the
  /// link is congested or the thread's window to `dst` is full (ThreadSends::wait).
  void wait_thread_send(NodeId dst, std::size_t bytes) { thread_sends_.wait(dst, bytes); }
  /// The loop sent a thread's message of `bytes` to `dst`. Loop thread.
  void thread_send_done(NodeId dst, std::size_t bytes) { thread_sends_.done(dst, bytes); }
  /// The payload cap in force on the links (the master's).
  std::size_t payload_cap() const override { return transport_->payload_cap(); }
  /// Messages this node dropped for reasons of its own (malformed frames, results nobody
  /// waits for); the services and the transport count theirs.
  DropCounts& drops() override { return drops_; }
  /// Every message this node dropped, by reason: its own, the services' and the transport's.
  DropCounts all_drops() const;
  /// Fails the job: shut-down reports `why` and the status is non-zero; the master's driver
  /// is not waited for (the job ends now). Loop thread.
  void fail_job(std::string why) override;
  /// True once fail_job() was called. Any thread.
  bool job_failed() const { return job_failed_.load(); }

  // -- transport::Sink --------------------------------------------------------------
  void on_envelope(NodeId src, const wire::Envelope& env, const char* payload,
                   std::size_t len) override;
  void on_bad_frame(NodeId src, const std::string& why) override;
  void on_control(NodeId src, const char* p, std::size_t n) override;
  void on_alive(NodeId src) override;

  // -- nodes that start later (node/joining.cpp) ------------------------------------------
  /// What spawn_nodes() reports: the new nodes, or why none (or not all) joined.
  using JoinDone = std::function<void(std::vector<NodeId> nodes, std::string error)>;
  /// Master: starts `call.count` nodes with MPI_Comm_spawn (call.first_id is chosen here)
  /// and admits each when it says hello; `done` runs on the loop once every one joined, or
  /// at `ready_timeout` with the error. The spawn itself blocks the loop (MPI_Comm_spawn has
  /// no nonblocking form) under a watchdog that ends the job if it never returns. Loop thread.
  void spawn_nodes(transport::SpawnCall call, std::chrono::milliseconds ready_timeout,
                   JoinDone done);
  /// Master: ends node `n` as shut-down ends a worker (its processes end with reason
  /// shutdown, its tasks finish within shutdown_timeout, its links drain), and tells the other
  /// nodes; `done` runs on the loop with an empty error once it is stopped. Loop thread.
  void stop_node(NodeId n, std::function<void(std::string error)> done);
  /// Master: links the joiner MPI_Comm_accept connected (`who` describes it) as a new node
  /// and admits it when it says hello, as spawn_nodes does; `done` likewise. Loop thread.
  void join_node(transport::Accepted accepted, const std::string& who,
                 std::chrono::milliseconds ready_timeout, JoinDone done);
  /// Master: ends joined node `n`'s part in the job as stop_node() does, but its process goes
  /// on (its serve() returns): node_info(n).state becomes left. Loop thread.
  void remove_node(NodeId n, std::function<void(std::string error)> done);
  /// Master: true when `n` joined with cadre::join (not spawned, not a world rank).
  bool joined(NodeId n) const { return joined_.count(n.value()) != 0; }
  /// A joined node: asks the master to remove it (leave()). Loop thread.
  void request_leave();
  /// True when this process was started by MPI_Comm_spawn (or joined). Any thread.
  bool spawned() const { return spawned_; }
  /// True when this process joined with cadre::join. Any thread.
  bool joined_job() const { return transport_->joined(); }
  /// Master: the signatures under which the job's nodes registered `name` (of `kind`), each
  /// with the name of a node that has it; empty when none did. Any thread.
  std::vector<std::pair<std::string, std::string>> registered_as(std::uint8_t kind,
                                                                 std::string_view name) const;
  /// Master: the nodes started by the same MPI_Comm_spawn as `n` (itself included; empty for a
  /// world rank). Their processes end together: MPI_Finalize waits for every one. Each node
  /// has a spawn of its own today, so this is {n}. Loop thread.
  std::vector<NodeId> spawn_group(NodeId n) const {
    auto it = groups_.find(n.value());
    return it == groups_.end() ? std::vector<NodeId>{} : it->second;
  }

  // -- liveness (node/liveness.cpp) ------------------------------------------------------
  /// Starts the heartbeats (after start()).
  void start_heartbeats();
  /// `n` is lost: its work fails or moves, its processes are down, its messages ignored.
  /// The master also tells the other nodes and calls Options::on_node_down.
  void node_down(NodeId n, const std::string& why);
  bool is_up(NodeId n) const override { return nodes_.is_up(n); }
  const std::vector<NodeId>& lost_nodes() const { return nodes_.lost(); }
  /// Round trip to `n` over the control channel; the caller waits on `result`.
  void ping(NodeId n, std::shared_ptr<detail::ResultState<std::int64_t>> result);
  /// True once terminate() reached this node (or it shuts down). Any thread.
  bool termination_requested() const { return terminate_requested_.load(); }
  void request_termination() { terminate_requested_.store(true); }

 private:
  friend class TraceSession;
  std::unique_ptr<TraceSession> trace_;  // the run timeline (node/trace_session.hpp)
  void on_trace_events(NodeId src, const wire::Envelope&, const char* p, std::size_t n);
  /// The driver's turn at the loop (node/baton.cpp): what was posted before runs first;
  /// at the end the driver's sends leave and the loop thread is woken if work waits for it.
  class DriverTurn {
   public:
    explicit DriverTurn(Core& c) : core_(c) { core_.drain_posted(); }
    ~DriverTurn() { core_.driver_release(); }
    DriverTurn(const DriverTurn&) = delete;
    DriverTurn& operator=(const DriverTurn&) = delete;
    /// The work threw: logged as posted work that failed would be.
    void failed(const std::exception& e);

   private:
    Core& core_;
  };
  /// Ends the driver's turn: flushes, gives the baton back, wakes the loop thread if needed.
  void driver_release();
  /// Serves the loop on the driver's thread until `ready()`, `deadline`, or fibers are ready.
  bool serve_as_driver(const std::function<bool()>& ready,
                       std::optional<Clock::time_point> deadline);
  /// The loop thread gives the baton up and sleeps until `until` (or woken), then takes it
  /// back, waiting while the driver holds it. Senders on the host wake it only when `idle`
  /// (no work, rather than the driver asking), until it finds the driver holding the baton.
  void park_loop(Clock::time_point until, bool idle);
  /// Wakes a parked loop thread (work waits for it).
  void wake_loop();
  /// Maps the doorbells of the nodes on this host not looked for yet (Options::doorbell).
  void connect_doorbells();
  /// Backs off for one pass; returns true when it slept.
  bool idle(Clock::time_point now, Clock::time_point last_work,
            std::optional<Clock::time_point> deadline);
  void close();
  /// Ends the services' residents and waits (in a fiber) until they have, or `deadline`.
  void end_residents(Clock::time_point deadline);
  std::size_t running() const;    // summed over the services
  std::size_t residents() const;  // summed over the services
  std::size_t drain_posted();
  // The node protocol's envelope classes, each to a handler (dispatch by routes_).
  using Handler = void (Core::*)(NodeId, const wire::Envelope&, const char*, std::size_t);
  struct Route {
    Service* service = nullptr;  // a service's class: its handler, or its on_envelope
    Thunk thunk = nullptr;
    Handler handler = nullptr;  // one of the node's own
    std::uint8_t rules = kAnyNode;
    const char* name = nullptr;
  };
  /// Dispatch with every check: the classes the fast path in on_envelope() does not take.
  void dispatch_checked(NodeId src, const wire::Envelope& env, const char* payload,
                        std::size_t len);
  void add_route(Cls cls, const char* name, std::uint8_t rules, Service* s, Thunk t, Handler h);
  void on_hello(NodeId src, const wire::Envelope&, const char* p, std::size_t n);
  void on_welcome(NodeId src, const wire::Envelope&, const char* p, std::size_t n);
  void on_abort_start(NodeId src, const wire::Envelope&, const char* p, std::size_t n);
  void on_shutdown_request(NodeId src, const wire::Envelope&, const char* p, std::size_t n);
  void on_shutdown_ack(NodeId src, const wire::Envelope&, const char* p, std::size_t n);
  void on_final_status(NodeId src, const wire::Envelope&, const char* p, std::size_t n);
  void on_link_fin(NodeId src, const wire::Envelope&, const char* p, std::size_t n);
  void on_node_down_notice(NodeId src, const wire::Envelope&, const char* p, std::size_t n);
  void on_terminate(NodeId src, const wire::Envelope&, const char* p, std::size_t n);
  void send_control(NodeId dst, Cls cls, const detail::ByteBuffer& payload);
  /// Why `src` may not send `env` (empty when it may): master-only classes come from the
  /// master, hello from a joining node, and a source pid belongs to the sending node.
  std::string refusal(NodeId src, const wire::Envelope& env) const;
  /// The end of shut-down on every node: each link carries a last frame (link_fin), and a
  /// node waits until it has one from every peer that drains (so nothing sent to it is left
  /// unread), or the peer is lost, or `deadline`. A worker's last link_fin goes to the master
  /// with its drop counts. Returns the links that did not drain.
  std::size_t drain_links(const std::vector<NodeId>& peers, Clock::time_point deadline);
  void start_master(Clock::time_point deadline);
  void start_worker(Clock::time_point deadline);
  std::string check_registries(const std::vector<std::pair<NodeId, Hello>>& hellos) const;
  Hello make_hello() const;
  Welcome make_welcome() const;
  // Joining (node/joining.cpp).
  struct JoinBatch {
    std::string what = "cadre::spawn_nodes";  // names the call in errors (or "cadre::listen")
    std::vector<NodeId> ids;
    std::size_t joined = 0, failed = 0;
    std::string errors;
    JoinDone done;
  };
  struct Stopping {
    std::function<void(std::string)> done;
    bool acked = false;
    Clock::time_point deadline;
    bool leaving = false;  // remove_node/leave: the node goes on, its state becomes left
  };
  /// Starts ending node `n` (stop_node, remove_node).
  void begin_stop(NodeId n, bool leaving, std::function<void(std::string)> done);
  /// Waits for the hellos of a batch of new nodes until `ready_timeout`.
  void await_batch(const std::shared_ptr<JoinBatch>& batch, std::chrono::milliseconds ready_timeout,
                   const std::string& what);
  void on_leave_request(NodeId src, const wire::Envelope&, const char* p, std::size_t n);
  /// Grows the per-node state to hold node `n`.
  void ensure_node(NodeId n);
  void admit(NodeId src, Hello hello);
  void join_failed(NodeId n, const std::string& why);
  void finish_batch(const std::shared_ptr<JoinBatch>& b);
  void on_node_joined(NodeId src, const wire::Envelope&, const char* p, std::size_t n);
  void on_node_stopped(NodeId src, const wire::Envelope&, const char* p, std::size_t n);
  /// Master: a stopping node acknowledged (or its deadline passed): final status, drain.
  void stop_acked(NodeId n);
  void stop_finished(NodeId n, const std::string& error);
  /// A stopped node: its route closes, the services forget it.
  void node_stopped(NodeId n, NodeState state = NodeState::stopped);
  bool spawned_ = false;
  std::uint32_t next_node_id_ = 0;
  std::unordered_map<std::uint32_t, std::shared_ptr<JoinBatch>> joining_;
  std::unordered_map<std::uint32_t, Stopping> stopping_nodes_;
  std::unordered_map<std::uint32_t, std::vector<NodeId>> groups_;  // spawn_group()
  std::unordered_set<std::uint32_t> joined_;                       // joined()
  bool leaving_ = false;                                           // leaving()
  mutable std::mutex registry_mu_;        // registry_ is read from other threads
  std::vector<RegistryRecord> registry_;  // master: the job's registries, merged
  std::vector<std::string> registry_owner_;

  std::unique_ptr<transport::Transport> transport_;
  std::string host_;
  NodeDirectory nodes_;
  Placer placer_{*this, &nodes_};
  std::vector<Service*> services_;  // in registration order
  Service* joiner_ = nullptr;       // the one that provides join records, if any

  Clock::duration last_quiet_{};  // the loop's last wait that ended with work
  // More processes than cores (an oversubscribed job): a waiting loop yields its core at once
  // rather than pausing on it, or the process it waits for may not run for a time slice.
  bool yield_when_idle_ = false;
  unsigned passes_ = 0;
  std::uint64_t pass_count_ = 0;

  std::mutex post_mu_;
  transport::Doorbell bell_;      // idle threads sleep on it; posts and senders on the host ring
  std::vector<bool> bell_tried_;  // the node's doorbell was looked for (same host)
  std::vector<sched::Job> posted_;
  std::vector<sched::Job> draining_;
  bool wake_loop_ = false;    // the driver left work for the parked loop thread
  bool plain_sent_ = false;   // sent since the driver's last call ended, other than requests
  bool driver_held_ = false;  // the driver's last call held requests back: the next pass sends
  LoopBaton baton_;
  bool handover_ = false;       // serve_driver() runs: the driver may take the baton
  unsigned wanted_passes_ = 0;  // passes since the driver asked while fibers were ready
  bool closed_ = false;         // after shut-down: post() refuses
  std::atomic<bool> has_posted_{false};

  // start-up
  std::vector<std::pair<NodeId, Hello>> hellos_;
  bool welcomed_ = false;
  bool accepting_hellos_ = false;  // master, during start(): hellos are expected
  std::string abort_message_;
  // shut-down
  std::atomic<bool> stopping_{false};
  std::vector<std::optional<ShutdownAck>> acks_;
  std::optional<FinalStatus> final_status_;
  bool finalize_safe_ = true;
  std::vector<char> fin_from_;                        // a link_fin came from this node
  std::vector<std::optional<DropCounts>> fin_drops_;  // master: each worker's drop counts
  std::vector<std::string> failures_;                 // fail_job()
  std::atomic<bool> job_failed_{false};
  // Bad frames are logged at most kBadFrameLines a second; the rest are counted.
  Clock::time_point bad_log_second_{};
  unsigned bad_log_lines_ = 0;
  std::uint64_t bad_log_suppressed_ = 0;
  static constexpr unsigned kBadFrameLinesPerSecond = 10;
  // liveness
  std::vector<Clock::time_point> last_heard_;
  std::vector<char> heard_;  // something arrived since the last heartbeat tick
  std::atomic<bool> terminate_requested_{false};
  std::uint64_t next_ping_ = 1;
  Clock::time_point last_beat_{};
  std::unordered_map<std::uint64_t, std::pair<Clock::time_point,
                                              std::shared_ptr<detail::ResultState<std::int64_t>>>>
      pings_;
  void heartbeat_tick();
  /// Master, on mpirun's SIGTERM: reports the final status (the nodes lost and the nodes
  /// silent, by host) and ends the process with 128 + sig.
  [[noreturn]] void end_on_signal(int sig);
  Watchdog watchdog_;
  ThreadSends thread_sends_{*this};  // node/thread_sends.hpp
  DropCounts drops_;
  std::uint64_t next_serial_ = 1;
  // Last: 12 KiB that dispatch reads one entry of, away from the loop's hot fields.
  std::array<Route, 256> routes_{};  // by envelope class
};

}  // namespace cadre::node
