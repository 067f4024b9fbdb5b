#pragma once
// The run timeline's recorder: what happens on this node (task and process spans, messages,
// spawns, lost nodes, shut-down) as compact events, until the node ships them to the master
// (node/trace_file.hpp writes them all as one Chrome trace).
//
// Off, as it is unless the master's Options::trace_file (CADRE_TRACE) names a file, each hook
// costs one relaxed load and a branch; a build configured with -DCADRE_TRACING=OFF has none.
// On, messages are recorded one by one up to kMessagesPerSecond a second on each node, then
// one in kSampleAbove; every message is counted in the node's message counters either way.
//
// Thread rule: any thread (one mutex); the loop records almost everything.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#ifndef CADRE_TRACING
#define CADRE_TRACING 1
#endif

namespace cadre::node::trace {

/// What an event is.
enum class Kind : std::uint8_t {
  task = 1,          // span: a task request ran here (a map chunk is one span; n: its inputs)
  process = 2,       // span: a process lived here (n: its serial; cls: its Reason)
  driver = 3,        // span: the master's driver ran
  send = 4,          // instant: a message left for node `peer` (n: its payload bytes)
  receive = 5,       // instant: a message came from node `peer`
  spawn = 6,         // span: the master started nodes with MPI_Comm_spawn (n: how many)
  node_joined = 7,   // instant: node `peer` joined
  node_lost = 8,     // instant: node `peer` was lost (text: why)
  node_stopped = 9,  // instant: node `peer` was stopped or left
  shutdown = 10,     // span: this node's part of shut-down
};

/// One event as the recorder keeps it (steady-clock nanoseconds of this node).
struct Event {
  std::int64_t t0 = 0;
  std::int64_t dur = -1;  // < 0: an instant
  std::uint64_t id = 0;   // task, process: the registry id of the body; message: the class
  std::uint64_t n = 0;
  std::uint32_t peer = 0;
  Kind kind = Kind::task;
  std::uint8_t cls = 0;
  std::uint16_t text = 0;  // 1 + index into the recorder's texts; 0: none
};

/// One event on the wire: its name resolved on the node that recorded it.
struct Record {
  std::int64_t t0 = 0, dur = -1;
  std::uint64_t n = 0;
  std::uint32_t peer = 0;
  std::uint32_t name = 0, detail = 0;  // indexes into Chunk::names (detail: a process's reason)
  std::uint8_t kind = 0, cls = 0;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& t0& dur& n& peer& name& detail& kind& cls;
  }
};

/// The messages a node sent and received in one counter interval (kCounterNs).
struct Count {
  std::int64_t t = 0;
  std::uint32_t sent = 0, received = 0;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& t& sent& received;
  }
};

/// What a node ships to the master: its events since the last chunk.
struct Chunk {
  std::vector<std::string> names;
  std::vector<Record> events;
  std::vector<Count> counts;
  std::uint64_t unrecorded = 0;   // events past kMaxEvents, dropped here
  std::uint64_t sampled_out = 0;  // messages only counted (above kMessagesPerSecond)
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& names& events& counts& unrecorded& sampled_out;
  }
};

/// Messages recorded one by one in each second on a node, before sampling starts.
inline constexpr std::uint32_t kMessagesPerSecond = 10000;
/// Above kMessagesPerSecond, one message in this many is recorded.
inline constexpr std::uint32_t kSampleAbove = 100;
/// The message counters' interval: 10 ms.
inline constexpr std::int64_t kCounterNs = 10'000'000;
/// Events a node keeps between two chunks; past it events are counted, not kept.
inline constexpr std::size_t kMaxEvents = std::size_t(1) << 20;
/// No node's steady clock reaches this (2^60 ns, 36 years after boot): a time or a length
/// outside [0, kMaxTime] was never recorded, and times within it can be subtracted safely.
inline constexpr std::int64_t kMaxTime = std::int64_t(1) << 60;

/// True while this node records. Any thread.
[[gnu::visibility("hidden")]] inline std::atomic<bool> g_on{false};  // one load, no GOT

/// True while this node records; constant false in a build without tracing.
inline bool on() {
#if CADRE_TRACING
  return g_on.load(std::memory_order_relaxed);
#else
  return false;
#endif
}

/// Now, in steady-clock nanoseconds (the clock every event uses).
inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// Starts (or stops) recording on this node.
void enable(bool on);

/// Records a span from `t0` to now.
void span(Kind k, std::int64_t t0, std::uint64_t id, std::uint64_t n, std::uint8_t cls = 0);
/// Records an instant about node `peer`, with an optional text.
void instant(Kind k, std::uint32_t peer, std::string_view text = {});
/// Counts a message of class `cls` and `bytes` to or from `peer`, and records it unless
/// sampling leaves it out.
void message(Kind k, std::uint32_t peer, std::uint8_t cls, std::uint64_t bytes);

/// How a chunk names a class of envelope and a registry id.
struct Names {
  std::function<std::string(std::uint8_t cls)> envelope_class;
  std::function<std::string(std::uint64_t id)> body;
  std::function<std::string(std::uint8_t reason)> reason;
};
/// Takes what was recorded since the last call, with names resolved by `names`; the message
/// counter of the interval under way stays for the next call unless this is the `last`.
Chunk take(const Names& names, bool last = false);
/// Splits a chunk into pieces of at most `max_events` events and as many counters each.
std::vector<Chunk> split(Chunk c, std::size_t max_events);

}  // namespace cadre::node::trace
