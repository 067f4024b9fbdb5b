#include "harness.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <system_error>

namespace cadre::bench {

long status_kb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  return -1;
}

namespace {

/// The rank in MPI_COMM_WORLD, or 0 when MPI is not (or no longer) initialised.
int world_rank() {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  int rank = 0;
  if (initialized && !finalized) {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  }
  return rank;
}

/// Finalizes MPI if this process initialised it and has not finalized it, then exits. Every
/// rank parses the same argv, so every rank comes here together and MPI_Finalize cannot hang.
[[noreturn]] void finalize_and_exit(int code) {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) {
    MPI_Finalize();
  }
  std::exit(code);
}

/// Parses a whole string as a byte count; nullopt if any character is left over.
std::optional<std::size_t> parse_size(std::string_view text) {
  std::size_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) {
    return std::nullopt;
  }
  return value;
}

/// Applies `-m MIN:MAX` or `-m N` to flags; throws CLI::ValidationError when it is malformed.
void apply_size_range(const std::string& text, Flags& flags) {
  const auto colon = text.find(':');
  std::optional<std::size_t> lo;
  std::optional<std::size_t> hi;
  if (colon == std::string::npos) {
    lo = hi = parse_size(text);
  } else {
    lo = parse_size(std::string_view(text).substr(0, colon));
    hi = parse_size(std::string_view(text).substr(colon + 1));
  }
  if (!lo || !hi) {
    throw CLI::ValidationError("-m", "expected MIN:MAX or N in bytes, got '" + text + "'");
  }
  if (*lo > *hi) {
    throw CLI::ValidationError("-m", "MIN is larger than MAX in '" + text + "'");
  }
  flags.min_size = *lo;
  flags.max_size = *hi;
}

/// Rejects numbers below `min` with a message people can read (CLI11's PositiveNumber prints
/// the largest double).
CLI::Validator at_least(long min) {
  return CLI::Validator(
      [min](std::string& text) -> std::string {
        long value = 0;
        const char* end = text.data() + text.size();
        auto [ptr, ec] = std::from_chars(text.data(), end, value);
        if (ec != std::errc() || ptr != end) {
          return "expected an integer, got '" + text + "'";
        }
        return value < min ? fmt::format("must be at least {}, got {}", min, value) : "";
      },
      std::string());
}

}  // namespace

// -- flags ----------------------------------------------------------------------------------

Flags parse_flags(int argc, char** argv) {
  Flags flags;
  std::string size_range;
  CLI::App app{"cadre-bench: cadre measured beside raw MPI in the same job"};
  app.add_option("MODE", flags.mode, "tasks, latency, msgrate, ring, bcast, idle, flood or spawn")
      ->required();
  app.add_option("-m,--message-size", size_range, "message sizes in bytes: MIN:MAX or N")
      ->type_name("MIN:MAX");
  app.add_option("-i,--iterations", flags.iterations, "timed iterations per size")
      ->check(at_least(1))
      ->capture_default_str();
  app.add_option("-x,--warmup", flags.warmup, "untimed iterations before the timed ones")
      ->check(at_least(0))
      ->capture_default_str();
  app.add_option("-n,--tasks", flags.tasks, "tasks per task-farm measurement")
      ->check(at_least(1))
      ->capture_default_str();
  app.add_option("-w,--window", flags.window, "outstanding messages or tasks per peer")
      ->check(at_least(1))
      ->capture_default_str();
  app.add_option("--chunk", flags.chunk, "tasks per message; 0 lets the mode choose")
      ->check(at_least(0))
      ->capture_default_str();
  app.add_option("-r,--repeat", flags.repeat, "runs per measurement; the median is reported")
      ->check(at_least(1))
      ->capture_default_str();
  app.add_option("--mailbox-limit", flags.mailbox_limit,
                 "flood: the mailbox bound in messages; 0 keeps the default");
  app.add_option("--from", flags.from, "flood: who sends, process or driver")
      ->check(CLI::IsMember({"process", "driver"}));
  app.add_option("--json", flags.json, "also write the results to this file as JSON")
      ->type_name("FILE");

  // Only rank 0 speaks, so a mistake in argv is reported once, not once per rank.
  std::ostream quiet(nullptr);
  const bool speaker = world_rank() == 0;
  try {
    app.parse(argc, argv);
    if (!size_range.empty()) {
      apply_size_range(size_range, flags);
    }
  } catch (const CLI::Success& e) {
    app.exit(e, speaker ? std::cout : quiet, speaker ? std::cerr : quiet);
    std::cout.flush();
    finalize_and_exit(0);
  } catch (const CLI::ParseError& e) {
    app.exit(e, speaker ? std::cout : quiet, speaker ? std::cerr : quiet);
    std::cerr.flush();
    finalize_and_exit(2);
  }
  return flags;
}

std::vector<std::size_t> message_sizes(const Flags& flags) {
  std::vector<std::size_t> sizes{flags.min_size};
  std::size_t next = 1;
  while (next <= flags.min_size) {
    next *= 2;
  }
  for (; next <= flags.max_size; next *= 2) {
    sizes.push_back(next);
  }
  if (sizes.back() != flags.max_size) {
    sizes.push_back(flags.max_size);
  }
  return sizes;
}

// -- results --------------------------------------------------------------------------------

std::string format_value(double value) {
  if (std::isnan(value)) {
    return "n/a";
  }
  if (std::isinf(value)) {
    return value > 0 ? "inf" : "-inf";
  }
  const double magnitude = std::fabs(value);
  if (magnitude == 0) {
    return "0";
  }
  if (magnitude >= 1e4 || magnitude < 1e-3) {
    return fmt::format("{:.2e}", value);
  }
  if (magnitude >= 1e3) {
    return fmt::format("{:.0f}", value);
  }
  return fmt::format("{:.3g}", value);
}

void print_table(std::FILE* out, const std::string& title, const std::vector<Row>& rows) {
  struct Cells {
    std::string name, value, unit, ratio, note;
  };
  std::vector<Cells> lines;
  lines.reserve(rows.size() + 2);
  lines.push_back({"name", "value", "unit", "ratio", "note"});
  for (const Row& row : rows) {
    lines.push_back({row.name, format_value(row.value), row.unit,
                     row.ratio_to_raw ? fmt::format("{:.2f}x", *row.ratio_to_raw) : "-", row.note});
  }
  std::size_t w_name = 0, w_value = 0, w_unit = 0, w_ratio = 0;
  for (const Cells& c : lines) {
    w_name = std::max(w_name, c.name.size());
    w_value = std::max(w_value, c.value.size());
    w_unit = std::max(w_unit, c.unit.size());
    w_ratio = std::max(w_ratio, c.ratio.size());
  }
  const auto emit = [&](const Cells& c) {
    std::string line = fmt::format("{:<{}}  {:>{}}  {:<{}}  {:>{}}  {}", c.name, w_name, c.value,
                                   w_value, c.unit, w_unit, c.ratio, w_ratio, c.note);
    line.erase(line.find_last_not_of(' ') + 1);
    std::fputs(line.c_str(), out);
    std::fputc('\n', out);
  };
  std::fprintf(out, "# %s\n", title.c_str());
  emit(lines.front());
  emit({std::string(w_name, '-'), std::string(w_value, '-'), std::string(w_unit, '-'),
        std::string(w_ratio, '-'), "----"});
  for (std::size_t i = 1; i < lines.size(); ++i) {
    emit(lines[i]);
  }
  std::fflush(out);
}

void write_json(const std::string& path, const nlohmann::json& context,
                const std::vector<Row>& rows) {
  // ordered_json keeps "context" before "results" and each result's keys in reading order.
  nlohmann::ordered_json document;
  document["context"] = context;
  auto& results = document["results"] = nlohmann::ordered_json::array();
  for (const Row& row : rows) {
    nlohmann::ordered_json entry;
    entry["name"] = row.name;
    entry["value"] = std::isfinite(row.value) ? nlohmann::ordered_json(row.value) : nullptr;
    entry["unit"] = row.unit;
    entry["ratio_to_raw"] =
        row.ratio_to_raw ? nlohmann::ordered_json(*row.ratio_to_raw) : nlohmann::ordered_json();
    if (!row.note.empty()) {
      entry["note"] = row.note;
    }
    results.push_back(std::move(entry));
  }
  std::ofstream file(path);
  file << document.dump(2) << '\n';
  file.close();
  if (!file) {
    throw std::runtime_error(
        fmt::format("cannot write benchmark results to '{}': {}", path, std::strerror(errno)));
  }
}

// -- context --------------------------------------------------------------------------------

#define CADRE_BENCH_STR2(x) #x
#define CADRE_BENCH_STR(x) CADRE_BENCH_STR2(x)

nlohmann::json base_context(MPI_Comm comm) {
  nlohmann::json context;
  int ranks = 0;
  MPI_Comm_size(comm, &ranks);
  context["ranks"] = ranks;

  char host[MPI_MAX_PROCESSOR_NAME] = {};
  int host_length = 0;
  MPI_Get_processor_name(host, &host_length);
  context["host"] = std::string(host, static_cast<std::size_t>(host_length));

  char date[32] = {};
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &utc);
  context["date"] = date;

  char library[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int library_length = 0;
  MPI_Get_library_version(library, &library_length);
  std::string library_text(library, std::strlen(library));
  library_text.erase(library_text.find_last_not_of(" \t\r\n") + 1);
  context["mpi_library"] = library_text;
  int version = 0;
  int subversion = 0;
  MPI_Get_version(&version, &subversion);
  context["mpi_version"] = fmt::format("{}.{}", version, subversion);

#if defined(__clang__)
  context["compiler"] = "clang " __clang_version__;
#elif defined(__GNUC__)
  context["compiler"] = "g++ " __VERSION__;
#elif defined(__VERSION__)
  context["compiler"] = __VERSION__;
#endif
#if defined(__OPTIMIZE__)
  context["optimized"] = true;
#else
  context["optimized"] = false;
#endif
#if defined(CADRE_BUILD_TYPE)
  // Accepts both -DCADRE_BUILD_TYPE=Release and -DCADRE_BUILD_TYPE="Release".
  std::string build_type = CADRE_BENCH_STR(CADRE_BUILD_TYPE);
  if (build_type.size() >= 2 && build_type.front() == '"' && build_type.back() == '"') {
    build_type = build_type.substr(1, build_type.size() - 2);
  }
  context["build_type"] = build_type;
#endif
  return context;
}

}  // namespace cadre::bench
