#pragma once
// The master's side of the run timeline: every node's events (node/trace.hpp), each node's
// clock offset from the master's measured by probes on the control channel, and the Chrome
// trace-event JSON file they become at shut-down (for Perfetto, chrome://tracing and
// cadre-timeline).
//
// Clocks: a probe sent at master time t0 and answered at node time r comes back at t1; the
// node's offset is r - (t0 + t1) / 2, within (t1 - t0) / 2. Probes come in rounds (start-up,
// a node's arrival, shut-down, and once a minute); each round keeps its fastest sample, and an
// event's offset is interpolated between the rounds around it, so slow drift is followed.
//
// Thread rule: the master's loop thread.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "node/trace.hpp"

namespace cadre::node::trace {

/// A node as the file names it.
struct NodeLabel {
  std::uint32_t id = 0;
  std::string name;  // "node 1 (host:1 on host h)"
};

/// Collects the job's events and writes the trace file.
class Collector {
 public:
  /// Collects for the file `path`.
  explicit Collector(std::string path);
  /// The file the trace goes to.
  const std::string& path() const { return path_; }
  /// Adds a chunk node `node` recorded (the master's own too). Throws DecodeError naming the
  /// first event or count no node records (an unknown kind, a name index past the names, a
  /// time outside [0, kMaxTime], a span of negative length, an instant with a length); nothing
  /// of such a chunk is kept.
  void add(std::uint32_t node, const Chunk& c);

  /// Probes of one round a node gets.
  static constexpr int kProbesPerRound = 8;
  /// Starts a round of clock probes for `node`.
  void new_round(std::uint32_t node);
  /// True while `node`'s current round wants another probe.
  bool wants_probe(std::uint32_t node) const;
  /// A probe to `node` sent at `t0` and answered at the node's `remote` came back at `t1`.
  /// Returns false, and the sample counts for the round without setting the offset, when no
  /// clock could have answered so (`remote` outside [0, kMaxTime], `t1` before `t0`).
  bool clock_sample(std::uint32_t node, std::int64_t t0, std::int64_t remote, std::int64_t t1);
  /// `node` runs on the master's host: it reads the same clock (offset 0, whatever probes
  /// measured; they are still reported).
  void shares_clock(std::uint32_t node) { nodes_[node].same_host = true; }
  /// `node`'s clock minus the master's at the node's time `t`, in nanoseconds (0 unprobed).
  std::int64_t offset(std::uint32_t node, std::int64_t t) const;

  /// Writes the file; returns why it could not be written, or "". Events and counts that fall,
  /// on the master's clock, more than kRunMargin outside the master's own first and last
  /// (an unprobed clock, a forged offset) are left out and counted (events_outside_the_run).
  std::string write(const std::vector<NodeLabel>& nodes) const;
  /// How far outside the master's own events another node's may lie (clock uncertainty).
  static constexpr std::int64_t kRunMargin = 10'000'000'000;
  /// Bytes of distinct names the master keeps; past it new names are written as "?".
  static constexpr std::size_t kMaxNameBytes = std::size_t(16) << 20;
  /// Events (and counter entries) the master holds.
  std::uint64_t events() const { return held_; }
  /// Events and counter entries the master keeps in all; past it they are counted, not kept.
  static constexpr std::size_t kMaxHeld = std::size_t(4) << 20;

 private:
  struct Held {
    std::int64_t t0, dur;
    std::uint64_t n;
    std::uint32_t peer, name, detail;
    std::uint8_t kind, cls;
  };
  struct Round {
    int samples = 0;
    std::int64_t rtt = -1, at = 0, offset = 0;  // the fastest sample: at is node time
  };
  struct PerNode {
    std::vector<Held> events;
    std::vector<Count> counts;
    std::vector<Round> rounds;
    std::uint64_t unrecorded = 0, sampled_out = 0;
    bool same_host = false;
  };
  std::uint32_t intern(const std::string& s);
  std::string path_;
  std::map<std::uint32_t, PerNode> nodes_;
  std::vector<std::string> names_;
  std::map<std::string, std::uint32_t> name_ids_;
  std::size_t name_bytes_ = 0;
  std::uint64_t held_ = 0, dropped_ = 0;
};

}  // namespace cadre::node::trace
