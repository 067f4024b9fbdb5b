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
#include <type_traits>
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
/// Sends a formatted line to the master, which prints it whole (cadre::print). Any thread.
void print_text(std::string text);
void relay_encoded(std::uint64_t type_id, ByteBuffer&& payload);
/// Subscribes the caller to relays of `type_id`, delivered as `deliver_id` (the type itself,
/// or Relayed<T>, which carries the relay's number first).
void subscribe_relay_id(std::uint64_t type_id, std::uint64_t deliver_id);
template <class T>
struct is_relayed : std::false_type {};
}  // namespace detail

// -- the output traffic, as a process on the master may receive it (Kind2's recv) --------

/// One log line, as subscribe_output() delivers it: the sending node and pid, its level, its
/// time (ns since the Unix epoch) and its text.
struct LogRecord {
  NodeId node;                ///< the node that logged it
  Pid pid;                    ///< the process that logged it (null for other threads)
  Level level = Level::info;  ///< its level
  std::int64_t unix_ns = 0;   ///< when, in ns since the Unix epoch
  std::string text;           ///< the formatted text
  /// Serializes the record (it is a message).
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& node& pid& level& unix_ns& text;
  }
};
/// One statistic as it arrives on the master: `value` added to `key` by `node`.
struct StatRecord {
  NodeId node;       ///< the node that added it
  std::string key;   ///< the statistic
  double value = 0;  ///< the amount added
  /// Serializes the record (it is a message).
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& node& key& value;
  }
};
/// One progress report as it arrives on the master: `pid` (null for a node's threads and map
/// jobs: then `node` says whose) has `done` of `total`.
struct ProgressRecord {
  NodeId node;              ///< the node that reported it
  Pid pid;                  ///< the process that reported it (null: the node's threads, maps)
  std::uint64_t done = 0;   ///< work done
  std::uint64_t total = 0;  ///< work in all
  /// Serializes the record (it is a message).
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& node& pid& done& total;
  }
};
/// A relay with its number (1, 2, ... in the order the master numbered them): what
/// subscribe_relay<Relayed<T>>() delivers, matched with match<Relayed<T>>.
template <class T>
struct Relayed {
  std::uint64_t number = 0;  ///< its number, the same on every node
  T value{};                 ///< the relayed message
  /// Serializes the number, then the value.
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& number& value;
  }
};

namespace detail {
template <>
struct is_std_message<LogRecord> : std::true_type {};
template <>
struct is_std_message<StatRecord> : std::true_type {};
template <>
struct is_std_message<ProgressRecord> : std::true_type {};
template <class T>
struct is_std_message<Relayed<T>> : std::true_type {};
template <class T>
struct is_relayed<Relayed<T>> : std::true_type {};
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

/// Prints `fmt`-formatted text as one whole line of the program's output, once, by the
/// master: on stdout, or on stderr when the live progress line shares the terminal
/// (CADRE_PRINT=stderr, which cadre-run sets when stdout and stderr are both a terminal). A
/// live progress line is cleared before the line and drawn again after it. Lines of one sender
/// keep their order, among themselves and with its log lines. Any node, any thread, never
/// blocks.
template <class... A>
void print(fmt::format_string<A...> format, A&&... args) {
  detail::print_text(fmt::format(format, std::forward<A>(args)...));
}

/// Adds `value` to the statistic `key`, summed over the job on the master. Any thread.
void stat(std::string_view key, double value);
/// The statistics summed so far. Master only (WrongRole elsewhere).
std::map<std::string, double> stats();

/// Reports the caller's progress: `done` of `total`. The master combines the reports of every
/// sender (each process; a node's other threads count as one) into one line: the sums of done
/// and of total, with the number of senders when there are several; a sender's done never goes
/// back while its total stays. In a terminal the line is live (bar, percent, rate, ETA) and
/// appears once work has lasted half a second; otherwise a plain line at most every second
/// (CADRE_PROGRESS=live|lines|off). Rate-limited at the sender: calling it a million times
/// sends a few messages. Any thread.
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
/// the history first, in order. subscribe_relay<Relayed<T>>() delivers them as Relayed<T>,
/// which carries each relay's number. Process or driver only (WrongRole elsewhere); blocks
/// until the history is in the mailbox.
template <class T>
void subscribe_relay() {
  if constexpr (detail::is_relayed<T>::value)
    detail::subscribe_relay_id(detail::message_type_id<decltype(T::value)>(),
                               detail::message_type_id<T>());
  else
    detail::subscribe_relay_id(detail::message_type_id<T>(), detail::message_type_id<T>());
}
/// Asks this node's relay history for relay `number` again (Kind2's Resend): it arrives in the
/// caller's mailbox once more, in each form the caller subscribed to its type with. Throws
/// Error naming `number` when this node holds no such relay, WrongRole when the caller is not
/// subscribed to its type. Process or driver only; blocks until it is in the mailbox.
void resend_relay(std::uint64_t number);

/// Makes the calling process, on the master, receive the output traffic as messages besides
/// the printing: LogRecord for each log line, StatRecord for each statistic, ProgressRecord
/// for each progress report that reaches the master (after the sender's rate limit), from
/// every node, the master included; purged output is not delivered. Master only, process or
/// driver (WrongRole elsewhere); blocks until subscribed.
void subscribe_output();
/// Ends the calling process's subscribe_output(); an ended process is unsubscribed anyway.
void unsubscribe_output();

}  // namespace cadre
