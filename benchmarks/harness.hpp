#pragma once
/// \file harness.hpp
/// The parts every cadre benchmark shares: OSU-style flags, the result table on stdout, the
/// JSON file for machines and the context (ranks, host, MPI, compiler) a result belongs to.

#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace cadre::bench {

/// A field of /proc/self/status in kB (VmRSS, VmHWM); -1 when it is missing.
long status_kb(const std::string& field);

// -- flags ----------------------------------------------------------------------------------

/// The command line of `cadre-bench MODE [flags]`; the defaults are the values shown.
struct Flags {
  /// The positional MODE (tasks, latency, msgrate, ring, bcast, idle); the caller validates it.
  std::string mode;
  /// Smallest message size in bytes (`-m MIN:MAX` or `-m N`).
  std::size_t min_size = 8;
  /// Largest message size in bytes.
  std::size_t max_size = 1 << 20;
  /// Timed iterations per size (`-i`).
  int iterations = 1000;
  /// Untimed iterations before the timed ones (`-x`).
  int warmup = 100;
  /// Tasks per task-farm measurement (`-n`).
  long tasks = 100000;
  /// Outstanding messages or tasks per peer (`-w`).
  int window = 64;
  /// Tasks per message in the task farm; 0 lets the mode choose (`--chunk`).
  int chunk = 0;
  /// Each measurement runs this many times and the median is reported (`-r`).
  int repeat = 3;
  /// Where to write the results as JSON; empty for no file (`--json`).
  std::string json;
  /// flood: the mailbox bound in messages; 0 keeps the default (`--mailbox-limit`).
  long mailbox_limit = 0;
  /// flood: who sends, "process" (on node 0) or "driver" (`--from`).
  std::string from = "process";
};

/// Parses argv with CLI11; every rank parses the same argv and gets the same Flags. Does not
/// block. On `--help` prints the help (on rank 0 only if MPI is initialised) and exits 0; on a
/// parse error prints CLI11's message likewise and exits 2. Before either exit it finalizes
/// MPI if MPI is initialised and not yet finalized, so mpirun sees a clean exit: call it on
/// every rank, before any other communication.
Flags parse_flags(int argc, char** argv);

/// The message sizes a sweep visits: min_size, then powers of two above it (1 after 0) up to
/// and including max_size. Does not block.
std::vector<std::size_t> message_sizes(const Flags& flags);

/// Runs `measure` `repeat` times and returns the median of the results (the mean of the two
/// middle ones for an even count), or NaN if any run returned NaN. The median, not the best,
/// because the machines are noisy in both directions and it needs no knowledge of whether
/// higher is better. Blocks as long as `measure` does; collective if `measure` is.
template <class Measure>
double median_of(int repeat, Measure&& measure) {
  std::vector<double> runs;
  runs.reserve(static_cast<std::size_t>(std::max(repeat, 1)));
  for (int i = 0; i < std::max(repeat, 1); ++i) {
    runs.push_back(measure());
  }
  if (std::any_of(runs.begin(), runs.end(), [](double v) { return std::isnan(v); })) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  std::sort(runs.begin(), runs.end());
  const std::size_t n = runs.size();
  return n % 2 == 1 ? runs[n / 2] : (runs[n / 2 - 1] + runs[n / 2]) / 2;
}

// -- results --------------------------------------------------------------------------------

/// One measured figure, and how it compares with the raw-MPI baseline measured in the same run.
struct Row {
  /// What was measured, e.g. "farm w64 b1"; keep it free of spaces at either end.
  std::string name;
  /// The figure; NaN means "not measured" (e.g. latency on one rank).
  double value;
  /// Its unit, e.g. "tasks/s", "us", "msgs/s".
  std::string unit;
  /// value divided by the raw-MPI figure for the same thing, if there is one.
  std::optional<double> ratio_to_raw;
  /// Free text shown last, e.g. "batch 100"; may be empty.
  std::string note;
};

/// Formats a figure for people: 3 significant digits from 0.001 to 1000 (0.183, 12.4, 998),
/// whole numbers below 10 000 (1234), else 3 significant digits with an exponent (4.21e+06);
/// "n/a" for NaN. Does not block.
std::string format_value(double value);

/// Prints `title` and a fixed-width table with the columns name, value, unit, ratio (written
/// like `0.62x`, `-` when absent) and note. Not collective: call it on one rank.
void print_table(std::FILE* out, const std::string& title, const std::vector<Row>& rows);

/// Writes `{"context": {...}, "results": [{"name", "value", "unit", "ratio_to_raw", "note"}]}`
/// to `path` (ratio_to_raw null when absent, a NaN value as null, note only when not empty).
/// Not collective: call it on one rank. Throws std::runtime_error if the file cannot be
/// written.
void write_json(const std::string& path, const nlohmann::json& context,
                const std::vector<Row>& rows);

/// Describes where a result came from: ranks in `comm`, the calling rank's host name, the
/// date (ISO 8601 UTC), the MPI library and standard version, the compiler, whether it
/// optimised, and the build type when the macro CADRE_BUILD_TYPE is defined. Not collective;
/// does not block.
nlohmann::json base_context(MPI_Comm comm);

}  // namespace cadre::bench
