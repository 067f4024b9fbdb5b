// Options: names of levels and the CADRE_* environment variables (one table, in the README).

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <limits>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "cadre/errors.hpp"
#include "node/options_env.hpp"

namespace cadre {

std::string_view to_string(Level l) {
  switch (l) {
    case Level::trace:
      return "trace";
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warn:
      return "warn";
    case Level::error:
      return "error";
    case Level::off:
      return "off";
  }
  return "?";
}

namespace node {
namespace {

// The largest integer a variable may hold: every value is parsed as a signed 64-bit integer.
constexpr std::int64_t kNoLimit = std::numeric_limits<std::int64_t>::max();

// A set variable's value, or nullptr. An empty value counts as unset, as it always has: `X=` is
// how shells and job scripts clear a variable.
const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

// Without the surrounding spaces and tabs, which job scripts and quoted values easily carry.
std::string_view trim(std::string_view s) {
  constexpr std::string_view kBlanks = " \t";
  const auto first = s.find_first_not_of(kBlanks);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kBlanks) - first + 1);
}

// Digits only (no sign, unit or inner blank), and at most 2^63 - 1: a value too large is
// refused rather than read as the largest one. from_chars alone would still take a '-'.
std::optional<std::int64_t> to_integer(std::string_view s) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos) return {};
  std::int64_t x = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
  if (ec != std::errc() || end != s.data() + s.size()) return {};  // out of range
  return x;
}

// The value of `name` as an integer in [min, max], or nothing if the variable is not set.
// The message keeps the form "is not an integer >= N" that scripts and tests look for, and
// adds the upper bound when the variable has one of its own.
std::optional<std::int64_t> env_integer(const char* name, std::int64_t min, std::int64_t max) {
  const char* v = env(name);
  if (!v) return {};
  const auto x = to_integer(trim(v));
  if (!x || *x < min || *x > max) {
    const std::string bound = max == kNoLimit ? "" : fmt::format(" and <= {}", max);
    throw Error(fmt::format("cadre: environment variable {}={:?} is not an integer >= {}{}", name,
                            v, min, bound));
  }
  return x;
}

template <class T>
void set_integer(const char* name, T& field, std::int64_t min, std::int64_t max = kNoLimit) {
  if (const auto x = env_integer(name, min, max)) field = static_cast<T>(*x);
}

// A switch: 0 or 1.
void set_flag(const char* name, bool& field) {
  if (const char* v = env(name)) {
    const std::string_view s = trim(v);
    if (s != "0" && s != "1")
      throw Error(fmt::format("cadre: environment variable {}={:?} is not 0 or 1", name, v));
    field = s == "1";
  }
}

// Within [min, kMaxDuration]. The floor also keeps a negative duration given in code from
// overflowing when it is converted to nanoseconds.
template <class Rep, class Period>
std::chrono::duration<Rep, Period> clamp_duration(std::chrono::duration<Rep, Period> d,
                                                  std::int64_t min) {
  using D = std::chrono::duration<Rep, Period>;
  return std::clamp(d, D(min), std::chrono::duration_cast<D>(kMaxDuration));
}

// Every duration of the options, with its variable and the smallest value it may take: a
// heartbeat, a timeout or a sleep of 0 would make the loop spin or give up at once, while no
// grace at shut-down and no spinning before a sleep are meaningful choices.
template <class F>
void for_each_duration(Options& o, F&& f) {
  f("CADRE_HEARTBEAT_INTERVAL_MS", o.heartbeat_interval, 1);
  f("CADRE_HEARTBEAT_TIMEOUT_MS", o.heartbeat_timeout, 1);
  f("CADRE_READY_TIMEOUT_MS", o.ready_timeout, 1);
  f("CADRE_SHUTDOWN_TIMEOUT_MS", o.shutdown_timeout, 0);
  f("CADRE_IDLE_SPIN_US", o.idle_spin, 0);
  f("CADRE_IDLE_SLEEP_US", o.idle_sleep, 1);
}

constexpr std::string_view kLevelWords = "trace, debug, info, warn, error, off";

std::optional<Level> find_level(std::string_view s) {
  for (Level l : {Level::trace, Level::debug, Level::info, Level::warn, Level::error, Level::off})
    if (to_string(l) == s) return l;
  return {};
}

// `words` lists the values the variable accepts.
[[noreturn]] void refuse_word(const char* name, std::string_view value, std::string_view words) {
  throw Error(
      fmt::format("cadre: environment variable {}={:?} is not one of {}", name, value, words));
}

}  // namespace

// One MPI message carries at most INT_MAX bytes: a frame is a payload, the coalescing
// buffer it may join, and headers.
constexpr std::size_t kMaxFrame = static_cast<std::size_t>(INT_MAX) - 65536;

// Checks the options that every node must agree on, and brings a few into range: the payload
// cap to what one MPI message carries (any value up to 2^31 - 1 is accepted), and the idle
// loop's waits to at most a second of spinning and 100 ms of sleep (a longer sleep would
// leave MPI traffic unread).
void check_limits(Options& o) {
  if (o.coalesce_bytes > (std::size_t(1) << 26))
    throw Error(
        fmt::format("cadre: coalesce_bytes = {} is above the limit of 64 MiB", o.coalesce_bytes));
  o.payload_cap = std::min(o.payload_cap, kMaxFrame - o.coalesce_bytes);
  if (o.payload_cap < 1024)
    throw Error(fmt::format("cadre: payload_cap = {} bytes is below 1 KiB", o.payload_cap));
  if (o.map_window < 1 || o.map_window > (1 << 20))
    throw Error(fmt::format("cadre: map_window = {} is not between 1 and 2^20", o.map_window));
  if (o.link_credit < 4096 || o.link_credit > (std::size_t(1) << 40))
    throw Error(
        fmt::format("cadre: link_credit = {} bytes is not between 4 KiB and 1 TiB", o.link_credit));
  if (o.mailbox_limit.messages < 1 || o.mailbox_limit.bytes < 1024)
    throw Error(
        fmt::format("cadre: mailbox_limit = {{{} messages, {} bytes}} is below 1 message or 1 KiB",
                    o.mailbox_limit.messages, o.mailbox_limit.bytes));
  o.idle_spin = std::min<std::chrono::microseconds>(o.idle_spin, std::chrono::seconds(1));
  o.idle_sleep = std::min<std::chrono::microseconds>(o.idle_sleep, std::chrono::milliseconds(100));
}

void keep_freed_memory() {
#if defined(__GLIBC__)
  // A message of a few MiB passes through buffers of its size (frame, mailbox, decoded
  // value); by default glibc maps each one afresh and unmaps it on free, and the page faults
  // cost more than the copies. The values are glibc's largest mmap threshold and a trim
  // threshold that bounds what is kept unused.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

Level parse_level(std::string_view s) {
  if (const auto l = find_level(s)) return *l;
  throw Error(fmt::format("cadre: log level {:?} is not one of {}", s, kLevelWords));
}

void clamp_durations(Options& o) {
  for_each_duration(
      o, [](const char*, auto& field, std::int64_t min) { field = clamp_duration(field, min); });
}

void check_environment_words() {
  // services/output.cpp reads CADRE_PROGRESS on the master alone, and takes any other word
  // for `lines`; checking it here makes every rank refuse a misspelt one at start-up. It
  // compares the exact words, so blanks around them are refused here rather than ignored.
  if (const char* v = env("CADRE_PROGRESS")) {
    const std::string_view s(v);
    if (s != "live" && s != "lines" && s != "off")
      refuse_word("CADRE_PROGRESS", s, "live, lines, off");
  }
  // services/output.cpp reads CADRE_PRINT (where cadre::print writes) the same way.
  if (const char* v = env("CADRE_PRINT")) {
    const std::string_view s(v);
    if (s != "stdout" && s != "stderr") refuse_word("CADRE_PRINT", s, "stdout, stderr");
  }
}

void apply_environment(Options& o) {
  // A duration accepts any 64-bit integer and saturates, so that a huge value can say "never"
  // without overflowing the deadlines computed from it.
  for_each_duration(o, [](const char* name, auto& field, std::int64_t min) {
    if (const auto x = env_integer(name, min, kNoLimit))
      field = clamp_duration(std::remove_reference_t<decltype(field)>(*x), min);
  });
  if (const char* v = env("CADRE_LOG_LEVEL")) {
    const auto l = find_level(trim(v));
    if (!l) refuse_word("CADRE_LOG_LEVEL", v, kLevelWords);
    o.log_level = *l;
  }
  // Sizes: below the lower bounds the runtime's own messages or a fiber's frames do not fit.
  // The upper bounds match the checks the node core applies to any Options (a frame is one MPI
  // message, whose count is an int); refusing here names the variable at fault.
  set_integer("CADRE_COALESCE_BYTES", o.coalesce_bytes, 256, std::int64_t{64} << 20);
  set_integer("CADRE_PAYLOAD_CAP", o.payload_cap, 1024, std::numeric_limits<std::int32_t>::max());
  set_integer("CADRE_STACK_SIZE", o.stack_size, 16384);
  set_flag("CADRE_KEEP_FREED_MEMORY", o.keep_freed_memory);
  set_flag("CADRE_DOORBELL", o.doorbell);
  set_integer("CADRE_LINK_CREDIT", o.link_credit, 4096, std::int64_t{1} << 40);
  set_integer("CADRE_MAP_WINDOW", o.map_window, 1, std::int64_t{1} << 20);
  set_integer("CADRE_MAILBOX_LIMIT_MESSAGES", o.mailbox_limit.messages, 1);
  set_integer("CADRE_MAILBOX_LIMIT_BYTES", o.mailbox_limit.bytes, 1024);
  // The trace file's path as given (blanks included: a path may hold them); only the
  // master's counts, and it checks at start-up that the file can be written.
  if (const char* v = env("CADRE_TRACE")) o.trace_file = v;
  check_environment_words();
}

}  // namespace node
}  // namespace cadre
