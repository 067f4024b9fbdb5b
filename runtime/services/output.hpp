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
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cadre/options.hpp"
#include "node/protocol.hpp"
#include "wire/frame.hpp"

namespace cadre::node {
class Core;
}

namespace cadre::services {

using RelayRecord = node::RelayWire;

enum class ProgressMode { live, lines, off };

class OutputService {
 public:
  explicit OutputService(node::Core& core);
  ~OutputService();

  // -- master's side --------------------------------------------------------------------
  /// Prints one line (master); keeps a live progress line below the log lines.
  void print_line(Level level, std::int64_t unix_ns, NodeId node, Pid pid, const std::string& text);
  void add_stat(const std::string& key, double value);
  /// Any thread.
  std::map<std::string, double> stats() const;
  void show_progress(std::uint64_t done, std::uint64_t total, bool force);
  /// The statistics table at shut-down (when there are any), and the end of a live line.
  void finish();

  // -- every node -----------------------------------------------------------------------
  void send_log(Level level, std::int64_t unix_ns, Pid pid, std::string text);
  void send_stat(std::string key, double value);
  void send_progress(std::uint64_t done, std::uint64_t total);
  void relay(std::uint64_t type_id, std::string payload);
  void subscribe(std::uint64_t serial, std::uint64_t type_id);
  const std::vector<RelayRecord>& relay_history() const { return history_; }
  void load_history(std::vector<RelayRecord> h);

  void on_envelope(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);

 private:
  void publish_relay(std::uint64_t type_id, std::string payload);
  void take_relay(RelayRecord r);
  void clear_progress_line();
  void draw_progress();

  node::Core& core_;
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
};

}  // namespace cadre::services
