#pragma once
// The seam between a node and its services.
//
// A service (tasks, processes, output, ...) owns some envelope classes. The node knows
// services only through the two interfaces here: `Service` is what a node asks of a service
// (its classes, an envelope of one of them, a lost node, the shut-down phases, the data a
// joining node must receive first), and `NodeContext` is what a service may ask of its node
// (identity, the node table and placement, sending, the scheduler, stopping, drop counts).
// The composition root (runtime/api/services.cpp) creates the services, gives each the
// others it needs, and registers them with the node; nothing under runtime/node/ names one.
//
// Thread rule: loop thread only, except where a member says otherwise.

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cadre/options.hpp"
#include "cadre/runtime.hpp"
#include "cadre/tasks.hpp"
#include "node/node_table.hpp"
#include "node/protocol.hpp"
#include "scheduler/scheduler.hpp"
#include "wire/frame.hpp"

namespace cadre::node {

/// True on the thread that runs the master's driver (process <0.0>).
inline thread_local bool t_driver_thread = false;

/// Who may send an envelope class, and to whom; the node refuses the rest before dispatch.
enum ClassRule : std::uint8_t {
  kAnyNode = 0,
  /// Only the master sends it.
  kFromMaster = 1,
  /// Only the master receives it.
  kToMaster = 2,
  /// Forwarded on the sender's behalf: its source pid may belong to another node.
  kForwarded = 4,
};

class Service;

/// A handler of one class: calls a named member of the service that owns the class.
using Thunk = void (*)(Service& s, NodeId src, const wire::Envelope& env, const char* p,
                       std::size_t n);

/// One envelope class a service owns: its number, its name in logs, its rules, and the
/// handler the node calls for it (without one, Service::on_envelope).
struct ClassSpec {
  Cls cls;
  const char* name;
  std::uint8_t rules = kAnyNode;
  Thunk handler = nullptr;
};

/// Why node `self` may not take `env` from node `src`, given its class's `rules` (empty when
/// it may): a class only the master sends from another node, a class for the master on
/// another node, a source pid of a node other than the sender (unless forwarded).
std::string refusal(std::uint8_t rules, NodeId self, NodeId src, const wire::Envelope& env);

/// A service's classes, each with its handler: the one list a service's classes() and
/// on_envelope() are both made from. Dispatch is a lookup by class and one call.
template <class S>
class HandlerTable {
 public:
  /// The spec of class `c`, handled by member `M` of S
  /// (`void (S::*)(NodeId, const wire::Envelope&, const char*, std::size_t)`).
  template <auto M>
  static ClassSpec entry(Cls c, const char* name, std::uint8_t rules = kAnyNode) {
    return ClassSpec{c, name, rules, &call<M>};
  }
  /// The table of `entries`.
  HandlerTable(std::initializer_list<ClassSpec> entries) : entries_(entries) {
    for (const ClassSpec& e : entries_) by_class_[static_cast<std::uint8_t>(e.cls)] = e.handler;
  }
  /// The specs to register with the node.
  const std::vector<ClassSpec>& specs() const { return entries_; }
  /// Hands the envelope to its class's handler on `s` (a class not in the table is ignored:
  /// the node routes to a service only the classes it registered).
  void dispatch(S& s, NodeId src, const wire::Envelope& env, const char* p, std::size_t n) const {
    if (Thunk h = by_class_[env.cls]) h(s, src, env, p, n);
  }

 private:
  template <auto M>
  static void call(Service& s, NodeId src, const wire::Envelope& env, const char* p,
                   std::size_t n) {
    (static_cast<S&>(s).*M)(src, env, p, n);
  }
  std::vector<ClassSpec> entries_;
  std::array<Thunk, 256> by_class_{};
};

/// A record a node that joins receives in its welcome, before anything else reaches it.
using JoinRecord = RelayWire;

/// What a node asks of a service. The shut-down phases are called in this order:
///  master: `unfinished()` is waited for (work already requested), then `abandon_unsent()`;
///  every node: `stop_accepting()`; `running()` is waited for; `end_residents()` and
///  `residents()` (processes: the worker ends them before it waits for running work, the
///  master after every worker acknowledged); master: `residents_ended()`; last, once the
///  job's drop counts are final, `finish()`.
class Service {
 public:
  virtual ~Service() = default;
  /// The service's name in logs ("processes").
  virtual const char* name() const = 0;
  /// The envelope classes it owns; a class belongs to one service.
  virtual std::vector<ClassSpec> classes() const = 0;
  /// An envelope of one of its classes from `src`, past the node's checks.
  virtual void on_envelope(NodeId src, const wire::Envelope& env, const char* payload,
                           std::size_t len) = 0;
  /// `n` is lost (the node table already says so).
  virtual void on_node_down(NodeId /*n*/) {}

  // -- shut-down -------------------------------------------------------------------------
  /// Master, before any node is told to stop: work callers already requested.
  virtual std::size_t unfinished() const { return 0; }
  /// Master: drops work never sent (the shut-down timeout ran out); logs and returns how many.
  virtual std::size_t abandon_unsent() { return 0; }
  /// New work from now on is refused.
  virtual void stop_accepting() {}
  /// Work that shut-down waits for to end by itself (tasks running here).
  virtual std::size_t running() const { return 0; }
  /// Ends what lives on this node (processes: with reason shutdown).
  virtual void end_residents() {}
  /// What end_residents() ended that has not finished unwinding yet.
  virtual std::size_t residents() const { return 0; }
  /// Master: every resident has ended (the driver no longer receives).
  virtual void residents_ended() {}
  /// The very end: the job's drop counts are final.
  virtual void finish() {}
  /// Messages this service dropped, by reason.
  virtual DropCounts drops() const { return {}; }

  // -- joining ---------------------------------------------------------------------------
  /// True for the one service whose records a joining node receives in its welcome (the
  /// welcome carries one list: output's relay history). The node refuses a second one.
  virtual bool provides_join_records() const { return false; }
  /// Master: what a joining node must receive first.
  virtual std::vector<JoinRecord> join_records() const { return {}; }
  /// A joining node: the records from its welcome.
  virtual void load_join_records(std::vector<JoinRecord> /*records*/) {}
};

class NodeContext;
/// The node whose loop runs on this thread, if any.
inline thread_local const NodeContext* t_loop_node = nullptr;

/// What a service may ask of its node. Identity and the scheduler are plain members (a
/// message's path asks for them on every hop); the rest the node implements.
class NodeContext {
 public:
  /// Node `self` with `options` (its fibers get stacks of options.stack_size bytes).
  NodeContext(NodeId self, Options options)
      : self_(self), options_(std::move(options)), sched_(options_.stack_size) {}
  virtual ~NodeContext() = default;
  NodeContext(const NodeContext&) = delete;
  NodeContext& operator=(const NodeContext&) = delete;

  // -- identity (any thread) ------------------------------------------------------------
  /// This node's id.
  NodeId self_node() const { return self_; }
  /// True on node 0.
  bool is_master() const { return self_.value() == 0; }
  /// True on the thread that runs this node's loop. Any thread.
  bool on_loop_thread() const { return t_loop_node == this; }
  /// The node's fibers and timers.
  sched::Scheduler& scheduler() { return sched_; }
  /// The options in force (the master's, after the welcome).
  const Options& options() const { return options_; }
  /// The node table as last published. Any thread.
  virtual std::shared_ptr<const NodeTable> table() const = 0;
  /// Throws InvalidNode or NodeDown unless `n` is known and up; `what` names the caller.
  virtual void check_node(NodeId n, const char* what) const = 0;
  /// "node 1 (host:1 on host host)".
  virtual std::string describe(NodeId n) const = 0;
  /// True unless `n` was lost.
  virtual bool is_up(NodeId n) const = 0;

  // -- placement --------------------------------------------------------------------------
  /// The nodes `where` allows (throws InvalidNode).
  virtual std::vector<NodeId> candidates(const Placement& where) const = 0;
  /// The node new work goes to: the least loaded of the candidates (throws InvalidNode).
  virtual NodeId pick(const Placement& where) = 0;
  /// Adds `delta` to the outstanding work placed on `n`.
  virtual void add_load(NodeId n, std::int64_t delta) = 0;
  /// A uniform index below `n` (> 0) from the generator random placement uses (one stream
  /// for every random choice of the node).
  virtual std::size_t random_index(std::size_t n) = 0;

  // -- sending ----------------------------------------------------------------------------
  /// Sends on the ordered link to `dst` (to itself: delivered on the next pass).
  virtual void send(NodeId dst, const wire::Envelope& env, const char* p, std::size_t n) = 0;
  /// Sends a task request, whose result comes back to this node: as send(), and `dst` has one
  /// more request of this node in hand until request_answered(dst) (or it is lost). A driver's
  /// call may hold such requests back for a frame of several (Core::driver_release).
  virtual void send_request(NodeId dst, const wire::Envelope& env, const char* p, std::size_t n) {
    send(dst, env, p, n);
  }
  /// The result of a request sent with send_request() to `dst` came back.
  virtual void request_answered(NodeId /*dst*/) {}
  /// True while the link to `dst` may take no more frames: a process waits before sending.
  virtual bool congested(NodeId dst) const = 0;
  /// Flushes the links when no other fiber is ready (a fiber is about to suspend).
  virtual void flush_if_last() = 0;
  /// The largest payload the links carry.
  virtual std::size_t payload_cap() const = 0;

  // -- running ----------------------------------------------------------------------------
  /// A fresh serial for a fiber, process or request of this node.
  virtual std::uint64_t next_serial() = 0;
  /// True once shut-down began. Any thread.
  virtual bool stopping() const = 0;
  /// True on a joined node whose shut-down is its leaving the job (leave, remove_node): its
  /// processes end as lost to their monitors, "left the job". Loop thread.
  virtual bool leaving() const { return false; }
  /// Fails the job: it ends now with a non-zero status naming `why`.
  virtual void fail_job(std::string why) = 0;
  /// The node's own drop counts (results nobody waits for, malformed frames).
  virtual DropCounts& drops() = 0;

 protected:
  NodeId self_;
  Options options_;
  sched::Scheduler sched_;
};

}  // namespace cadre::node
