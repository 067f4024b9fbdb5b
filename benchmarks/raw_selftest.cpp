/// \file raw_selftest.cpp
/// Runs every raw-MPI baseline once with the harness around it, to check both on 1, 2 and 3+
/// ranks: `raw_selftest MODE [flags]` with MODE all, tasks, latency, msgrate or bcast.

#include <fmt/format.h>
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "harness.hpp"
#include "raw_mpi.hpp"

namespace {

namespace bench = cadre::bench;

/// Keeps a sweep short: at most about 256 MiB moved per size.
long capped(long wanted, std::size_t bytes) {
  const long cap = static_cast<long>((256L << 20) / std::max<std::size_t>(bytes, 1));
  return std::max(1L, std::min(wanted, cap));
}

std::vector<bench::Row> run(MPI_Comm comm, const bench::Flags& flags) {
  std::vector<bench::Row> rows;
  const bool all = flags.mode == "all";
  const auto median = [&](auto&& measure) { return bench::median_of(flags.repeat, measure); };
  if (all || flags.mode == "tasks") {
    const int batch = flags.chunk > 0 ? flags.chunk : 100;
    for (int b : {1, batch}) {
      const double rate = median(
          [&] { return bench::raw::farm_tasks_per_sec(comm, flags.tasks, flags.window, b); });
      rows.push_back({"raw farm b" + std::to_string(b) + " w" + std::to_string(flags.window), rate,
                      "tasks/s", std::nullopt, std::to_string(flags.tasks) + " tasks"});
    }
  }
  if (all || flags.mode == "latency") {
    for (std::size_t bytes : bench::message_sizes(flags)) {
      const int iterations = static_cast<int>(capped(flags.iterations, bytes));
      const double us = median(
          [&] { return bench::raw::pingpong_latency_us(comm, bytes, iterations, flags.warmup); });
      rows.push_back(
          {"raw latency " + std::to_string(bytes) + "B", us, "us", std::nullopt, "one way"});
    }
  }
  if (all || flags.mode == "msgrate") {
    for (std::size_t bytes : bench::message_sizes(flags)) {
      const long messages = capped(static_cast<long>(flags.iterations) * flags.window, bytes);
      const double rate =
          median([&] { return bench::raw::message_rate(comm, bytes, flags.window, messages); });
      rows.push_back({"raw msgrate " + std::to_string(bytes) + "B w" + std::to_string(flags.window),
                      rate, "msgs/s", std::nullopt, std::to_string(messages) + " messages"});
    }
  }
  if (all || flags.mode == "bcast") {
    for (std::size_t bytes : bench::message_sizes(flags)) {
      const int iterations = static_cast<int>(capped(flags.iterations, bytes));
      const double us = median([&] { return bench::raw::tree_bcast_us(comm, bytes, iterations); });
      rows.push_back(
          {"raw tree bcast " + std::to_string(bytes) + "B", us, "us", std::nullopt, "with ack"});
    }
  }
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  const bench::Flags flags = bench::parse_flags(argc, argv);
  MPI_Comm comm = MPI_COMM_WORLD;
  int rank = 0;
  int size = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  try {
    const std::vector<bench::Row> rows = run(comm, flags);
    if (rank == 0) {
      bench::print_table(
          stdout, fmt::format("raw MPI baselines, {} rank{}", size, size == 1 ? "" : "s"), rows);
      if (!flags.json.empty()) {
        nlohmann::json context = bench::base_context(comm);
        context["mode"] = flags.mode;
        context["repeat"] = flags.repeat;
        bench::write_json(flags.json, context, rows);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "raw_selftest: rank %d: %s\n", rank, e.what());
    MPI_Abort(comm, 1);
  }
  MPI_Finalize();
  return 0;
}
