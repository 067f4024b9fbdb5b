// Options: names of levels and the CADRE_* environment variables (one table, in the README).

#include <fmt/format.h>

#include <cstdlib>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <string>

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

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

long long env_int(const char* name, long long min) {
  const char* v = env(name);
  char* end = nullptr;
  long long x = std::strtoll(v, &end, 10);
  if (end == v || *end != '\0' || x < min)
    throw Error(
        fmt::format("cadre: environment variable {}={:?} is not an integer >= {}", name, v, min));
  return x;
}

template <class D>
void set_duration(const char* name, D& field, long long min = 0) {
  if (env(name)) field = D(env_int(name, min));
}

}  // namespace

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
  for (Level l : {Level::trace, Level::debug, Level::info, Level::warn, Level::error, Level::off})
    if (to_string(l) == s) return l;
  throw Error(
      fmt::format("cadre: log level {:?} is not one of trace, debug, info, warn, error, off", s));
}

void apply_environment(Options& o) {
  set_duration("CADRE_HEARTBEAT_INTERVAL_MS", o.heartbeat_interval, 1);
  set_duration("CADRE_HEARTBEAT_TIMEOUT_MS", o.heartbeat_timeout, 1);
  set_duration("CADRE_READY_TIMEOUT_MS", o.ready_timeout, 1);
  set_duration("CADRE_SHUTDOWN_TIMEOUT_MS", o.shutdown_timeout, 0);
  set_duration("CADRE_IDLE_SPIN_US", o.idle_spin, 0);
  set_duration("CADRE_IDLE_SLEEP_US", o.idle_sleep, 1);
  if (const char* v = env("CADRE_LOG_LEVEL")) o.log_level = parse_level(v);
  if (env("CADRE_COALESCE_BYTES"))
    o.coalesce_bytes = static_cast<std::size_t>(env_int("CADRE_COALESCE_BYTES", 256));
  if (env("CADRE_PAYLOAD_CAP"))
    o.payload_cap = static_cast<std::size_t>(env_int("CADRE_PAYLOAD_CAP", 1024));
  if (env("CADRE_STACK_SIZE"))
    o.stack_size = static_cast<std::size_t>(env_int("CADRE_STACK_SIZE", 16384));
  if (const char* v = env("CADRE_KEEP_FREED_MEMORY")) {
    const std::string_view s(v);
    if (s != "0" && s != "1")
      throw Error(
          fmt::format("cadre: environment variable CADRE_KEEP_FREED_MEMORY={:?} is not 0 or 1", s));
    o.keep_freed_memory = s == "1";
  }
  if (env("CADRE_LINK_CREDIT"))
    o.link_credit = static_cast<std::size_t>(env_int("CADRE_LINK_CREDIT", 4096));
  if (env("CADRE_MAP_WINDOW")) o.map_window = static_cast<int>(env_int("CADRE_MAP_WINDOW", 1));
}

}  // namespace node
}  // namespace cadre
