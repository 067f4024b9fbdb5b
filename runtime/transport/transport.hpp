#pragma once
// The transport seen by the node loop: one ordered link to every node, carrying envelopes in
// coalesced, checked frames. The MPI implementation lives beside this file; unit tests use
// an in-memory fake.
//
// Thread rule: loop thread only.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "cadre/detail/buffer.hpp"
#include "cadre/ids.hpp"
#include "transport/doorbell.hpp"
#include "transport/join.hpp"
#include "wire/frame.hpp"

namespace cadre::transport {

/// Receives what poll() takes off the links, in link order.
class Sink {
 public:
  virtual ~Sink() = default;
  /// One envelope from node `src`. The payload is valid only during the call.
  virtual void on_envelope(NodeId src, const wire::Envelope& env, const char* payload,
                           std::size_t len) = 0;
  /// A frame from `src` failed its checks and was discarded whole.
  virtual void on_bad_frame(NodeId src, const std::string& why) = 0;
  /// A control message (heartbeat, ping) from `src`; it overtakes the link's frames.
  virtual void on_control(NodeId src, const char* p, std::size_t n) = 0;
  /// Something (a frame or a control message) arrived from `src`.
  virtual void on_alive(NodeId src) = 0;
};

/// Largest control message.
inline constexpr std::size_t kMaxControlBytes = 64;
/// Control messages whose first byte is at least this belong to the transport (credit
/// grants); the node's own (heartbeats, pings) use smaller values.
inline constexpr unsigned char kTransportControl = 0x80;

/// What the master asks of MPI_Comm_spawn (transport/spawn.cpp): `count` processes of
/// `program`, each told its node id (first_id + its rank) and `bootstrap` before it starts.
struct SpawnCall {
  std::string program;  ///< a path (checked before: spawning a missing one poisons the job)
  std::vector<std::string> args;
  int count = 1;
  NodeId first_id;                                        ///< ids first_id .. first_id+count-1
  std::vector<std::pair<std::string, std::string>> info;  ///< MPI_Info keys (host, wdir, ...)
  std::vector<char> bootstrap;                            ///< handed to each new process
  std::string hang_hint;  ///< added to the error when the spawn does not return (or empty)
};

/// An envelope relayed through the master (transport/links.hpp): class in `aux`, and a u32
/// prefix to the payload, the final node (towards the master) or the true sender (from it).
inline constexpr std::uint8_t kRelayClass = 255;
/// A control message relayed through the master: this byte, the u32 node, the message.
inline constexpr unsigned char kRelayControl = kTransportControl + 1;

/// One part of a payload sent from the caller's memory (Transport::send_borrowed).
struct PayloadPart {
  const char* data;  ///< the part's first byte
  std::size_t size;  ///< its length
};

/// Messages the transport refused or gave up on, by reason.
struct LinkDrops {
  /// Sent to a node that was lost: after it was declared lost, or in frames it had not yet
  /// acknowledged when it was (small MPI sends to a dead peer report success).
  std::uint64_t node_down = 0;
  /// Sent on a link after shut-down closed it.
  std::uint64_t after_close = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual NodeId self() const = 0;
  /// Number of nodes reachable (node ids 0 .. size()-1).
  virtual std::uint32_t size() const = 0;
  /// Appends `env` and `n` payload bytes to the link to `dst` (coalesced; sent by flush() or
  /// when the link's buffer is full). Throws PayloadTooLarge above the cap, InvalidNode for a
  /// node the transport does not know.
  virtual void send(NodeId dst, const wire::Envelope& env, const char* payload, std::size_t n) = 0;
  /// As send(), with the payload made of `parts` in order, sent (after what the link holds)
  /// in a frame of its own straight from the caller's memory. Returns a flag the transport
  /// sets once MPI no longer reads that memory: sent, or given up with a lost destination.
  /// The default copies the parts (as send() does) and returns the flag set.
  virtual std::shared_ptr<const bool> send_borrowed(NodeId dst, const wire::Envelope& env,
                                                    std::span<const PayloadPart> parts);
  /// Receives what has arrived and hands it to `sink`; returns the number of frames taken.
  virtual std::size_t poll(Sink& sink) = 0;
  /// Starts sending every non-empty link buffer and progresses sends in flight; returns the
  /// number of frames started or completed.
  virtual std::size_t flush() = 0;
  /// As flush(), for a thread that sends in bursts between waits (the master's driver): while
  /// `may_hold(node, envelopes)` is true for every link that holds envelopes, and no send or
  /// receive waits for progress, they stay, for up to kHoldBack, and no MPI call is made;
  /// returns true then (the next flush sends them). Otherwise it flushes, or with nothing to
  /// send and nothing in flight does nothing, and returns false. The default flushes.
  virtual bool flush_unless_held(const std::function<bool(NodeId, std::size_t)>& may_hold) {
    (void)may_hold;
    flush();
    return false;
  }
  /// How long flush_unless_held() holds frames back at most.
  static constexpr std::chrono::microseconds kHoldBack{100};
  /// True while sends are in flight or buffered.
  virtual bool busy() const = 0;
  virtual std::size_t payload_cap() const = 0;
  /// Adopts the master's limits (called once, at start-up, before any payload traffic).
  virtual void set_limits(std::size_t payload_cap, std::size_t coalesce_bytes,
                          std::size_t link_credit) = 0;
  /// Sends a control message of at most kMaxControlBytes at once, outside the link's order.
  virtual void send_control(NodeId dst, const char* p, std::size_t n) = 0;
  /// `n` is lost: what it sends from now on is discarded, what is sent to it is dropped, and
  /// sends in flight to it are abandoned (their buffers kept: MPI cannot cancel them).
  virtual void forget(NodeId n) = 0;
  /// Frames sent to `dst` whose MPI send has not completed yet.
  virtual std::size_t in_flight(NodeId dst) const = 0;
  /// Shut-down: the link to `dst` has carried its last frame (flushed now); later sends to
  /// `dst` are refused and counted in dropped().after_close.
  virtual void close_link(NodeId dst) = 0;
  /// Messages refused or given up so far.
  virtual LinkDrops dropped() const = 0;
  /// Bytes the link to `dst` may still carry before `dst` grants more (may be negative: a
  /// frame is never split, so one may take the link below zero).
  virtual std::int64_t credit(NodeId dst) const = 0;
  /// A node that joined later (spawned): from now on `n` can be sent to (through the master
  /// when no link reaches it directly).
  virtual void add_node(NodeId) {}
  /// Master: starts the processes of `call` with MPI_Comm_spawn (blocking: it returns once
  /// they have all called MPI_Init) and links them. Throws SpawnError or MpiError.
  virtual void spawn(const SpawnCall&) {
    throw std::logic_error("cadre: this transport cannot spawn nodes");
  }
  /// Master: links the joiner that MPI_Comm_accept connected (the transport now owns the
  /// communicator) as node call.first_id, and hands it call.bootstrap (as spawn does).
  virtual void adopt(Accepted&&, const SpawnCall&) {
    throw std::logic_error("cadre: this transport cannot adopt joined nodes");
  }
  /// True when this process was started by MPI_Comm_spawn, or joined (cadre::join): either
  /// way it reaches the job through the master.
  virtual bool spawned() const { return false; }
  /// True when this process joined with cadre::join.
  virtual bool joined() const { return false; }
  /// `n` runs on this host and its doorbell is mapped: after sending to `n` the transport
  /// rings it, so `n` wakes at once from an idle sleep (transport/doorbell.hpp).
  virtual void set_doorbell(NodeId /*n*/, std::shared_ptr<PeerDoorbell> /*bell*/) {}
  /// Drops what remains of the links of nodes that all ended (stopped or lost): their
  /// communicator is freed once nothing is in flight on it.
  virtual void retire(NodeId) {}
};

inline std::shared_ptr<const bool> Transport::send_borrowed(NodeId dst, const wire::Envelope& env,
                                                            std::span<const PayloadPart> parts) {
  detail::ByteBuffer whole;
  for (const PayloadPart& part : parts) whole.append(part.data, part.size);
  send(dst, env, whole.data(), whole.size());
  return std::make_shared<const bool>(true);
}

}  // namespace cadre::transport
