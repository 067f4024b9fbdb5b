#pragma once
// Processes on the node loop: the process table, mailboxes, monitors, links, kill, names,
// call/reply, broadcasts.
//
// Wire (envelope classes in node/protocol.hpp):
//   message      src -> dst pid; type_id; flags kFlagCall: a call (corr = call id)
//   reply        callee -> caller; corr = call id
//   spawn        type_id = body's task id; corr = request id; flags kFlagSpawnMonitor,
//                kFlagSpawnLink;
//                aux unused; payload: the arguments     -> spawn_reply {ok, serial | error}
//   monitor      src watcher, dst target, corr = monitor id     (-> down no_process if gone)
//   demonitor    src watcher, dst target, corr = monitor id
//   down         src target, dst watcher; payload Down
//   link/unlink  src, dst                                   (-> exit_signal no_process if gone)
//   exit_signal  src ended process, dst linked process; payload {Reason, detail}
//   kill         dst; payload detail
//   broadcast    dst {node, 0}; type_id; flags kFlagForwardTree: forward down the tree
//                rooted at corr
//   name_*       to the master's name service, which monitors every named pid
//
// (the classes and flag bits below; reserved serials: node/protocol.hpp)
//
// Invariants: a watcher takes a Down only for a monitor it still holds (unmonitor drops later
// ones); a caller takes a reply only for a call it still waits for (late ones are counted).
//
// Thread rule: loop thread only, except where a member says otherwise.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cadre/process.hpp"
#include "node/protocol.hpp"
#include "node/service.hpp"
#include "scheduler/scheduler.hpp"
#include "services/mail_queue.hpp"
#include "wire/frame.hpp"

namespace cadre::services {

/// The process service's envelope classes.
namespace cls {
inline constexpr node::Cls message{20};
inline constexpr node::Cls reply{21};
inline constexpr node::Cls spawn{22};
inline constexpr node::Cls spawn_reply{23};
inline constexpr node::Cls monitor{24};
inline constexpr node::Cls demonitor{25};
inline constexpr node::Cls down{26};
inline constexpr node::Cls link{27};
inline constexpr node::Cls unlink{28};
inline constexpr node::Cls exit_signal{29};
inline constexpr node::Cls kill{30};
inline constexpr node::Cls broadcast{31};
inline constexpr node::Cls name_register{32};
inline constexpr node::Cls name_lookup{33};
inline constexpr node::Cls name_reply{34};
}  // namespace cls

// -- flag bits, per class ---------------------------------------------------------------
/// message: a call; the correlation id is the call's.
inline constexpr std::uint8_t kFlagCall = 1;
/// spawn, spawn_reply: the spawner monitors the new process.
inline constexpr std::uint8_t kFlagSpawnMonitor = 1;
/// spawn, spawn_reply: the spawner is linked to the new process.
inline constexpr std::uint8_t kFlagSpawnLink = 2;
/// broadcast: forward down the binomial tree rooted at the node in the correlation id.
inline constexpr std::uint8_t kFlagForwardTree = 1;

/// Thrown inside a process at a suspension point after kill() or a linked exit. Not a
/// std::exception, so that `catch (const std::exception&)` in user code lets it pass.
struct ProcessEnded {
  Reason reason;
  std::string detail;
};

struct Process {
  std::uint64_t serial = 0;
  sched::Fiber* fiber = nullptr;  // null for the driver
  bool threaded = false;          // the driver: fed through `inbox` under `mu`
  MailQueue mailbox;              // owner's
  std::mutex mu;
  std::condition_variable cv;
  std::deque<detail::Mail> inbox;  // threaded only
  // Threaded only, under `mu`: messages and bytes in `inbox` and `mailbox` together (the
  // mailbox bound counts both; the loop thread cannot look at the driver's mailbox).
  std::size_t queued = 0, queued_bytes = 0;
  bool overflowed = false;  // its mailbox passed the bound: it is ending
  bool waiting = false;     // suspended in receive
  bool trap = false;
  std::optional<ProcessEnded> kill;
  std::unordered_map<std::uint64_t, Pid> watchers;  // monitor id -> watcher
  std::unordered_map<std::uint64_t, Pid> monitors;  // monitors this process holds: id -> target
  std::unordered_set<std::uint64_t> calls;          // call ids this process waits for
  std::unordered_set<Pid> links;
  std::optional<std::pair<Pid, std::uint64_t>> call;  // the call to answer (owner's)
  // Owner's: the sender of the message a receive handler is handling (cadre::sender()).
  bool handling = false;
  Pid sender;
  // Owner's: the last warning about unmatched messages after a receive timed out, and the
  // ones suppressed since (at most one a second).
  std::chrono::steady_clock::time_point unmatched_warned{};
  std::size_t unmatched_suppressed = 0;
};

/// The user messages in `q` by type, in order of first appearance ("int ×1, A ×2"), or ""
/// when it holds none; `total` is set to their number.
std::string user_mail_by_type(MailQueue& q, std::size_t& total);

class ProcessService final : public node::Service {
 public:
  /// The processes of `node`.
  explicit ProcessService(node::NodeContext& node);
  ~ProcessService() override;

  // -- node::Service ----------------------------------------------------------------------
  const char* name() const override { return "processes"; }
  std::vector<node::ClassSpec> classes() const override;
  /// Dispatch of the process envelope classes, each to its handler.
  void on_envelope(NodeId src, const wire::Envelope& env, const char* p, std::size_t n) override;
  void on_node_down(NodeId n) override { node_down(n); }
  void end_residents() override {
    if (core_.leaving())
      end_all(Reason::node_down, core_.describe(core_.self_node()) + " left the job");
    else
      end_all(Reason::shutdown, "the runtime shut down");
  }
  std::size_t residents() const override { return live(); }
  void residents_ended() override {
    count_driver_unread();
    report_unlisted_at_shutdown();
  }
  node::DropCounts drops() const override { return drops_; }

  /// Creates the driver's process <0.0> (master).
  void add_driver();
  /// The process running on the calling fiber or thread, or nullptr. Any thread.
  Process* current() const;
  Pid pid_of(const Process& p) const;
  /// Who calls: the calling process, or a task's fiber, or the null pid (cadre::self(),
  /// from the node's own state).
  Pid caller() const;

  // -- requests from the public API (loop thread) ---------------------------------------
  void spawn(NodeId node, const detail::Entry* e, detail::ByteBuffer args, std::uint8_t flags,
             Pid requester, std::uint64_t monitor_id,
             std::shared_ptr<detail::ResultState<std::uint64_t>> result);
  /// Routes a message (local delivery or the link to its node).
  void route(const wire::Envelope& env, const char* p, std::size_t n);
  void monitor(Pid watcher, Pid target, std::uint64_t id);
  void demonitor(Pid watcher, Pid target, std::uint64_t id);
  /// Drops the Downs of monitor `id` already queued for `p` (unmonitor: a watcher takes a
  /// Down only for a monitor it still holds). Returns how many. `p`'s owner's thread.
  static std::size_t drop_queued_downs(Process& p, std::uint64_t id);
  void link(Pid a, Pid b);
  void unlink(Pid a, Pid b);
  void kill(Pid target, const std::string& detail);
  void broadcast(NodeId node, std::uint64_t type_id, const std::string& payload, bool tree,
                 NodeId root);
  void name_request(node::Cls kind, Pid requester, std::string name, Pid pid,
                    std::shared_ptr<detail::ResultState<std::optional<Pid>>> result);
  /// Ends every process with `reason` (shut-down); returns how many were alive.
  std::size_t end_all(Reason reason, const std::string& detail);
  std::size_t live() const { return procs_.size() - (driver_ ? 1 : 0); }
  std::uint64_t next_id() { return next_id_++; }
  /// Counts what is still in the driver's mailbox as unread (at shut-down, once the driver
  /// has stopped receiving).
  void count_driver_unread();
  Process* find(std::uint64_t serial);

  /// Throws ProcessEnded if the calling process was killed (after a resume).
  void check_killed(Process* p);
  void deliver(Process& p, detail::Mail&& m);
  /// A message or reply for a process of this node (dropped and counted if it has ended).
  void deliver_local(const wire::Envelope& env, const char* p, std::size_t n);

 private:
  void start_process(std::uint64_t serial, const detail::Entry* e, detail::ByteBuffer args);
  void finish(Process& p, Reason reason, const std::string& detail);
  /// At shut-down: names the messages `p` never accepted, by type (the first few processes
  /// of the node; the others are counted).
  void report_unmatched_at_shutdown(Process& p);
  /// Logs how many processes ended at shut-down with unmatched messages beyond those named.
  void report_unlisted_at_shutdown();
  void send_down(Pid watcher, Pid target, std::uint64_t id, Reason r, const std::string& d);
  void send_exit(Pid to, Pid from, Reason r, const std::string& d);
  void on_exit_signal(Process& p, Pid from, Reason r, const std::string& d);
  /// True when one more message of `n` payload bytes would take `p`'s mailbox past the bound.
  bool over_bound(Process& p, std::size_t n) const;
  /// `p`'s mailbox passed the bound: warns, drops what it holds and ends `p` with overflow
  /// (the driver: the job fails).
  void overflow(Process& p);
  void send_env(NodeId dst, const wire::Envelope& env, const char* p, std::size_t n);
  void name_service(node::Cls kind, Pid requester, std::uint64_t corr, const char* p,
                    std::size_t n);
  // The envelope classes, each to its handler (process_dispatch.cpp).
  static const node::HandlerTable<ProcessService>& handlers();
  void on_message(NodeId, const wire::Envelope& env, const char* p, std::size_t n) {
    deliver_local(env, p, n);  // inline: a message goes from the node's dispatch to here
  }
  void on_spawn(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_spawn_reply(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_monitor(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_demonitor(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_down(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_link(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_unlink(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_exit_envelope(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_kill(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_broadcast(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_name_request(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_name_reply(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);

  node::NodeContext& core_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Process>> procs_;
  Process* driver_ = nullptr;
  Process* last_ = nullptr;  // the process deliver_local found last
  std::uint64_t last_serial_ = 0;
  std::uint64_t next_id_ = 1;
  node::DropCounts drops_;
  std::size_t shutdown_reports_ = 0;   // processes named by report_unmatched_at_shutdown
  std::size_t shutdown_unlisted_ = 0;  // and those past the limit
  struct PendingSpawn {
    std::shared_ptr<detail::ResultState<std::uint64_t>> result;
    NodeId node;
    std::uint64_t monitor_id;
  };
  std::unordered_map<std::uint64_t, PendingSpawn> spawns_;
  std::unordered_map<std::uint64_t, std::shared_ptr<detail::ResultState<std::optional<Pid>>>>
      name_waits_;
  // The name service (master only): name -> pid, and the monitors it holds on named pids.
  std::unordered_map<std::string, Pid> names_;
  std::unordered_map<std::uint64_t, Pid> name_monitors_;

 public:
  /// `n` is lost: monitors of its processes fire (node_down), links to them break, names
  /// and pending spawns there fail.
  void node_down(NodeId n);
  /// Futures completed by the end of a process (hubs), by monitor id, with its node.
  std::unordered_map<std::uint64_t, NodeId> future_watch_nodes_;
  std::unordered_map<std::uint64_t, std::shared_ptr<detail::ResultState<void>>> future_watches_;
};

}  // namespace cadre::services
