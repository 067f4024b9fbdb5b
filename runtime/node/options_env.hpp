#pragma once
// The CADRE_* environment variables that override Options, and the bounds of Options' fields.

#include <chrono>
#include <cstdint>
#include <string_view>

#include "cadre/options.hpp"

namespace cadre::node {

/// The longest duration an option may hold, 2^38 ms (about 8.7 years): larger values, from the
/// environment or from code, are cut to it and mean "practically never".
///
/// Why this figure: the runtime adds durations to steady_clock::now() and multiplies them by
/// small factors (3 x heartbeat_timeout, now + 2 x ready_timeout, 20 x idle_spin in the idle
/// loop), all in steady_clock's signed 64-bit nanoseconds, which end at 2^63 ns (292 years).
/// kMaxDuration is 2.75e17 ns, so 32 x kMaxDuration plus a clock reading of up to 13 years (Linux
/// counts steady_clock from boot) still fits.
inline constexpr std::chrono::milliseconds kMaxDuration{std::int64_t{1} << 38};

/// Applies every CADRE_* variable that is set and not empty, then check_environment_words();
/// throws Error naming the first malformed variable and its value. Blanks (spaces, tabs) around
/// a value are ignored; durations above kMaxDuration are cut to it.
void apply_environment(Options& o);
/// Checks the CADRE_* variables that other parts of the runtime read themselves (CADRE_PROGRESS,
/// read on the master only), so that every rank refuses a bad value at start-up; throws Error
/// naming the variable.
void check_environment_words();
/// Brings every duration of `o` within the bounds its environment variable accepts: at most
/// kMaxDuration, at least 1 (0 for shutdown_timeout and idle_spin). Values given in code are
/// cut, not refused, so that the runtime's deadline arithmetic cannot overflow.
void clamp_durations(Options& o);
/// Options::keep_freed_memory: glibc keeps freed memory (up to 256 MiB above what is in use)
/// and serves allocations up to 32 MiB from its heap, instead of mapping and unmapping them.
/// Elsewhere a no-op.
void keep_freed_memory();
/// Checks the options every node must agree on (throws Error naming the one out of range) and
/// brings the payload cap and the idle waits into range.
void check_limits(Options& o);
/// "info" -> Level::info; throws Error for other words.
Level parse_level(std::string_view s);

}  // namespace cadre::node
