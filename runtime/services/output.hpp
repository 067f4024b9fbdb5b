#pragma once
// Output to the master: log lines, statistics, progress; and relays to every node.
//
// Wire: log {level, unix time ns, pid, text}, stat {key, value} and progress {done, total}
// travel to the master on the ordered links, so a sender's lines precede its later results.
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
#include "wire/frame.hpp"

namespace cadre::services {

class ProcessService;

/// The output service's envelope classes.
namespace cls {
inline constexpr node::Cls log{40};
inline constexpr node::Cls stat{41};
inline constexpr node::Cls progress{42};
inline constexpr node::Cls relay{43};
inline constexpr node::Cls relay_request{44};
inline constexpr node::Cls purge{45};      // master -> node: a purge began (corr: its number)
inline constexpr node::Cls purge_ack{46};  // node -> master: all my earlier output is before this
}  // namespace cls

using RelayRecord = node::RelayWire;

enum class ProgressMode { live, lines, off };

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
  /// Prints one line (master); keeps a live progress line below the log lines.
  void print_line(Level level, std::int64_t unix_ns, NodeId node, Pid pid, const std::string& text);
  void add_stat(const std::string& key, double value);
  /// Any thread.
  std::map<std::string, double> stats() const;
  void show_progress(std::uint64_t done, std::uint64_t total, bool force);
  /// Starts a purge: output (log lines, stats, progress) that every other node sent before
  /// it hears of the purge is dropped on arrival; `done(dropped)` runs once every live node
  /// has answered (at once when there is none).
  void purge(std::function<void(std::uint64_t dropped)> done);
  void on_node_down(NodeId n) override;

  // -- every node -----------------------------------------------------------------------
  void send_log(Level level, std::int64_t unix_ns, Pid pid, std::string text);
  void send_stat(std::string key, double value);
  void send_progress(std::uint64_t done, std::uint64_t total);
  void relay(std::uint64_t type_id, std::string payload);
  void subscribe(std::uint64_t serial, std::uint64_t type_id);
  const std::vector<RelayRecord>& relay_history() const { return history_; }
  void load_history(std::vector<RelayRecord> h);

 private:
  // The envelope classes, each to its handler.
  static const node::HandlerTable<OutputService>& handlers();
  void on_log(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_stat(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_progress(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_relay_request(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_relay(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_purge(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_purge_ack(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  /// True (and counted) when output from `src` belongs to a phase being purged.
  bool purged(NodeId src);
  void purge_answered(NodeId src);
  void publish_relay(std::uint64_t type_id, std::string payload);
  void take_relay(RelayRecord r);
  void clear_progress_line();
  void draw_progress();

  node::NodeContext& core_;
  ProcessService& processes_;
  ProgressMode mode_;
  mutable std::mutex stats_mu_;
  std::map<std::string, double> stats_;
  // progress, as shown by the master
  struct Shown {
    std::uint64_t done = 0, total = 0;
    std::chrono::steady_clock::time_point first{}, last_draw{};
    std::uint64_t first_done = 0;
    bool visible = false;
  } shown_;
  std::chrono::steady_clock::time_point last_sent_{};  // sender-side rate limit
  // relays
  std::uint64_t next_seq_ = 1;
  std::vector<RelayRecord> history_;
  std::unordered_map<std::uint64_t, std::unordered_set<std::uint64_t>> subscribers_;
  // purge (master)
  std::uint64_t purge_number_ = 0;
  std::unordered_set<std::uint32_t> purging_;  // nodes whose answer has not come
  std::uint64_t purge_dropped_ = 0;
  std::function<void(std::uint64_t)> purge_done_;
};

}  // namespace cadre::services
