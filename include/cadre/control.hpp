#pragma once
/// \file control.hpp
/// Talking to the master (Kind2's messaging): log lines, statistics and progress printed
/// once, by the master; ping, termination requests and relays to every node.

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "cadre/ids.hpp"
#include "cadre/options.hpp"
#include "cadre/process.hpp"

namespace cadre {

namespace detail {
/// True when `l` passes this node's threshold (the master's log_level). Any thread.
bool log_enabled(Level l);
/// Sends a formatted line to the master (printed there, once). Any thread.
void log_line(Level l, std::string message);
void relay_encoded(std::uint64_t type_id, ByteBuffer&& payload);
void subscribe_relay_id(std::uint64_t type_id);
}  // namespace detail

/// Prints `fmt`-formatted text once, on the master's stderr, as one whole line: time, node,
/// pid, level, message. Lines below the threshold (Options::log_level, CADRE_LOG_LEVEL) are
/// dropped at the sender. Lines of one sender keep their order and reach the master before
/// that sender's later task results. Any thread, never blocks.
template <class... A>
void log(Level level, fmt::format_string<A...> format, A&&... args) {
  if (!detail::log_enabled(level)) return;
  detail::log_line(level, fmt::format(format, std::forward<A>(args)...));
}

/// Adds `value` to the statistic `key`, summed over the job on the master. Any thread.
void stat(std::string_view key, double value);
/// The statistics summed so far. Master only (WrongRole elsewhere).
std::map<std::string, double> stats();

/// Reports progress: the master shows one live line (bar, percent, rate, ETA) when the user
/// watches a terminal, a periodic plain line otherwise (CADRE_PROGRESS=live|lines|off).
/// Rate-limited at the sender: calling it a million times sends a few messages. Any thread.
void progress(std::uint64_t done, std::uint64_t total);

/// The round-trip time to `node` over the control channel (which overtakes queued work).
/// ping(self_node()) works. Throws Timeout, InvalidNode, NodeDown. Blocks the caller.
std::chrono::nanoseconds ping(NodeId node, std::chrono::milliseconds timeout);

/// Asks `node` to finish: check_termination() turns true there. Shut-down does the same on
/// every node. Any thread.
void terminate(NodeId node);
/// True once this node was asked to terminate (long tasks should poll it and return).
bool check_termination();

/// Sends `msg` to every node, numbered: each node keeps the history, and processes that
/// subscribe_relay<T>() get the history of T first, in order, then each new relay of T.
/// Any node, any thread (a worker's relay goes through the master, which numbers it).
template <class T>
void relay(const T& msg) {
  detail::relay_encoded(detail::message_type_id<T>(), detail::encode_value(msg));
}
/// Master: drops the output of an earlier phase (Kind2's purge): the log lines, stats and
/// progress that other nodes sent before this call and that have not reached the master yet
/// are discarded on arrival. Returns once every live node has answered, with the number of
/// messages dropped. Other nodes: WrongRole.
std::uint64_t purge();

/// Subscribes the calling process to relays of T: they arrive in its mailbox as T messages,
/// the history first. Process or driver only.
template <class T>
void subscribe_relay() {
  detail::subscribe_relay_id(detail::message_type_id<T>());
}

}  // namespace cadre
