#pragma once
// Envelope classes and the payloads of the node protocol (start-up, shut-down).
//
// Invariant: everything between two nodes travels on their one ordered link; the class in
// the envelope says what it is. So a task's result always arrives after everything the task
// sent before it, and a worker's shut-down acknowledgement after all of its results.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "cadre/ids.hpp"
#include "cadre/options.hpp"
#include "wire/frame.hpp"

namespace cadre::node {

/// An envelope class: what an envelope is. The node's own classes are named here; each
/// service names its own (10-19 tasks, 20-39 processes, 40-49 output) in its header and
/// claims them when it registers (node/service.hpp).
enum class Cls : std::uint8_t {
  hello = 1,         // worker -> master: identity and registry
  welcome = 2,       // master -> worker: options and node table
  abort_start = 3,   // master -> worker: start-up refused (registry mismatch, ...)
  shutdown = 4,      // master -> worker: stop new work, finish, acknowledge
  shutdown_ack = 5,  // worker -> master
  final_status = 6,  // master -> worker: the job's status; finalize (or _exit) now
  node_down = 7,     // master -> worker: a node was lost
  terminate = 8,     // any -> node: check_termination() turns true there
  link_fin = 9,      // any -> node: the last frame of a link at shut-down; payload DropCounts
  // Nodes that start later (node/joining.cpp); 60-69, above the services' classes.
  node_joined = 60,    // master -> node: a spawned node joined; payload NodeRecordWire
  node_stopped = 61,   // master -> node: stop_node() ended a node; payload its id
  leave_request = 62,  // joined node -> master: leave() (node/joined.cpp); no payload
  node_left = 63,      // master -> node: a joined node left the job; payload its id
  trace_events = 64,   // node -> master: run timeline events (node/trace.hpp); payload Chunk
};

// -- reserved pid serials --------------------------------------------------------------
/// A node's own envelopes carry the pid <node.0>; on the master it is also the driver's.
inline constexpr std::uint64_t kNodeSerial = 0;
/// Processes and tasks get serials from here up.
inline constexpr std::uint64_t kFirstSerial = 1;
/// The master's name service monitors named processes under <0.kNameServiceSerial>.
inline constexpr std::uint64_t kNameServiceSerial = UINT64_MAX - 1;
/// Futures that complete when a process ends (a hub's `done`) watch it under this serial.
inline constexpr std::uint64_t kFutureWatchSerial = UINT64_MAX - 2;

// -- building envelopes -------------------------------------------------------------------
/// What an envelope says, named: build one with envelope({.cls = ..., .src = ..., ...}).
struct EnvelopeSpec {
  Cls cls;
  std::uint8_t flags = 0;
  std::uint64_t type_id = 0;
  std::uint64_t corr = 0;
  Pid src = null_pid;  // the null pid: no process (a node's own runtime traffic)
  Pid dst = null_pid;
};

/// The one way envelopes are built (except on the message stream's hot path).
inline wire::Envelope envelope(const EnvelopeSpec& s) {
  wire::Envelope e{};
  e.cls = static_cast<std::uint8_t>(s.cls);
  e.flags = s.flags;
  e.type_id = s.type_id;
  e.corr = s.corr;
  e.src = s.src;
  e.dst = s.dst;
  return e;
}

/// The name of one of the node's own classes ("welcome"), or "unknown" (a service's class:
/// see Core::class_name).
std::string_view to_string(Cls c);

struct RegistryRecord {
  std::uint8_t kind = 0;
  std::string name, signature;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& kind& name& signature;
  }
};

struct Hello {
  std::string name, host, build_id;
  std::int32_t os_pid = 0;
  std::vector<RegistryRecord> registry;
  std::string local_error;  // e.g. a name registered twice in this binary
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& name& host& build_id& os_pid& registry& local_error;
  }
};

/// The options that travel (function members stay on the master).
struct WireOptions {
  std::int64_t heartbeat_interval_ms, heartbeat_timeout_ms, ready_timeout_ms, shutdown_timeout_ms,
      idle_spin_us, idle_sleep_us;
  std::uint8_t log_level;
  std::uint64_t coalesce_bytes, payload_cap, stack_size;
  std::int32_t map_window;
  std::uint64_t link_credit;
  std::uint64_t mailbox_limit_messages, mailbox_limit_bytes;
  std::uint8_t trace;  // the master writes a run timeline: every node records
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& heartbeat_interval_ms& heartbeat_timeout_ms& ready_timeout_ms& shutdown_timeout_ms&
        idle_spin_us& idle_sleep_us& log_level& coalesce_bytes& payload_cap& stack_size& map_window&
            link_credit& mailbox_limit_messages& mailbox_limit_bytes& trace;
  }
};

struct NodeRecordWire {
  std::uint32_t id = 0;
  std::string name, host;
  std::int32_t rank = 0;
  std::int32_t os_pid = 0;
  std::uint8_t state = 0;  // NodeState
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& id& name& host& rank& os_pid& state;
  }
};

struct RelayWire {
  std::uint64_t seq = 0;
  std::uint64_t type_id = 0;
  std::string payload;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& seq& type_id& payload;
  }
};

struct Welcome {
  WireOptions options;
  std::vector<NodeRecordWire> nodes;
  /// The relays so far: a node that joins receives the history before anything else.
  std::vector<RelayWire> relays;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& options& nodes& relays;
  }
};

struct FinalStatus {
  std::int32_t status = 0;
  bool finalize = true;  // false after a lost node: end with _exit, not MPI_Finalize
  /// The workers that acknowledged shut-down: they drain their links (the others are stuck
  /// or lost, and nobody waits for their last frames).
  std::vector<std::uint32_t> draining;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& status& finalize& draining;
  }
};

/// Messages a node dropped, by reason. Sent to the master in the node's last link_fin, and
/// summed in the shut-down line.
/// DropCounts::by_type's keys for notices, which have no message type.
inline constexpr std::uint64_t kDownNotice = 1, kExitNotice = 2;

struct DropCounts {
  std::uint64_t ended = 0;        // the destination process had ended (or never existed)
  std::uint64_t unread = 0;       // still in the mailbox of a process when it ended
  std::uint64_t overflow = 0;     // a mailbox past its bound
  std::uint64_t late_reply = 0;   // a reply whose caller had given up
  std::uint64_t node_down = 0;    // sent to a node that was lost, and not acknowledged by it
  std::uint64_t malformed = 0;    // in frames or envelopes that failed their checks
  std::uint64_t after_close = 0;  // sent on a link after shut-down had closed it
  std::uint64_t undrained = 0;    // links whose last frame did not arrive (not messages)
  /// The dropped messages whose type is known, by message type id (kDownNotice and
  /// kExitNotice for notices).
  std::map<std::uint64_t, std::uint64_t> by_type;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& ended& unread& overflow& late_reply& node_down& malformed& after_close& undrained& by_type;
  }
  /// Counts `n` messages of type `type_id` dropped for `reason` (one of the fields above).
  void typed(std::uint64_t& reason, std::uint64_t type_id, std::uint64_t n = 1) {
    reason += n;
    if (n) by_type[type_id] += n;
  }
  /// Messages in all (undrained links are not messages).
  std::uint64_t total() const {
    return ended + unread + overflow + late_reply + node_down + malformed + after_close;
  }
  DropCounts& operator+=(const DropCounts& o) {
    ended += o.ended;
    unread += o.unread;
    overflow += o.overflow;
    late_reply += o.late_reply;
    node_down += o.node_down;
    malformed += o.malformed;
    after_close += o.after_close;
    undrained += o.undrained;
    for (auto& [t, n] : o.by_type) by_type[t] += n;
    return *this;
  }
  /// "3 to processes that had ended, 2 unread when their process ended" (non-zero reasons).
  std::string describe() const;
  /// "3 Ping, 2 std::string, 1 of no known type" (by type, the most frequent first; "" when
  /// nothing was dropped).
  std::string describe_types() const;
};

struct ShutdownAck {
  bool clean = true;
  std::uint32_t unfinished = 0;
  std::uint64_t dropped = 0;
  std::string note;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& clean& unfinished& dropped& note;
  }
};

}  // namespace cadre::node
