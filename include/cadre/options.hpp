#pragma once
/// \file options.hpp
/// Runtime options. Defaults are DESIGN.md's; CADRE_* environment variables override them on
/// each node, and the master's effective options are sent to every node that joins.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "cadre/ids.hpp"

namespace cadre {

/// Log levels, from most to least verbose; `off` silences everything.
enum class Level : std::uint8_t { trace, debug, info, warn, error, off };

/// The level's lower-case name ("info").
std::string_view to_string(Level);

/// The bound of one process's mailbox: past either figure its owner is warned in the log and
/// ended with Reason::overflow (the driver's overflow ends the job).
struct MailboxLimit {
  /// Messages queued, unread (CADRE_MAILBOX_LIMIT_MESSAGES).
  std::size_t messages = 1000000;
  /// Memory the queued messages hold: payload plus the 64-byte slot of each
  /// (CADRE_MAILBOX_LIMIT_BYTES).
  std::size_t bytes = std::size_t(256) << 20;
};

/// Options of one runtime. An aggregate: fields keep this order, new ones are appended.
struct Options {
  /// How often nodes tell each other they are alive (CADRE_HEARTBEAT_INTERVAL_MS).
  std::chrono::milliseconds heartbeat_interval{1000};
  /// A node silent this long is down (CADRE_HEARTBEAT_TIMEOUT_MS).
  std::chrono::milliseconds heartbeat_timeout{10000};
  /// Nodes must report ready within this (CADRE_READY_TIMEOUT_MS).
  std::chrono::milliseconds ready_timeout{5000};
  /// Running tasks get this long to finish at shutdown (CADRE_SHUTDOWN_TIMEOUT_MS).
  std::chrono::milliseconds shutdown_timeout{10000};
  /// Messages below this level are dropped at the sender (CADRE_LOG_LEVEL).
  Level log_level = Level::info;
  /// Called on the master when a node is lost.
  std::function<void(NodeId)> on_node_down;
  /// Run once on the master before the driver.
  std::function<void()> master_init;
  /// Initialise MPI with MPI_THREAD_MULTIPLE so user threads may call MPI themselves.
  bool mpi_thread_multiple = false;
  /// After work, the node loop keeps polling this long before it starts sleeping
  /// (CADRE_IDLE_SPIN_US).
  std::chrono::microseconds idle_spin{1000};
  /// Longest single sleep of an idle node loop (CADRE_IDLE_SLEEP_US).
  std::chrono::microseconds idle_sleep{1000};
  /// A link's coalescing buffer is sent once it holds this many bytes (CADRE_COALESCE_BYTES).
  std::size_t coalesce_bytes = 64 * 1024;
  /// Largest payload of one message; larger ones throw PayloadTooLarge at the sender
  /// (CADRE_PAYLOAD_CAP).
  std::size_t payload_cap = std::size_t(64) << 20;
  /// Stack size of each task or process fiber, in bytes (CADRE_STACK_SIZE).
  std::size_t stack_size = 128 * 1024;
  /// Chunks of one map() kept in flight per node (CADRE_MAP_WINDOW).
  int map_window = 4;
  /// Bytes a node may have on its way to another before the receiver has taken them off the
  /// link (CADRE_LINK_CREDIT). A process that sends while its link is out of credit waits,
  /// yielding, until the receiver grants more; its node goes on serving.
  std::size_t link_credit = std::size_t(4) << 20;
  /// Ask the C library (glibc) to keep freed memory for reuse instead of returning it to the
  /// system, so that every large message does not fault fresh pages in
  /// (CADRE_KEEP_FREED_MEMORY = 0 or 1). Per process; set before the runtime starts.
  bool keep_freed_memory = true;
  /// The bound of every process's mailbox (see MailboxLimit).
  MailboxLimit mailbox_limit{};
  /// Runs on every node, spawned ones included, once it has joined and before it serves (on
  /// the master: before master_init and the driver). Each program's own; it does not travel.
  std::function<void()> node_init;
  /// An idle node sleeps on a doorbell that senders on its host ring, so it wakes at once
  /// (CADRE_DOORBELL = 0 or 1). Without it, or for senders on other hosts, a message to an
  /// idle node waits for the end of its sleep (idle_sleep).
  bool doorbell = true;
  /// The master writes a timeline of the run to this file when it is not empty (CADRE_TRACE):
  /// every node's task and process spans, messages (sampled above 10,000 a second a node),
  /// spawns, lost nodes and shut-down, as Chrome trace-event JSON for Perfetto,
  /// chrome://tracing or cadre-timeline. Only the master's setting counts.
  std::string trace_file;
};

}  // namespace cadre
