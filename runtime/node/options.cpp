// Options: names of levels and the CADRE_* environment variables (one table, in the README).

#include <fmt/format.h>

#include <cstdlib>
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
  if (env("CADRE_LINK_CREDIT"))
    o.link_credit = static_cast<std::size_t>(env_int("CADRE_LINK_CREDIT", 4096));
  if (env("CADRE_MAP_WINDOW")) o.map_window = static_cast<int>(env_int("CADRE_MAP_WINDOW", 1));
}

}  // namespace node
}  // namespace cadre
