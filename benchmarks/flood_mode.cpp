/// \file flood_mode.cpp
/// The flood mode of cadre-bench (see flood_mode.hpp).

#include "flood_mode.hpp"

#include <mpi.h>

#include <algorithm>
#include <cadre/cadre.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

namespace cadre::bench {

/// The flood's message: 8 bytes, copied with one memcpy.
struct FloodWord {
  std::uint64_t v = 0;
};
/// Ends the sink's wait (it arrives after the whole flood).
struct FloodEnd {
  template <class A>
  void serialize(A&, unsigned) {}
};

}  // namespace cadre::bench

CADRE_BITWISE(cadre::bench::FloodWord);
CADRE_MESSAGE(cadre::bench::FloodWord);
CADRE_MESSAGE(cadre::bench::FloodEnd);

namespace cadre::bench {
namespace {

using Clock = std::chrono::steady_clock;

/// Waits for FloodEnd only: the flood piles up. Then reports its node's memory with the flood
/// queued, and drains it.
void flood_sink(Pid parent) {
  send(parent, std::make_pair(status_kb("VmRSS"), long{0}));
  receive(match<FloodEnd>([](const FloodEnd&) {}));
  const long full = status_kb("VmRSS");
  long got = 0;
  while (try_receive(match<FloodWord>([](const FloodWord&) {})))
    if (++got % 4096 == 0) yield();  // a well-behaved process lets its node serve
  send(parent, std::vector<long>{full, status_kb("VmHWM"), got});
}
CADRE_TASK(flood_sink);

/// Its node's resident memory now and at its peak (kB).
std::pair<long, long> memory_probe() { return {status_kb("VmRSS"), status_kb("VmHWM")}; }
CADRE_TASK(memory_probe);

void flood_source(Pid parent, Pid to, long n) {
  const auto t0 = Clock::now();
  for (long i = 0; i < n; ++i) send(to, FloodWord{static_cast<std::uint64_t>(i)});
  send(to, FloodEnd{});
  send(parent, std::chrono::duration<double>(Clock::now() - t0).count());
}
CADRE_TASK(flood_source);

}  // namespace

void flood_environment(const Flags& f) {
  if (f.mailbox_limit <= 0) return;
  setenv("CADRE_MAILBOX_LIMIT_MESSAGES", std::to_string(f.mailbox_limit).c_str(), 1);
  // The byte bound is raised with it: 1 KiB a message, far above what the flood needs.
  setenv("CADRE_MAILBOX_LIMIT_BYTES", std::to_string(f.mailbox_limit * 1024L).c_str(), 1);
}

void flood_mode(const Flags& f, std::vector<Row>& rows) {
  auto ns = nodes();
  if (ns.size() < 2) throw Error("flood mode needs at least 2 ranks");
  const NodeId target = ns[1];
  const long n = f.tasks;
  const long master_rss0 = status_kb("VmRSS");
  auto [sink, mon] = spawn_monitor(target, flood_sink, self());
  const long sink_rss0 =
      receive(match<std::pair<long, long>>([](const std::pair<long, long>& p) { return p.first; }));
  // Pings of node 1 during the flood: the longest round trip is the longest stall of a loop.
  std::atomic<bool> flooding{true};
  double worst_ms = 0;
  long pings = 0;
  std::thread pinger([&] {
    while (flooding.load()) {
      auto rtt = ping(target, std::chrono::seconds(120));
      worst_ms = std::max(worst_ms, std::chrono::duration<double, std::milli>(rtt).count());
      ++pings;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  const auto t0 = Clock::now();
  if (f.from == "driver") {
    for (long i = 0; i < n; ++i) send(sink, FloodWord{static_cast<std::uint64_t>(i)});
    send(sink, FloodEnd{});
  } else {
    spawn(local, flood_source, self(), sink, n);
    receive(match<double>([](double) {}));
  }
  const double send_s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<long> report;
  std::string ended;
  receive(match<std::vector<long>>([&](const std::vector<long>& r) { report = r; }),
          on_down([&](const Down& d) { ended = std::string(to_string(d.reason)); }));
  flooding.store(false);
  pinger.join();
  auto [rss_now, hwm] = run(on(target), memory_probe).get();
  const long master_hwm = status_kb("VmHWM");
  const double mib = 1024.0;
  if (!report.empty()) {
    const long full = report[0];
    rows.push_back({"flood_rss_queued", full / mib, "MiB", std::nullopt,
                    fmt::format("node 1 with {} messages queued (before: {:.0f} MiB)", report[2],
                                sink_rss0 / mib)});
    rows.push_back({"flood_bytes_per_msg", (full - sink_rss0) * 1024.0 / double(n), "B",
                    std::nullopt, "resident growth / messages queued (8-byte payload)"});
  } else {
    rows.push_back({"flood_sink_ended", 0, "", std::nullopt,
                    fmt::format("the sink ended with reason {}", ended)});
  }
  rows.push_back({"flood_rss_peak", hwm / mib, "MiB", std::nullopt,
                  fmt::format("node 1's peak resident memory (now {:.0f} MiB)", rss_now / mib)});
  rows.push_back({"flood_sender_growth", (master_hwm - master_rss0) / mib, "MiB", std::nullopt,
                  fmt::format("node 0's peak growth; flood sent from the {}", f.from)});
  rows.push_back({"flood_send_rate", double(n) / send_s, "msgs/s", std::nullopt,
                  fmt::format("{} messages sent in {:.2f} s", n, send_s)});
  rows.push_back({"flood_longest_stall", worst_ms, "ms", std::nullopt,
                  fmt::format("longest ping of node 1 among {} during the flood", pings)});
  (void)mon;
}

void flood_baseline(const Flags& f, std::vector<Row>& rows) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size < 2) return;
  const long n = f.tasks;
  long rss0 = status_kb("VmRSS"), full = 0;
  MPI_Barrier(MPI_COMM_WORLD);
  const int tag = 0x6af0;
  if (rank == 0) {
    for (long i = 0; i < n; ++i) {
      std::uint64_t v = static_cast<std::uint64_t>(i);
      MPI_Send(&v, 8, MPI_BYTE, 1, tag, MPI_COMM_WORLD);
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);  // rank 1 holds the whole flood, unexpected
  if (rank == 1) {
    full = status_kb("VmRSS");
    std::uint64_t v;
    for (long i = 0; i < n; ++i)
      MPI_Recv(&v, 8, MPI_BYTE, 0, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    long out[2] = {rss0, full};
    MPI_Send(out, 2, MPI_LONG, 0, tag + 1, MPI_COMM_WORLD);
  }
  if (rank == 0) {
    long in[2];
    MPI_Recv(in, 2, MPI_LONG, 1, tag + 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    const double per_msg = (in[1] - in[0]) * 1024.0 / double(n);
    rows.push_back({"raw_bytes_per_msg", per_msg, "B", std::nullopt,
                    "raw MPI: rank 1's growth per unexpected 8-byte message"});
    for (auto& r : rows)
      if (r.name == "flood_bytes_per_msg" && per_msg > 0) r.ratio_to_raw = r.value / per_msg;
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace cadre::bench
