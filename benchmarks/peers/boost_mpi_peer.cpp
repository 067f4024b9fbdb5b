/// \file boost_mpi_peer.cpp
/// cadre-peer-boost MODE [flags]: the Boost.MPI programs that benchmarks/peers/compare sets
/// beside cadre-bench, each with its raw-MPI baseline (C API, benchmarks/raw_mpi.hpp) in the
/// same job. Modes:
///   latency  ping-pong between ranks 0 and 1: an 8-byte integer (sent as an MPI datatype),
///            then std::vector<char> payloads over -m MIN:MAX, serialized (a struct holding
///            the vector, through Boost.Serialization's packed archive) and sent directly
///            (Boost.MPI's std::vector<T> path for MPI datatypes, no serialization).
///   farm     rank 0 keeps -w serialized task messages ({int id; int64 arg}) outstanding per
///            worker with comm.isend, workers answer each with a serialized result.
/// Flags are cadre-bench's (benchmarks/harness.hpp): -m, -i, -x, -n, -w, -r, --json FILE.

#include <mpi.h>

#include <algorithm>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <boost/mpi/request.hpp>
#include <boost/mpi/status.hpp>
#include <boost/serialization/vector.hpp>
#include <boost/version.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness.hpp"
#include "raw_mpi.hpp"

namespace bench = cadre::bench;
namespace mpi = boost::mpi;
using Clock = std::chrono::steady_clock;

namespace {

/// The tags of this program's own messages (the raw baselines use 0x6a00 to 0x6aff).
enum Tag : int { kPing = 0x7100, kTask, kResult };

/// A task of the farm: square `arg`. An id below 0 tells the worker the run is over.
struct Task {
  /// The task's number, or -1 to stop.
  int id = 0;
  /// The input.
  std::int64_t arg = 0;
  /// Boost.Serialization's hook: both members, in order.
  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& id& arg;
  }
};

/// A worker's answer to a Task.
struct Result {
  /// The id of the task it answers.
  int id = 0;
  /// arg squared.
  std::int64_t value = 0;
  /// Boost.Serialization's hook: both members, in order.
  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& id& value;
  }
};

/// A byte payload that Boost.MPI must serialize (a user type holding a vector).
struct Payload {
  /// The bytes.
  std::vector<char> bytes;
  /// Boost.Serialization's hook: the vector.
  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& bytes;
  }
};

/// Seconds from `t0` to now.
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// `value / raw`, or nothing when the baseline is missing.
std::optional<double> ratio(double value, double raw) {
  if (!(raw > 0)) return std::nullopt;
  return value / raw;
}

// -- latency ------------------------------------------------------------------------------

/// Ping-pong of `msg` between ranks 0 and 1 of `comm`, `iters` timed round trips after
/// `warmup` untimed ones; returns µs one way on rank 0 (0 elsewhere). Collective.
template <class T>
double pingpong_us(const mpi::communicator& comm, const T& msg, int iters, int warmup) {
  double us = 0;
  T back = msg;
  if (comm.rank() == 0) {
    for (int i = 0; i < warmup; ++i) {
      comm.send(1, kPing, msg);
      comm.recv(1, kPing, back);
    }
    auto t0 = Clock::now();
    for (int i = 0; i < iters; ++i) {
      comm.send(1, kPing, msg);
      comm.recv(1, kPing, back);
    }
    us = seconds_since(t0) * 1e6 / (2.0 * iters);
  } else if (comm.rank() == 1) {
    for (int i = 0; i < warmup + iters; ++i) {
      comm.recv(0, kPing, back);
      comm.send(0, kPing, back);
    }
  }
  comm.barrier();
  return us;
}

/// The latency mode: rows for the 8-byte integer and for each payload size, serialized and
/// direct, each beside raw MPI's ping-pong of the same size in this job.
void latency_mode(const mpi::communicator& comm, const bench::Flags& f,
                  std::vector<bench::Row>& rows) {
  if (comm.size() < 2) throw std::runtime_error("cadre-peer-boost latency needs 2 ranks");
  const auto raw_us = [&](std::size_t bytes, int iters, int warmup) {
    return bench::median_of(f.repeat, [&] {
      return bench::raw::pingpong_latency_us(MPI_COMM_WORLD, bytes, iters, warmup);
    });
  };
  const double raw8 = raw_us(8, f.iterations, f.warmup);
  const double word = bench::median_of(
      f.repeat, [&] { return pingpong_us(comm, std::int64_t{42}, f.iterations, f.warmup); });
  rows.push_back({"raw_latency_8B", raw8, "us", 1.0, "MPI_Send/MPI_Recv ping-pong, one way"});
  rows.push_back({"boost_latency_8B", word, "us", ratio(word, raw8),
                  "comm.send/recv of a std::int64_t (an MPI datatype)"});
  // Larger payloads: a tenth of the iterations, as cadre-bench latency does.
  const int iters = std::max(10, f.iterations / 10);
  const int warmup = f.warmup / 10;
  for (std::size_t bytes : bench::message_sizes(f)) {
    const double raw = raw_us(bytes, iters, warmup);
    Payload payload{std::vector<char>(bytes, 'x')};
    const double ser =
        bench::median_of(f.repeat, [&] { return pingpong_us(comm, payload, iters, warmup); });
    const double direct =
        bench::median_of(f.repeat, [&] { return pingpong_us(comm, payload.bytes, iters, warmup); });
    const std::string size = std::to_string(bytes) + "B";
    const std::string raw_note = "; raw: " + bench::format_value(raw) + " us";
    rows.push_back({"boost_vec_ser_" + size, ser, "us", ratio(ser, raw),
                    "std::vector<char> in a serialized struct" + raw_note});
    rows.push_back({"boost_vec_direct_" + size, direct, "us", ratio(direct, raw),
                    "std::vector<char> sent directly (no serialization)" + raw_note});
  }
}

// -- farm ---------------------------------------------------------------------------------

/// One run of the serialized farm: `n` tasks, `window` outstanding per worker. Returns tasks/s
/// on rank 0 (0 elsewhere). Collective; throws std::runtime_error on rank 0 if a result is
/// wrong.
double farm_once(const mpi::communicator& comm, long n, int window) {
  comm.barrier();
  const int workers = comm.size() - 1;
  if (comm.rank() != 0) {
    for (;;) {
      Task t;
      comm.recv(0, kTask, t);
      if (t.id < 0) break;
      comm.send(0, kResult, Result{t.id, t.arg * t.arg});
    }
    return 0;
  }
  // Each worker answers in order, so its k-th result frees slot k % window of its ring.
  const auto w = static_cast<std::size_t>(window);
  std::vector<std::vector<mpi::request>> sends(static_cast<std::size_t>(workers),
                                               std::vector<mpi::request>(w));
  std::vector<long> answered(static_cast<std::size_t>(workers), 0);
  long next = 0;
  long done = 0;
  std::int64_t sum = 0;
  const auto send_next = [&](int worker, std::size_t slot) {
    const Task t{static_cast<int>(next), next};
    sends[static_cast<std::size_t>(worker - 1)][slot] = comm.isend(worker, kTask, t);
    ++next;
  };
  auto t0 = Clock::now();
  for (std::size_t slot = 0; slot < w; ++slot)
    for (int worker = 1; worker <= workers && next < n; ++worker) send_next(worker, slot);
  while (done < next) {
    Result r;
    const mpi::status st = comm.recv(mpi::any_source, kResult, r);
    const int worker = st.source();
    auto& count = answered[static_cast<std::size_t>(worker - 1)];
    const std::size_t slot = static_cast<std::size_t>(count % window);
    ++count;
    ++done;
    sum += r.value;
    sends[static_cast<std::size_t>(worker - 1)][slot].wait();
    if (next < n) send_next(worker, slot);
  }
  const double rate = static_cast<double>(n) / seconds_since(t0);
  for (int worker = 1; worker <= workers; ++worker) comm.send(worker, kTask, Task{-1, 0});
  std::int64_t want = 0;
  for (long i = 0; i < n; ++i) want += static_cast<std::int64_t>(i) * i;
  if (sum != want) throw std::runtime_error("cadre-peer-boost farm: wrong results");
  return rate;
}

/// The farm mode: the serialized Boost.MPI farm beside raw MPI's farm of one task per message
/// with the same window, in this job.
void farm_mode(const mpi::communicator& comm, const bench::Flags& f,
               std::vector<bench::Row>& rows) {
  if (comm.size() < 2) throw std::runtime_error("cadre-peer-boost farm needs 2 ranks");
  const double raw = bench::median_of(f.repeat, [&] {
    return bench::raw::farm_tasks_per_sec(MPI_COMM_WORLD, f.tasks, f.window, 1);
  });
  const double boost =
      bench::median_of(f.repeat, [&] { return farm_once(comm, f.tasks, f.window); });
  const std::string w = "window " + std::to_string(f.window) + "/worker";
  rows.push_back({"raw_farm_window", raw, "tasks/s", 1.0,
                  "raw MPI, 1 task per message, " + w + " (baseline)"});
  rows.push_back({"boost_farm_window", boost, "tasks/s", ratio(boost, raw),
                  "Boost.MPI isend/recv of serialized structs, 1 task per message, " + w});
}

}  // namespace

/// Parses the flags, runs one mode under Boost.MPI and reports it on rank 0.
int main(int argc, char** argv) {
  bench::Flags f = bench::parse_flags(argc, argv);
  if (f.mode != "latency" && f.mode != "farm") {
    std::fprintf(stderr, "cadre-peer-boost: unknown mode '%s' (modes: latency, farm)\n",
                 f.mode.c_str());
    return 2;
  }
  mpi::environment env(argc, argv);
  mpi::communicator comm;
  nlohmann::json context = bench::base_context(MPI_COMM_WORLD);
  std::vector<bench::Row> rows;
  if (f.mode == "latency")
    latency_mode(comm, f, rows);
  else
    farm_mode(comm, f, rows);
  if (comm.rank() == 0) {
    bench::print_table(stdout, "cadre-peer-boost " + f.mode, rows);
    if (!f.json.empty()) {
      context["peer"] = "Boost.MPI " + std::to_string(BOOST_VERSION / 100000) + "." +
                        std::to_string(BOOST_VERSION / 100 % 1000);
      context["mode"] = f.mode;
      context["tasks"] = f.tasks;
      context["window"] = f.window;
      bench::write_json(f.json, context, rows);
    }
  }
  return 0;
}
