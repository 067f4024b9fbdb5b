#pragma once
// Envelope classes and the payloads of the node protocol (start-up, shut-down).
//
// Invariant: everything between two nodes travels on their one ordered link; the class in
// the envelope says what it is. So a task's result always arrives after everything the task
// sent before it, and a worker's shut-down acknowledgement after all of its results.

#include <cstdint>
#include <string>
#include <vector>

#include "cadre/options.hpp"

namespace cadre::node {

enum class Cls : std::uint8_t {
  hello = 1,         // worker -> master: identity and registry
  welcome = 2,       // master -> worker: options and node table
  abort_start = 3,   // master -> worker: start-up refused (registry mismatch, ...)
  shutdown = 4,      // master -> worker: stop new work, finish, acknowledge
  shutdown_ack = 5,  // worker -> master
  final_status = 6,  // master -> worker: the job's status; finalize (or _exit) now
  node_down = 7,     // master -> worker: a node was lost
  terminate = 8,     // any -> node: check_termination() turns true there
  task_request = 10,
  task_result = 11,
  message = 20,  // processes: see services/processes.hpp
  reply = 21,
  spawn = 22,
  spawn_reply = 23,
  monitor = 24,
  demonitor = 25,
  down = 26,
  link = 27,
  unlink = 28,
  exit_signal = 29,
  kill = 30,
  broadcast = 31,
  name_register = 32,
  name_lookup = 33,
  name_reply = 34,
  log = 40,  // output: see services/output.hpp
  stat = 41,
  progress = 42,
  relay = 43,
  relay_request = 44,
};

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
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& heartbeat_interval_ms& heartbeat_timeout_ms& ready_timeout_ms& shutdown_timeout_ms&
        idle_spin_us& idle_sleep_us& log_level& coalesce_bytes& payload_cap& stack_size& map_window&
            link_credit;
  }
};

struct NodeRecordWire {
  std::uint32_t id = 0;
  std::string name, host;
  std::int32_t rank = 0;
  std::int32_t os_pid = 0;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& id& name& host& rank& os_pid;
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
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& status& finalize;
  }
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
