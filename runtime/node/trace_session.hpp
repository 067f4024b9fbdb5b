#pragma once
// The run timeline on one node: when the master's Options::trace_file (CADRE_TRACE) names a
// file, every node records (node/trace.hpp) and ships its events to the master at each
// heartbeat tick and at shut-down; the master probes each node's clock and writes the file
// (node/trace_file.hpp) when the job ends. A node lost on the way keeps what it shipped.
//
// Thread rule: the loop thread.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include "cadre/ids.hpp"
#include "node/trace.hpp"
#include "node/trace_file.hpp"

namespace cadre::node {

class Core;

/// The control-channel messages of clock probes (beside liveness's heartbeat, ping and pong):
/// a probe carries its id; the reply its id and the node's steady clock in nanoseconds.
inline constexpr std::uint8_t kClockProbe = 4, kClockReply = 5;

/// The node's part in the run timeline.
class TraceSession {
 public:
  /// The timeline of `core`'s node; on the master it records when options name a file.
  explicit TraceSession(Core& core);
  /// True when this node records.
  bool on() const { return trace::on(); }

  /// Master, at start-up before the welcome: the file can be written (returns why not, or "").
  std::string check_file();
  /// Master, once the workers are welcomed: their clocks are probed.
  void started();
  /// Worker: the welcome said whether the job is traced.
  void welcomed(bool traced);
  /// A heartbeat tick: a worker ships its events; the master probes clocks once a minute.
  void tick();
  /// Master: node `n` joined (spawned or by cadre::join): marked, and its clock probed.
  void node_joined(NodeId n);
  /// Master: shut-down begins: the clocks are probed a last time.
  void shutdown_begins();
  /// Worker: ships what it recorded; the `last` time (before its shut-down acknowledgement)
  /// it stops recording, as its link to the master closes soon after.
  void flush(bool last = false);
  /// Master: a chunk of events from `src`.
  void on_chunk(NodeId src, const char* p, std::size_t n);
  /// Master: the answer to clock probe `id` from `src`, at its time `remote`. Returns why it
  /// is refused (no such probe, one sent to another node, a time no clock reads), or "".
  std::string on_probe_reply(NodeId src, std::uint64_t id, std::int64_t remote);
  /// Master, at the very end: writes the file and says so in the log.
  void finish();

 private:
  trace::Names names() const;
  void record();  // starts recording on this node
  void round(NodeId n);
  void probe(NodeId n);
  void keep_own(bool last);
  Core& core_;
  std::unique_ptr<trace::Collector> collector_;  // master, when traced
  std::unordered_map<std::uint64_t, std::pair<std::uint32_t, std::int64_t>> probes_;
  std::uint64_t next_probe_ = 1;
  std::chrono::steady_clock::time_point last_round_{};
};

}  // namespace cadre::node
