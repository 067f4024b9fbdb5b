// The soak: a long mixed run that keeps a ledger of every message it sends and receives.
//   cadre-soak SECONDS       (run by tests/soak/soak.sh on the 3-host test cluster)
//
// World ranks 0 (the master), 1 and 2, one a host. Rounds repeat until SECONDS have passed;
// each one runs (the processes are in soak_work.cpp), side by side with the others' traffic:
//  - echo pairs (pinger and echoer on two nodes, windows of pings, then Stop and a Down);
//  - call/reply from callers to a server, and one call that gives up before its late reply;
//  - sends to a process that has ended;
//  - a flood against the mailbox bound (the target ends with `overflow`);
//  - a map, every result checked;
//  - every other round a spawned node (started, or respawned after its stop) takes part;
//  - every tenth of the run (at least 15 s) the victim node (world rank 2 on the third host,
//    then its replacement) is killed with SIGKILL during a map: the map still answers every
//    input once, a monitor there sees `node_down`, and a replacement is spawned on that host.
// Processes add what they sent and received to the statistics soak.sent and soak.received.
// Only the victim's processes are never sent a message: what reached a node that is lost
// cannot be accounted for, by cadre or anyone (its mailboxes die with it).
// The ledger balances when soak.sent = soak.received + the job's drops other than those to
// lost nodes (which are task chunks in flight to the victim): the drops are final only
// after shut-down, so tests/soak/soak.sh checks that from the status file.
// Every process is monitored by the driver: spawned = ended. The master's resident memory is
// sampled every round and must be flat after the warm-up (the first quarter), beyond what Open
// MPI keeps for every process it spawned.
#include <unistd.h>

#include <algorithm>
#include <cadre/cadre.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "soak_work.hpp"

using namespace std::chrono_literals;
using cadre::NodeId;
using cadre::Pid;
using Clock = std::chrono::steady_clock;
using namespace soak;

namespace {

// What Open MPI 4.1 keeps in a parent's memory for each process it spawned, after that process
// ended: 206 KiB measured by cadre-bench spawn (raw_spawn_memory) here; a margin above it.
constexpr double kOpenMpiSpawnKiB = 256;

struct Soak {
  std::chrono::seconds length;
  Clock::time_point start = Clock::now();
  std::vector<NodeId> stable;  // world ranks 0 and 1: every message goes between these
  NodeId victim, churn;
  bool victim_spawned = false, churn_started = false;
  std::string victim_host, churn_host;
  // The processes the driver monitors and waits for, with the reason each must end with.
  struct Watched {
    Pid pid;
    cadre::Reason end;        // the reason it must end with
    const char* kind;         // its body's name, for the report
    Clock::time_point start;  // when it was spawned
  };
  std::vector<Watched> watching;
  std::chrono::seconds kill_interval{60};
  double next_kill = 0;
  long spawned_procs = 0, ended_procs = 0, map_inputs = 0, maps = 0;
  long node_spawns = 0, node_respawns = 0, node_stops = 0, kills = 0;
  double driver_sent = 0;
  struct Sample {
    double seconds, mib;
    long spawns;  // nodes spawned so far
  };
  std::vector<Sample> rss;  // the master's resident memory after every round

  // A failed check ends the driver with an exception: the job ends with its message.
  [[noreturn]] void fail(const std::string& why) {
    std::printf("soak: FAIL: %s\n", why.c_str());
    std::fflush(stdout);
    throw std::runtime_error("soak: " + why);
  }
  double elapsed() const { return std::chrono::duration<double>(Clock::now() - start).count(); }

  template <class... A>
  Pid start_watched(cadre::Reason end, const char* kind, const cadre::Placement& where, A&&... a) {
    auto [pid, ref] = cadre::spawn_monitor(where, std::forward<A>(a)...);
    watching.push_back({pid, end, kind, Clock::now()});
    ++spawned_procs;
    return pid;
  }

  // Waits until `left` watched processes are left, each Down with the reason expected.
  void await_downs(std::size_t left = 0) {
    while (watching.size() > left) {
      auto got = cadre::receive(
          60s, cadre::on_down([&](const cadre::Down& d) {
            auto it = std::find_if(watching.begin(), watching.end(),
                                   [&](auto& w) { return w.pid == d.pid; });
            if (it == watching.end()) fail("a Down for a process not watched");
            const cadre::Reason want = it->end;
            lifetime[it->kind] += std::chrono::duration<double>(Clock::now() - it->start).count();
            watching.erase(it);
            ++ended_procs;
            if (d.reason != want)
              fail(fmt::format("process {} ended: {} ({}), expected {}", d.pid,
                               cadre::to_string(d.reason), d.detail, cadre::to_string(want)));
          }));
      if (!got) fail(fmt::format("{} process(es) did not end within 60 s", watching.size()));
    }
  }

  std::vector<NodeId> peers() const {
    auto p = stable;
    if (churn_started && cadre::node_info(churn).state == cadre::NodeState::up) p.push_back(churn);
    return p;
  }

  void check_map(std::vector<cadre::Future<long>>& fs, const std::vector<long>& xs) {
    for (std::size_t i = 0; i < xs.size(); ++i)
      if (fs[i].get() != square_plus(xs[i])) fail(fmt::format("map input {} answered wrong", i));
    map_inputs += static_cast<long>(xs.size());
    ++maps;
  }

  void echo_pairs(int round) {
    auto p = peers();
    for (int k = 0; k < 4; ++k) {
      NodeId a = p[(round + k) % p.size()], b = p[(round + k + 1) % p.size()];
      Pid echo = start_watched(cadre::Reason::normal, "echoer", cadre::on(b), echoer);
      start_watched(cadre::Reason::normal, "pinger", cadre::on(a), pinger, echo, 400, 32);
    }
  }

  Pid calls() {
    Pid srv = start_watched(cadre::Reason::normal, "server", cadre::on(stable[1]), server);
    for (NodeId n : peers())
      start_watched(cadre::Reason::normal, "caller", cadre::on(n), caller, srv, 100);
    // One call that gives up before the answer: the late reply is dropped and counted.
    ++driver_sent;
    try {
      cadre::call<long>(srv, Ask{1, 200}, 20ms);
      fail("a call with a 20 ms timeout got an answer that takes 200 ms");
    } catch (const cadre::Timeout&) {
    }
    return srv;
  }

  void flood() {
    Pid target =
        start_watched(cadre::Reason::overflow, "flood_target", cadre::on(stable[1]), flood_target);
    start_watched(cadre::Reason::normal, "flooder", cadre::on(stable[0]), flooder, target,
                  3 * kMailboxBound);
  }

  void map_round(int round) {
    std::vector<long> xs(1500);
    for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = round * 10000L + static_cast<long>(i);
    auto fs = cadre::map(cadre::any, square_plus, xs, {.chunk = 25});
    check_map(fs, xs);
  }

  // The victim killed during a map; its sitter's monitor sees node_down; a replacement on
  // the same host.
  void kill_victim(int round) {
    start_watched(cadre::Reason::node_down, "sitter", cadre::on(victim), sitter);
    cadre::monitor_node(victim);
    cadre::receive(10s, cadre::match<cadre::NodeEvent>([&](const cadre::NodeEvent& e) {
                     if (e.node != victim || e.kind != cadre::NodeEvent::Kind::up)
                       fail("unexpected NodeEvent");
                   }));
    std::vector<long> xs(4000);
    for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = round * 10000L + static_cast<long>(i);
    auto fs = cadre::map(cadre::any, square_plus, xs, {.chunk = 10});
    auto killed = cadre::run(cadre::on(victim), die);
    check_map(fs, xs);
    try {
      killed.get();
      fail("the task that kills its node returned");
    } catch (const cadre::NodeDown&) {
    }
    auto ev = cadre::receive(
        60s, cadre::match<cadre::NodeEvent>([&](const cadre::NodeEvent& e) {
          if (e.node != victim || e.kind != cadre::NodeEvent::Kind::down || e.reason != "lost")
            fail("unexpected NodeEvent for the victim");
        }));
    if (!ev) fail("the killed victim was not declared lost within 60 s");
    ++kills;
    const NodeId old = victim;
    victim = victim_spawned ? cadre::respawn_node(old)
                            : cadre::spawn_nodes({.count = 1, .host = victim_host})[0];
    victim_spawned = true;
    if (cadre::node_info(victim).host != victim_host) fail("the replacement is on another host");
    std::printf("soak: round %d: node %u killed during a map, replaced by node %u on %s\n", round,
                old.value(), victim.value(), victim_host.c_str());
  }

  void churn_node(int round) {
    if (round % 2 == 1) {
      if (churn_started && cadre::node_info(churn).state == cadre::NodeState::up) {
        cadre::stop_node(churn);
        ++node_stops;
      }
      return;
    }
    if (!churn_started) {
      churn = cadre::spawn_nodes({.count = 1, .host = churn_host})[0];
      churn_started = true;
      ++node_spawns;
    } else {
      churn = cadre::respawn_node(churn);
      ++node_respawns;
    }
  }

  // Every live node has run a task after everything it sent before: its statistics are in.
  void flush_all() {
    std::vector<cadre::Future<int>> fs;
    for (NodeId n : cadre::nodes()) fs.push_back(cadre::run(cadre::on(n), flush));
    for (auto& f : fs) f.get();
  }

  double rss_mib() const {
    std::ifstream statm("/proc/self/statm");
    long pages = 0, resident = 0;
    statm >> pages >> resident;
    return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) /
           (1024.0 * 1024.0);
  }

  // Seconds spent in each phase of the rounds since the last report.
  std::map<std::string, double> phase_time;
  // Seconds the processes of each kind lived, since the last report.
  std::map<std::string, double> lifetime;
  template <class F>
  void timed(const char* phase, F&& f) {
    const auto t = Clock::now();
    f();
    phase_time[phase] += std::chrono::duration<double>(Clock::now() - t).count();
  }

  void round(int r) {
    timed("nodes", [&] { churn_node(r); });
    Pid srv;
    timed("calls", [&] { srv = calls(); });
    timed("start", [&] {
      echo_pairs(r);
      flood();
    });
    timed("map", [&] { map_round(r); });
    if (elapsed() >= next_kill) {
      timed("kill", [&] { kill_victim(r); });
      next_kill += static_cast<double>(kill_interval.count());
    }
    // The server (the first watched) is stopped once every other process has ended (its
    // callers among them).
    if (watching.empty() || watching.front().pid != srv) fail("the server is not watched first");
    timed("ends", [&] {
      await_downs(1);
      cadre::send(srv, Stop{});
      ++driver_sent;
      await_downs();
    });
    // Sends to a process that has ended: dropped and counted.
    for (int i = 0; i < 10; ++i) cadre::send(srv, Ask{i, 0});
    driver_sent += 10;
    timed("flush", [&] { flush_all(); });
    rss.push_back({elapsed(), rss_mib(), node_spawns + node_respawns + kills});
  }

  std::string phases() {
    std::string out;
    for (auto& [k, v] : phase_time) out += fmt::format(" {} {:.1f} s,", k, v);
    phase_time.clear();
    if (!out.empty()) out.pop_back();
    out += "; processes lived:";
    for (auto& [k, v] : lifetime) out += fmt::format(" {} {:.1f} s,", k, v);
    lifetime.clear();
    out.pop_back();
    return out;
  }

  int run() {
    auto world = cadre::nodes();
    if (world.size() != 3) fail("run me with 3 world ranks, one a host");
    stable = {world[0], world[1]};
    kill_interval = std::max(15s, length / 10);
    next_kill = static_cast<double>(kill_interval.count());
    victim = world[2];
    victim_host = cadre::node_info(victim).host;
    churn_host = cadre::node_info(world[1]).host;
    std::printf("soak: %lld s on %s, %s, %s\n", static_cast<long long>(length.count()),
                cadre::node_info(world[0]).host.c_str(), churn_host.c_str(), victim_host.c_str());
    int r = 0;
    const double report_every = std::max(10.0, static_cast<double>(length.count()) / 10.0);
    double next_report = report_every;
    while (Clock::now() - start < length) {
      round(r++);
      if (elapsed() >= next_report) {
        auto s = cadre::stats();
        std::printf(
            "soak: %.0f s: %d rounds, %.0f messages, %ld map inputs, %ld kills, master "
            "rss %.1f MiB; since the last report, in:%s\n",
            elapsed(), r, s["soak.sent"], map_inputs, kills, rss.back().mib, phases().c_str());
        std::fflush(stdout);
        next_report += report_every;
      }
    }
    if (churn_started && cadre::node_info(churn).state == cadre::NodeState::up) {
      cadre::stop_node(churn);
      ++node_stops;
    }
    cadre::stat("soak.sent", driver_sent);
    flush_all();
    auto s = cadre::stats();
    std::printf("soak: rounds: %d in %.0f s\n", r, elapsed());
    std::printf("soak: ledger: sent %.0f, received %.0f\n", s["soak.sent"], s["soak.received"]);
    std::printf("soak: map: %ld inputs in %ld maps, every one answered once\n", map_inputs, maps);
    std::printf("soak: processes: %ld spawned, %ld ended, %zu left\n", spawned_procs, ended_procs,
                watching.size());
    std::printf("soak: nodes: %ld spawned, %ld respawned, %ld stopped, %ld killed and replaced\n",
                node_spawns, node_respawns, node_stops, kills);
    if (spawned_procs != ended_procs) fail("processes left behind");
    // Memory: the samples after the warm-up (the first quarter) against the first of them.
    // Open MPI keeps about 200 KiB in the parent for every process it spawned, after that
    // process ended (cadre-bench spawn: raw_spawn_memory, beside spawn_memory): that much a
    // spawn is set aside; what remains is cadre's, and must stay flat.
    const double warm = static_cast<double>(length.count()) / 4.0;
    auto after = std::find_if(rss.begin(), rss.end(), [&](auto& x) { return x.seconds >= warm; });
    if (after == rss.end()) fail("no memory sample after the warm-up");
    const Sample base = *after;
    double top = base.mib, top_rest = 0;
    for (auto it = after; it != rss.end(); ++it) {
      top = std::max(top, it->mib);
      top_rest = std::max(
          top_rest, it->mib - base.mib -
                        static_cast<double>(it->spawns - base.spawns) * kOpenMpiSpawnKiB / 1024.0);
    }
    std::string samples;
    for (std::size_t i = 0; i < rss.size(); i += std::max<std::size_t>(1, rss.size() / 10))
      samples += fmt::format(" {:.0f}s:{:.1f}", rss[i].seconds, rss[i].mib);
    const Sample& last = rss.back();
    std::printf("soak: master rss (MiB):%s, last %.1f\n", samples.c_str(), last.mib);
    const long spawns = last.spawns - base.spawns;
    std::printf(
        "soak: master rss after the warm-up (%.0f s): %.1f MiB, at most %.1f MiB (+%.1f%%); %ld "
        "nodes spawned since: %.0f KiB a spawn; beyond %.0f KiB a spawn (Open MPI's): at most "
        "%+.1f MiB\n",
        warm, base.mib, top, 100.0 * (top - base.mib) / base.mib, spawns,
        spawns > 0 ? (last.mib - base.mib) * 1024.0 / static_cast<double>(spawns) : 0.0,
        kOpenMpiSpawnKiB, top_rest);
    if (top_rest > base.mib * 0.10 + 4.0) fail("the master's memory grew after the warm-up");
    std::printf("soak: ok\n");
    return 0;
  }
};

}  // namespace

int main(int argc, char** argv) {
  const long seconds = argc > 1 ? std::atol(argv[1]) : 600;
  cadre::Options o;
  o.mailbox_limit.messages = kMailboxBound;
  o.heartbeat_timeout = 2000ms;
  return cadre::launch(
      argc, argv, [&] { return Soak{std::chrono::seconds(seconds)}.run(); }, o);
}
