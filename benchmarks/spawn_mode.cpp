// cadre-bench spawn (spawn_mode.hpp).

#include "spawn_mode.hpp"

#include <mpi.h>

#include <cadre/cadre.hpp>
#include <chrono>
#include <cmath>
#include <string>

namespace cadre::bench {
namespace {

using Clock = std::chrono::steady_clock;

/// Spawns whose leftover memory is measured (after the timed ones).
constexpr int kMemorySpawns = 40;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

/// One raw spawn of `count` children of `program` over MPI_COMM_SELF, until one int came from
/// each; in ms.
double raw_spawn_ms(const char* program, int count) {
  char arg0[] = "spawn-raw-child";
  char* args[] = {arg0, nullptr};
  MPI_Info info;
  MPI_Info_create(&info);
  MPI_Info_set(info, "bind_to", "none");
  const auto t0 = Clock::now();
  MPI_Comm inter;
  MPI_Comm_spawn(program, args, count, info, 0, MPI_COMM_SELF, &inter, MPI_ERRCODES_IGNORE);
  for (int k = 0; k < count; ++k) {
    int x = 0;
    MPI_Recv(&x, 1, MPI_INT, MPI_ANY_SOURCE, 1, inter, MPI_STATUS_IGNORE);
  }
  const double ms = ms_since(t0);
  for (int k = 0; k < count; ++k) {
    int x = 0;
    MPI_Send(&x, 1, MPI_INT, k, 2, inter);
  }
  MPI_Comm_free(&inter);
  MPI_Info_free(&info);
  return ms;
}

struct Ping {
  Pid from;
  int i = 0;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& from& i;
  }
};

void ponger(int n) {
  for (int k = 0; k < n; ++k) {
    Ping p = cadre::receive(cadre::match<Ping>([](const Ping& x) { return x; }));
    cadre::send(p.from, p.i);
  }
}

/// `n` round trips with a ponger on `to` (after `warm` untimed); reports µs per round trip.
void pinger(Pid to, int n, int warm, Pid report) {
  auto one = [&](int i) {
    cadre::send(to, Ping{cadre::self(), i});
    cadre::receive(cadre::match<int>([](int) {}));
  };
  for (int i = 0; i < warm; ++i) one(i);
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) one(i);
  cadre::send(report, ms_since(t0) * 1000.0 / n);
}

}  // namespace
}  // namespace cadre::bench

CADRE_MESSAGE(cadre::bench::Ping);
CADRE_TASK(cadre::bench::ponger);
CADRE_TASK(cadre::bench::pinger);

namespace cadre::bench {

int raw_spawn_child() {
  MPI_Comm parent;
  MPI_Comm_get_parent(&parent);
  int x = 1;
  MPI_Send(&x, 1, MPI_INT, 0, 1, parent);
  MPI_Recv(&x, 1, MPI_INT, 0, 2, parent, MPI_STATUS_IGNORE);
  MPI_Comm_free(&parent);
  MPI_Finalize();
  return 0;
}

std::vector<double> raw_spawn_baselines(const Flags& f, const char* program) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) return {};
  raw_spawn_ms(program, 1);  // the first spawn of a job pays for set-up: not measured
  std::vector<double> out{median_of(f.repeat, [&] { return raw_spawn_ms(program, 1); }),
                          median_of(f.repeat, [&] { return raw_spawn_ms(program, 3); })};
  // What each spawn leaves in the parent's memory once its child has ended.
  const long before = status_kb("VmRSS");
  for (int i = 0; i < kMemorySpawns; ++i) raw_spawn_ms(program, 1);
  out.push_back(static_cast<double>(status_kb("VmRSS") - before) / kMemorySpawns);
  return out;
}

void spawn_mode(const Flags& f, const std::vector<double>& raw, std::vector<Row>& rows) {
  SpawnOptions so{.count = 1, .args = {"spawn"}};
  cadre::stop_node(cadre::spawn_nodes(so)[0]);  // as for raw: the first spawn is not measured
  auto timed = [&](int count) {
    return median_of(f.repeat, [&] {
      so.count = count;
      const auto t0 = Clock::now();
      auto ids = cadre::spawn_nodes(so);
      const double ms = ms_since(t0);
      for (NodeId id : ids) cadre::stop_node(id);
      return ms;
    });
  };
  const double one = timed(1), three = timed(3);
  const long before = status_kb("VmRSS");
  so.count = 1;
  for (int i = 0; i < kMemorySpawns; ++i) cadre::stop_node(cadre::spawn_nodes(so)[0]);
  const double kib = static_cast<double>(status_kb("VmRSS") - before) / kMemorySpawns;
  rows.push_back({"raw_spawn_1", raw[0], "ms", 1.0, "MPI_Comm_spawn of 1 + one message"});
  rows.push_back({"spawn_1", one, "ms", one / raw[0], "spawn_nodes({.count = 1}) to ready"});
  rows.push_back({"raw_spawn_3", raw[1], "ms", 1.0, "MPI_Comm_spawn of 3 + one message each"});
  rows.push_back({"spawn_3", three, "ms", three / raw[1], "spawn_nodes({.count = 3}) to ready"});
  rows.push_back({"raw_spawn_memory", raw[2], "KiB", 1.0,
                  "the parent's resident memory after each spawn of 1 whose child ended"});
  rows.push_back({"spawn_memory", kib, "KiB",
                  raw[2] > 0 ? std::optional<double>(kib / raw[2]) : std::nullopt,
                  "the master's, after each spawn_nodes + stop_node"});

  // Round trips between processes over each path.
  so.count = 2;
  auto ids = cadre::spawn_nodes(so);
  const int n = std::max(f.iterations, 100), warm = std::max(f.warmup, 10);
  auto rtt = [&](NodeId a, NodeId b) {
    Pid pong = cadre::spawn(b, ponger, n + warm);
    cadre::spawn(a, pinger, pong, n, warm, cadre::self());
    return cadre::receive(cadre::match<double>([](double us) { return us; }));
  };
  const auto world = cadre::nodes();
  const bool has_world_worker =
      std::find(world.begin(), world.end(), NodeId(1)) != world.end() && ids[0] != NodeId(1);
  double ww = std::nan("");
  if (has_world_worker) {
    ww = rtt(NodeId(0), NodeId(1));
    rows.push_back(
        {"rtt_world_world", ww, "us", std::nullopt, "process round trip, master<->rank 1"});
  }
  auto ratio = [&](double v) { return std::isnan(ww) ? std::optional<double>() : v / ww; };
  const double ms = rtt(NodeId(0), ids[0]);
  rows.push_back(
      {"rtt_master_spawned", ms, "us", ratio(ms), "direct (TCP); ratio: to world<->world"});
  if (has_world_worker) {
    const double sw = rtt(ids[0], NodeId(1));
    rows.push_back({"rtt_spawned_world", sw, "us", ratio(sw), "through the master"});
  }
  const double ss = rtt(ids[0], ids[1]);
  rows.push_back({"rtt_spawned_spawned", ss, "us", ratio(ss), "through the master"});
  if (has_world_worker) {
    const double ws = rtt(NodeId(1), ids[0]);
    rows.push_back({"rtt_world_spawned", ws, "us", ratio(ws), "through the master"});
  }
  for (NodeId id : ids) cadre::stop_node(id);
}

}  // namespace cadre::bench
