/// \file cadre_bench.cpp
/// cadre-bench MODE [flags]: cadre measured beside raw MPI in the same job, reported as
/// ratios. Modes:
///   tasks  trivial-task throughput: run() one at a time, run() with a window of futures,
///          map() over -n inputs and over 1e7 (tasks_map_1e7, also compared with a map
///          of 1e6 inputs in the same run); beside raw-MPI task farms (one task per
///          message, window per worker: the baseline; and batched, for reference).
///   idle   CPU used by an idle worker and the wake-up latency of an idle node, beside a
///          raw-MPI rank waiting in MPI_Recv and the kernel's own futex wake-up (wake_floor).
///   latency, msgrate, ring: processes and mailboxes (process_modes.cpp).
///   flood  a flood into a mailbox that is not read: memory and stalls (flood_mode.cpp).
/// Flags: -n TASKS, -w WINDOW, --chunk N, -r REPEAT, -i ITER, -x WARMUP, --json FILE.

#include <fmt/format.h>
#include <mpi.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cadre/cadre.hpp>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "flood_mode.hpp"
#include "harness.hpp"
#include "native_mode.hpp"
#include "process_modes.hpp"
#include "raw_mpi.hpp"
#include "spawn_mode.hpp"
#include "wake_floor.hpp"

namespace bench = cadre::bench;
using Clock = std::chrono::steady_clock;

namespace {

long square(long x) { return x * x; }
CADRE_TASK(square);

int noop() { return 0; }
CADRE_TASK(noop);

/// CPU seconds this process has used so far (all threads).
double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}
CADRE_TASK(cpu_seconds);

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::optional<double> ratio(double v, double raw) {
  if (raw <= 0) return std::nullopt;
  return v / raw;
}

// -- tasks ------------------------------------------------------------------------------

void nothing() {}
CADRE_TASK(nothing);

/// The driver's own round trips: run(on(w), noop).get() in µs, and processes spawned on node
/// `w` per second (each spawn waits for its pid), medians of f.repeat.
void driver_rows(const bench::Flags& f, std::vector<bench::Row>& rows, double raw_rtt_us) {
  auto ns = cadre::nodes();
  if (ns.size() < 2) return;
  const cadre::NodeId w = ns[1];
  const long n = std::min<long>(f.tasks, 20000);
  double rtt = bench::median_of(f.repeat, [&] {
    auto t0 = Clock::now();
    for (long i = 0; i < n; ++i) cadre::run(cadre::on(w), noop).get();
    return seconds_since(t0) * 1e6 / static_cast<double>(n);
  });
  double spawns = bench::median_of(f.repeat, [&] {
    auto t0 = Clock::now();
    for (long i = 0; i < n; ++i) cadre::spawn(cadre::on(w), nothing);
    return static_cast<double>(n) / seconds_since(t0);
  });
  rows.push_back({"raw_task_rtt", raw_rtt_us, "us", 1.0,
                  "raw MPI, one task message and its result at a time"});
  rows.push_back({"run_rtt_driver", rtt, "us", ratio(rtt, raw_rtt_us),
                  "run(on(w), noop).get() from the driver, back to back"});
  rows.push_back({"spawn_rate_driver", spawns, "procs/s", std::nullopt,
                  "spawn(on(w), body) from the driver, one at a time (each waits for its pid)"});
}

void tasks_mode(const bench::Flags& f, std::vector<bench::Row>& rows, double raw_window,
                double raw_batch, double raw_rtt_us) {
  const long n = f.tasks;
  const int workers = std::max<int>(1, static_cast<int>(cadre::nodes().size()) - 1);
  driver_rows(f, rows, raw_rtt_us);
  // run(), one task at a time: a full round trip each.
  const long n_one = std::min<long>(n, 20000);
  double one = bench::median_of(f.repeat, [&] {
    auto t0 = Clock::now();
    long bad = 0;
    for (long i = 0; i < n_one; ++i) bad += cadre::run(cadre::any, square, i).get() != i * i;
    if (bad) throw cadre::Error("tasks_run: wrong results");
    return static_cast<double>(n_one) / seconds_since(t0);
  });
  // run() with up to `window` futures outstanding per worker.
  const long window = static_cast<long>(f.window) * workers;
  double windowed = bench::median_of(f.repeat, [&] {
    std::vector<cadre::Future<long>> fs(static_cast<std::size_t>(window));
    auto t0 = Clock::now();
    long bad = 0;
    for (long i = 0; i < n; ++i) {
      auto& slot = fs[static_cast<std::size_t>(i % window)];
      if (slot.valid()) {
        long j = i - window;
        bad += slot.get() != j * j;
      }
      slot = cadre::run(cadre::any, square, i);
    }
    for (long i = std::max(0L, n - window); i < n; ++i)
      bad += fs[static_cast<std::size_t>(i % window)].get() != i * i;
    if (bad) throw cadre::Error("tasks_run_window: wrong results");
    return static_cast<double>(n) / seconds_since(t0);
  });
  // map() over all inputs, every result checked.
  std::size_t chunk = f.chunk > 0 ? static_cast<std::size_t>(f.chunk) : 0;
  auto map_rate = [&](long count, const char* row) {
    std::vector<long> xs(static_cast<std::size_t>(count));
    std::iota(xs.begin(), xs.end(), 0L);
    return bench::median_of(f.repeat, [&] {
      auto t0 = Clock::now();
      auto fs = cadre::map(cadre::any, square, xs, {.chunk = chunk});
      long bad = 0;
      for (long i = 0; i < count; ++i) bad += fs[static_cast<std::size_t>(i)].get() != i * i;
      const double rate = static_cast<double>(count) / seconds_since(t0);
      if (bad) throw cadre::Error(std::string(row) + ": wrong results");
      return rate;  // the futures are released outside the timed part
    });
  };
  double mapped = map_rate(n, "tasks_map");
  // A huge map, beside a map of 1e6 inputs in this run (tasks_map's own when -n is 1e6).
  const long huge = 10'000'000, mid = 1'000'000;
  double mapped_huge = map_rate(huge, "tasks_map_1e7");
  double mapped_mid = n == mid ? mapped : map_rate(mid, "tasks_map (1e6 reference)");
  std::string w = "window " + std::to_string(f.window) + "/worker";
  rows.push_back({"raw_farm_window", raw_window, "tasks/s", 1.0,
                  "raw MPI, 1 task per message, " + w + " (baseline)"});
  rows.push_back(
      {"raw_farm_batch", raw_batch, "tasks/s", ratio(raw_batch, raw_window),
       "raw MPI, " + std::to_string(f.chunk > 0 ? f.chunk : 100) + " tasks per message, " + w});
  rows.push_back({"tasks_run", one, "tasks/s", ratio(one, raw_window),
                  "cadre::run + get, one at a time, " + std::to_string(n_one) + " tasks"});
  rows.push_back({"tasks_run_window", windowed, "tasks/s", ratio(windowed, raw_window),
                  "cadre::run, " + w + " of futures"});
  const std::string chunked = "chunk " + (chunk ? std::to_string(chunk) : std::string("auto"));
  rows.push_back({"tasks_map", mapped, "tasks/s", ratio(mapped, raw_window),
                  "cadre::map, " + chunked + ", " + std::to_string(n) + " inputs"});
  rows.push_back({"tasks_map_1e7", mapped_huge, "tasks/s", ratio(mapped_huge, raw_window),
                  fmt::format("cadre::map, {}, 1e7 inputs: {:.2f}x the rate of a 1e6-input map "
                              "({})",
                              chunked, mapped_mid > 0 ? mapped_huge / mapped_mid : 0.0,
                              bench::format_value(mapped_mid))});
}

// -- idle ---------------------------------------------------------------------------------

/// Raw MPI: the median round trip of an 8-byte message from rank 0 to rank 1 (waiting in
/// MPI_Recv, polling) and back, each sent after rank 0 slept 60 ms: what a wake-up costs
/// when nobody sleeps (cold caches, an idle core). Rank 0's answer; 0 elsewhere.
double raw_idle_rtt_us() {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size < 2 || rank > 1) {
    MPI_Barrier(MPI_COMM_WORLD);
    return 0;
  }
  std::vector<double> us;
  for (int i = 0; i < 20; ++i) {
    std::int64_t x = i;
    if (rank == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(60));
      auto t = Clock::now();
      MPI_Send(&x, 1, MPI_INT64_T, 1, 98, MPI_COMM_WORLD);
      MPI_Recv(&x, 1, MPI_INT64_T, 1, 98, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
    } else {
      MPI_Recv(&x, 1, MPI_INT64_T, 0, 98, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(&x, 1, MPI_INT64_T, 0, 98, MPI_COMM_WORLD);
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank != 0) return 0;
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

/// Raw MPI: rank 1 waits in MPI_Recv for `secs`; returns its CPU use (fraction of a core).
double raw_idle_cpu(double secs) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  double use = 0;
  if (size < 2) return 0;
  if (rank == 0) {
    std::this_thread::sleep_for(std::chrono::duration<double>(secs));
    int x = 0;
    MPI_Send(&x, 1, MPI_INT, 1, 99, MPI_COMM_WORLD);
    MPI_Recv(&use, 1, MPI_DOUBLE, 1, 99, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  } else if (rank == 1) {
    double c0 = cpu_seconds();
    auto t0 = Clock::now();
    int x;
    MPI_Recv(&x, 1, MPI_INT, 0, 99, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    use = (cpu_seconds() - c0) / seconds_since(t0);
    MPI_Send(&use, 1, MPI_DOUBLE, 0, 99, MPI_COMM_WORLD);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  return use;
}

void idle_mode(const bench::Flags& f, std::vector<bench::Row>& rows, double raw_cpu,
               double raw_latency_us, double raw_idle_rtt, double futex_rtt, double futex_call) {
  auto ns = cadre::nodes();
  if (ns.size() < 2) throw cadre::Error("idle mode needs at least 2 ranks");
  cadre::NodeId w = ns[1];
  // Idle CPU: what the worker's process used while nobody sent it anything.
  const double secs = 2.0;
  double c0 = cadre::run(cadre::on(w), cpu_seconds).get();
  auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(secs));
  double c1 = cadre::run(cadre::on(w), cpu_seconds).get();
  double cpu = (c1 - c0) / seconds_since(t0);
  // Round trips to a busy node, then to a node idle long enough to sleep.
  auto rtt = [&] {
    auto t = Clock::now();
    cadre::run(cadre::on(w), noop).get();
    return std::chrono::duration<double, std::micro>(Clock::now() - t).count();
  };
  std::vector<double> hot, cold;
  for (int i = 0; i < std::max(f.warmup, 10); ++i) rtt();
  for (int i = 0; i < std::max(f.iterations / 10, 20); ++i) hot.push_back(rtt());
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    cold.push_back(rtt());
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  double h = median(hot), c = median(cold);
  rows.push_back({"raw_idle_cpu", raw_cpu * 100, "% of a core", 1.0,
                  "raw MPI rank waiting in MPI_Recv (baseline)"});
  rows.push_back(
      {"idle_cpu", cpu * 100, "% of a core", ratio(cpu, raw_cpu), "idle cadre worker, over 2 s"});
  rows.push_back({"raw_latency_8B", raw_latency_us, "us", 1.0, "raw MPI ping-pong, one way"});
  rows.push_back({"task_rtt_busy", h, "us", ratio(h, 2 * raw_latency_us),
                  "run(on(w), noop).get() back to back (ratio: to a raw round trip)"});
  rows.push_back({"raw_idle_rtt", raw_idle_rtt, "us", 1.0,
                  "raw MPI round trip after 60 ms without traffic, the receiver polling in "
                  "MPI_Recv (median)"});
  rows.push_back({"idle_wakeup", c, "us", ratio(c, raw_idle_rtt),
                  "the same to a node idle for 60 ms (median; ratio: to raw_idle_rtt)"});
  if (futex_rtt > 0) {
    rows.push_back({"raw_futex_wake_rtt", futex_rtt, "us", 1.0,
                    fmt::format("the kernel alone: a futex wake of rank 1 (on the other core when "
                                "bound), which sleeps 1 ms at a time, and its answer, after 60 "
                                "ms idle "
                                "(median; the FUTEX_WAKE call itself {:.1f} us)",
                                futex_call)});
    rows.push_back({"idle_wakeup_vs_futex", c, "us", ratio(c, futex_rtt),
                    "idle_wakeup against raw_futex_wake_rtt: the floor for a node that sleeps"});
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == bench::kRawSpawnChild) {
    MPI_Init(&argc, &argv);
    return bench::raw_spawn_child();
  }
  if (argc > 1 && std::string(argv[1]) == bench::kRawEchoChild) {
    MPI_Init(&argc, &argv);
    return bench::raw_echo_child();
  }
  bench::Flags f = bench::parse_flags(argc, argv);
  const std::vector<std::string> modes = {"tasks", "idle",  "latency", "msgrate", "ring",
                                          "bcast", "flood", "spawn",   "native"};
  if (std::find(modes.begin(), modes.end(), f.mode) == modes.end()) {
    std::fprintf(
        stderr,
        "cadre-bench: unknown mode '%s' (modes: tasks, idle, latency, msgrate, ring, bcast, "
        "flood, spawn, native)\n",
        f.mode.c_str());
    return 2;
  }
  // What cadre asks for when it initialises MPI itself: a waiting driver serves the loop.
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  // Raw-MPI baselines first, in this same job, so the ratios survive a noisy machine.
  nlohmann::json context = bench::base_context(MPI_COMM_WORLD);
  MPI_Comm parent = MPI_COMM_NULL;
  MPI_Comm_get_parent(&parent);
  const bool spawned = parent != MPI_COMM_NULL;  // a node spawn_nodes started: it only serves
  std::vector<double> raw;
  if (f.mode == "tasks") {
    raw.push_back(bench::median_of(f.repeat, [&] {
      return bench::raw::farm_tasks_per_sec(MPI_COMM_WORLD, f.tasks, f.window, 1);
    }));
    raw.push_back(bench::median_of(f.repeat, [&] {
      return bench::raw::farm_tasks_per_sec(MPI_COMM_WORLD, f.tasks, f.window,
                                            f.chunk > 0 ? f.chunk : 100);
    }));
    // One task at a time: the raw round trip a driver's run().get() is measured against.
    raw.push_back(1e6 / bench::median_of(f.repeat, [&] {
                    return bench::raw::farm_tasks_per_sec(MPI_COMM_WORLD,
                                                          std::min<long>(f.tasks, 20000), 1, 1);
                  }));
  } else if (f.mode == "idle") {
    raw.push_back(raw_idle_cpu(2.0));
    raw.push_back(bench::raw::pingpong_latency_us(MPI_COMM_WORLD, 8, f.iterations, f.warmup));
    raw.push_back(raw_idle_rtt_us());
    double call = 0;
    raw.push_back(bench::futex_wake_rtt_us(MPI_COMM_WORLD, call));
    raw.push_back(call);
  } else if (f.mode == "flood") {
    bench::flood_environment(f);  // its baseline runs after the runtime, in the same job
  } else if (f.mode == "spawn") {
    char self_path[4096] = {};
    if (::readlink("/proc/self/exe", self_path, sizeof self_path - 1) <= 0) return 2;
    if (!spawned) raw = bench::raw_spawn_baselines(f, self_path);
  } else if (f.mode == "native") {
    char self_path[4096] = {};
    if (::readlink("/proc/self/exe", self_path, sizeof self_path - 1) <= 0) return 2;
    if (!spawned) raw = bench::raw_echo_baselines(f, self_path);
  } else {
    raw = bench::process_baselines(f);
  }
  std::vector<bench::Row> rows;
  cadre::Options o;
  if (f.mode == "ring") o.stack_size = 32 * 1024;  // ring members need little stack
  int st = cadre::launch(
      argc, argv,
      [&] {
        if (f.mode == "tasks")
          tasks_mode(f, rows, raw[0], raw[1], raw[2]);
        else if (f.mode == "idle")
          idle_mode(f, rows, raw[0], raw[1], raw[2], raw[3], raw[4]);
        else if (f.mode == "flood")
          bench::flood_mode(f, rows);
        else if (f.mode == "spawn")
          bench::spawn_mode(f, raw, rows);
        else if (f.mode == "native")
          bench::native_mode(f, raw, rows);
        else
          bench::process_mode(f, raw, rows);
        return 0;
      },
      o);
  if (f.mode == "flood" && st == 0) bench::flood_baseline(f, rows);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0 && st == 0 && !spawned) {
    bench::print_table(stdout, "cadre-bench " + f.mode, rows);
    if (!f.json.empty()) {
      context["mode"] = f.mode;
      context["tasks"] = f.tasks;
      context["window"] = f.window;
      bench::write_json(f.json, context, rows);
    }
  }
  MPI_Finalize();
  return st;
}
