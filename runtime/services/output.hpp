#pragma once
// Output to the master: log lines, printed lines, statistics, progress; and relays to every
// node.
//
// Wire: log {level, unix time ns, pid, text}, print {text}, stat {key, value} and progress
// {done, total} (the envelope's source: the reporting pid) travel to the master on the ordered
// links, so a sender's lines precede its later results. On the master, processes that called
// subscribe_output() receive each of them as a LogRecord, StatRecord or ProgressRecord.
// A relay goes to the master (relay_request) which numbers it, keeps it, and sends it to
// every node (relay {seq}); each node keeps the history for late subscribers.
//
// Thread rule: loop thread, except where a member says "any thread".

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cadre/options.hpp"
#include "node/protocol.hpp"
#include "node/service.hpp"
#include "services/progress_board.hpp"
#include "wire/frame.hpp"

namespace cadre::services {

class ProcessService;
struct Process;

/// The output service's envelope classes.
namespace cls {
inline constexpr node::Cls log{40};
inline constexpr node::Cls stat{41};
inline constexpr node::Cls progress{42};
inline constexpr node::Cls relay{43};
inline constexpr node::Cls relay_request{44};
inline constexpr node::Cls purge{45};      // master -> node: a purge began (corr: its number)
inline constexpr node::Cls purge_ack{46};  // node -> master: all my earlier output is before this
inline constexpr node::Cls print{47};      // node -> master: a line of the program's output
}  // namespace cls

using RelayRecord = node::RelayWire;

class OutputService final : public node::Service {
 public:
  /// Output of `node`; relays go to the mailboxes of `processes`.
  OutputService(node::NodeContext& node, ProcessService& processes);
  ~OutputService() override;

  // -- node::Service ----------------------------------------------------------------------
  const char* name() const override { return "output"; }
  std::vector<node::ClassSpec> classes() const override;
  void on_envelope(NodeId src, const wire::Envelope& env, const char* p, std::size_t n) override;
  /// The statistics table at shut-down (when there are any), and the end of a live line.
  void finish() override;
  /// The relay history: a joining node receives it before anything else.
  bool provides_join_records() const override { return true; }
  std::vector<node::JoinRecord> join_records() const override { return history_; }
  void load_join_records(std::vector<node::JoinRecord> records) override {
    load_history(std::move(records));
  }

  // -- master's side --------------------------------------------------------------------
  /// Prints one log line (master); keeps a live progress line below the log lines.
  void print_line(Level level, std::int64_t unix_ns, NodeId node, Pid pid, const std::string& text);
  /// Prints one line of the program's output (cadre::print) whole, on the print stream.
  void print_text(const std::string& text);
  void add_stat(NodeId node, const std::string& key, double value);
  /// Any thread.
  std::map<std::string, double> stats() const;
  /// Takes one sender's progress report into the combined line.
  void show_progress(NodeId node, Pid sender, std::uint64_t done, std::uint64_t total);
  /// Process `serial` (on the master) receives the output traffic as messages, or no more.
  void subscribe_output(std::uint64_t serial, bool on);
  /// Starts a purge: output (log lines, stats, progress) that every other node sent before
  /// it hears of the purge is dropped on arrival; `done(dropped)` runs once every live node
  /// has answered (at once when there is none).
  void purge(std::function<void(std::uint64_t dropped)> done);
  void on_node_down(NodeId n) override;

  // -- every node -----------------------------------------------------------------------
  void send_log(Level level, std::int64_t unix_ns, Pid pid, std::string text);
  void send_print(Pid pid, std::string text);
  void send_stat(std::string key, double value);
  /// `sender`: the reporting process, or null for a node's threads and map jobs.
  void send_progress(Pid sender, std::uint64_t done, std::uint64_t total);
  void relay(std::uint64_t type_id, std::string payload);
  /// Process `serial` receives relays of `type_id` as `deliver_id` messages (the type itself,
  /// or Relayed<T>), the history first.
  void subscribe(std::uint64_t serial, std::uint64_t type_id, std::uint64_t deliver_id);
  /// Delivers relay `number` from the history again to process `serial`, in each form it
  /// subscribed to; "" when done, else why not (unknown number, not subscribed).
  std::string resend(std::uint64_t serial, std::uint64_t number);
  const std::vector<RelayRecord>& relay_history() const { return history_; }
  void load_history(std::vector<RelayRecord> h);

 private:
  // The envelope classes, each to its handler.
  static const node::HandlerTable<OutputService>& handlers();
  void on_log(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_stat(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_progress(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_print(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_relay_request(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_relay(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_purge(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_purge_ack(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  /// True (and counted) when output from `src` belongs to a phase being purged.
  bool purged(NodeId src);
  void purge_answered(NodeId src);
  void publish_relay(std::uint64_t type_id, std::string payload);
  void take_relay(RelayRecord r);
  /// Puts relay `r` in the mailbox of process `p` as `deliver_id`.
  void deliver_relay(Process& p, const RelayRecord& r, std::uint64_t deliver_id);
  /// Puts a record (encoded) of type `type_id` in the mailbox of every output subscriber.
  void to_output_subscribers(std::uint64_t type_id, const std::string& payload);

  node::NodeContext& core_;
  ProcessService& processes_;
  ProgressMode mode_;
  std::FILE* print_stream_;  // stdout, or stderr beside a live line in one terminal
  mutable std::mutex stats_mu_;
  std::map<std::string, double> stats_;
  ProgressBoard board_;  // progress, as shown by the master
  // sender-side rate limit, per sender (process serial; 0: the node's threads and map jobs)
  std::unordered_map<std::uint64_t, std::chrono::steady_clock::time_point> last_sent_;
  std::unordered_set<std::uint64_t> output_subscribers_;  // master: subscribe_output()
  // relays
  std::uint64_t next_seq_ = 1;
  std::vector<RelayRecord> history_;
  // type id -> (subscriber serial, delivered type id)
  std::unordered_map<std::uint64_t, std::vector<std::pair<std::uint64_t, std::uint64_t>>>
      subscribers_;
  // purge (master)
  std::uint64_t purge_number_ = 0;
  std::unordered_set<std::uint32_t> purging_;  // nodes whose answer has not come
  std::uint64_t purge_dropped_ = 0;
  std::function<void(std::uint64_t)> purge_done_;
};

}  // namespace cadre::services
