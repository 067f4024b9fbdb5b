// Scenarios across the hosts of the test cluster (tests/cluster/cluster.sh builds it; ranks are
// placed two per host, cn1 first). Each prints "pids: ..." with every node's process id.
//   placement            on_host, spawn_nodes({.host}), nodes() and log lines name the hosts
//   lose_host HOST kill|stop   (--enable-recovery) every rank on HOST is killed, or stopped
//                        past the heartbeat timeout, while a map and chatter run across hosts
//   long_map SECONDS     maps for SECONDS or until the job is ended from outside (a host's
//                        daemon killed, its link cut); prints "ready:" once work runs
//   driver_throws        the driver throws while tasks run on every host
//   master_killed        (--enable-recovery) the master kills itself after spawning on cn2, cn3

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cadre/cadre.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../common/scenario.hpp"

using namespace std::chrono_literals;
using cadre::NodeId;
using scenario::contains;
using scenario::fail;
using scenario::print_pids;
using Clock = std::chrono::steady_clock;

namespace {

long ms_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

std::string host_name() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}
CADRE_TASK(host_name);

// Microseconds of work per map input; every rank sets it from the mode (all share argv).
int g_work_us = 50;

// x*x after g_work_us of yielding work, tagged with the host that did it.
std::pair<long, std::string> square_on_host(long x) {
  auto until = Clock::now() + std::chrono::microseconds(g_work_us);
  while (Clock::now() < until) cadre::yield();
  return {x * x, host_name()};
}
CADRE_TASK(square_on_host);

void say_hello() { cadre::log(cadre::Level::info, "hello from {}", host_name()); }
CADRE_TASK(say_hello);

int die_now(int how) {
  raise(how);
  return 0;
}
CADRE_TASK(die_now);

long slow_square(long x) {
  auto until = Clock::now() + 60s;
  while (Clock::now() < until) cadre::yield();
  return x * x;
}
CADRE_TASK(slow_square);

void wait_forever() {
  cadre::receive(cadre::match<int>([](int) {}));
}
CADRE_TASK(wait_forever);

// Sends to `target` every millisecond until its node is reported down; then tells `report`
// how many sends it made. Survivors keep sending into a dead host until they learn of it.
void chatter(cadre::Pid target, cadre::Pid report) {
  cadre::monitor_node(target.node);
  long sent = 0;
  for (;;) {
    cadre::send(target, std::string("chatter"));
    ++sent;
    auto e = cadre::receive(1ms, cadre::match<cadre::NodeEvent>([](const cadre::NodeEvent& e) {
                              return e.kind == cadre::NodeEvent::Kind::down;
                            }));
    if (e && *e) break;
  }
  cadre::send(report, std::string(host_name() + " chatter stopped after " + std::to_string(sent) +
                                  " sends"));
}
CADRE_TASK(chatter);

// Answers one Pid with this host's name.
void echo_host() {
  cadre::receive(cadre::match<cadre::Pid>([](cadre::Pid from) { cadre::send(from, host_name()); }));
}
CADRE_TASK(echo_host);

// Asks `echo` for its host and logs the answer.
void ask_host(cadre::Pid echo) {
  cadre::send(echo, cadre::self());
  auto h = cadre::receive(10s, cadre::match<std::string>([](std::string s) { return s; }));
  cadre::log(cadre::Level::info, "{} heard from {}", host_name(), h.value_or("nobody"));
}
CADRE_TASK(ask_host);

// Waits for every result of a map of square_on_host over `xs`, checks each, counts them by
// host; returns " cn2=1440 cn3=1560", or nothing when a result is wrong.
std::optional<std::string> results_by_host(
    std::vector<cadre::Future<std::pair<long, std::string>>>& fs, const std::vector<long>& xs,
    std::map<std::string, int>& per_host) {
  for (std::size_t i = 0; i < xs.size(); ++i) {
    auto [v, h] = fs[i].get();
    if (v != xs[i] * xs[i]) return std::nullopt;
    ++per_host[h];
  }
  std::string counts;
  for (auto& [h, k] : per_host) counts += " " + h + "=" + std::to_string(k);
  return counts;
}

std::vector<NodeId> nodes_on(const std::string& host) {
  std::vector<NodeId> out;
  for (NodeId n : cadre::nodes())
    if (cadre::node_info(n).host == host) out.push_back(n);
  return out;
}

// -- placement ---------------------------------------------------------------------------

int placement() {
  const std::vector<std::string> hosts = {"cn1", "cn2", "cn3"};
  std::string listing;
  std::set<std::string> seen;
  for (NodeId n : cadre::nodes()) {
    auto i = cadre::node_info(n);
    listing += " " + i.name + "@" + i.host;
    seen.insert(i.host);
    if (!contains(i.name, i.host + ":")) return fail("node name without its host: " + i.name);
  }
  std::printf("nodes:%s\n", listing.c_str());
  if (seen != std::set<std::string>(hosts.begin(), hosts.end()))
    return fail("nodes() does not cover cn1..cn3");
  for (const auto& h : hosts) {
    auto got = cadre::run(cadre::on_host(h), host_name).get();
    if (got != h) return fail("on_host(" + h + ") ran on " + got);
    cadre::run(cadre::on_host(h), say_hello).get();
  }
  std::printf("on_host: ok\n");
  // random_on: only workers of the named hosts, and both of them in 60 tries.
  std::set<std::string> picked;
  std::vector<cadre::Future<std::string>> on23;
  for (int i = 0; i < 60; ++i)
    on23.push_back(cadre::run(cadre::random_on({"cn2", "cn3"}), host_name));
  for (auto& f : on23) picked.insert(f.get());
  if (picked != std::set<std::string>{"cn2", "cn3"})
    return fail("random_on({cn2, cn3}) ran on other hosts or missed one");
  std::printf("random_on: ok\n");
  try {
    cadre::run(cadre::on_host("cn9"), host_name).get();
    return fail("on_host(cn9) was accepted");
  } catch (const cadre::InvalidNode& e) {
    std::printf("refused: %s\n", e.what());
  }
  // Spawned nodes on named hosts: they reach the master over TCP from there.
  auto on3 = cadre::spawn_nodes({.count = 1, .host = "cn3"});
  auto on2 = cadre::spawn_nodes({.count = 1, .host = "cn2"});
  for (auto [id, h] :
       {std::pair{on3[0], std::string("cn3")}, std::pair{on2[0], std::string("cn2")}}) {
    if (cadre::node_info(id).host != h) return fail("spawned node not on " + h);
    if (cadre::run(cadre::on(id), host_name).get() != h) return fail("spawned task not on " + h);
    cadre::run(cadre::on(id), say_hello).get();
  }
  std::printf("spawned on host: ok (%s, %s)\n", cadre::node_info(on3[0]).name.c_str(),
              cadre::node_info(on2[0]).name.c_str());
  try {
    cadre::spawn_nodes({.count = 1, .host = "cn9"});
    return fail("spawning on cn9 was accepted");
  } catch (const cadre::SpawnError& e) {
    std::printf("refused: %s\n", e.what());
  }
  // A process on a spawned node (cn3) and one on a world rank (cn2) talk through the master.
  auto echo = cadre::spawn(on3[0], echo_host);
  cadre::spawn(cadre::on_host("cn2"), ask_host, echo);
  // Every input answered once, by every host.
  std::vector<long> xs(3000);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<long>(i);
  auto fs = cadre::map(cadre::any, square_on_host, xs, {.chunk = 20});
  std::map<std::string, int> per_host;
  auto counts = results_by_host(fs, xs, per_host);
  if (!counts) return fail("map result");
  std::printf("map: %zu results;%s\n", xs.size(), counts->c_str());
  // The master runs the driver: its host takes no map work.
  if (!per_host.count("cn2") || !per_host.count("cn3")) return fail("the map missed a host");
  print_pids();
  for (NodeId id : {on3[0], on2[0]}) cadre::stop_node(id);
  std::printf("placement: ok\n");
  return 0;
}

// -- losing a host's ranks ---------------------------------------------------------------

std::atomic<int> g_downs{0};
std::atomic<long> g_first_down_ms{-1};
Clock::time_point g_fault_at;

int lose_host(const std::string& host, const std::string& how) {
  auto victims = nodes_on(host);
  if (victims.size() < 2) return fail("expected two ranks on " + host);
  std::vector<int> victim_pids;
  for (NodeId v : victims) victim_pids.push_back(cadre::node_info(v).pid);
  print_pids();
  // A stopped victim must not stay stopped: mpirun would wait for it for ever.
  struct Release {
    std::vector<int> pids;
    bool active;
    ~Release() {
      if (active)
        for (int p : pids) kill(p, SIGKILL);
    }
  } release{victim_pids, how == "stop"};
  std::vector<cadre::Pid> waiters;
  for (NodeId v : victims) {
    cadre::monitor_node(v);
    waiters.push_back(cadre::spawn_monitor(v, wait_forever).first);
  }
  std::vector<cadre::Future<long>> stuck;
  for (NodeId v : victims) stuck.push_back(cadre::run(cadre::on(v), slow_square, 3L));
  // Chatter from every surviving node into the victims' processes.
  int chatters = 0;
  for (NodeId n : cadre::nodes())
    if (cadre::node_info(n).host != host) {
      cadre::spawn(n, chatter, waiters[chatters % waiters.size()], cadre::self());
      ++chatters;
    }
  std::vector<long> xs(4000);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<long>(i);
  auto fs = cadre::map(cadre::any, square_on_host, xs, {.chunk = 10});
  std::this_thread::sleep_for(300ms);  // the map runs on every host
  g_fault_at = Clock::now();
  const int sig = how == "kill" ? SIGKILL : SIGSTOP;
  for (NodeId v : victims) cadre::run(cadre::on(v), die_now, sig);
  std::printf("fault: %s every rank on %s\n", how == "kill" ? "killed" : "stopped", host.c_str());
  std::fflush(stdout);
  try {
    cadre::call<int>(waiters[0], std::string("never answered"), 60s);
    return fail("a call to a process on the lost host returned");
  } catch (const cadre::CallFailed& e) {
    if (!contains(e.what(), "node_down")) return fail(std::string("CallFailed: ") + e.what());
    std::printf("CallFailed: node_down\n");
  }
  std::map<std::string, int> per_host;
  auto counts = results_by_host(fs, xs, per_host);
  if (!counts) return fail("map result");
  std::printf("map complete: ok (%zu results;%s)\n", xs.size(), counts->c_str());
  const long detected = g_first_down_ms.load();
  std::printf("detected after %ld ms (heartbeat_timeout 1000 ms)\n", detected);
  if (detected < 0 || detected > 2500) return fail("detection time");
  for (auto& f : stuck) {
    try {
      f.get_for(10s);
      return fail("a task on the lost host did not fail");
    } catch (const cadre::NodeDown&) {
    }
  }
  std::printf("NodeDown: ok (%zu tasks)\n", stuck.size());
  int node_downs = 0, proc_downs = 0;
  while (node_downs + proc_downs < static_cast<int>(2 * victims.size())) {
    auto e = cadre::receive(10s, cadre::match<cadre::NodeEvent>([&](const cadre::NodeEvent& e) {
                              if (e.kind == cadre::NodeEvent::Kind::down && e.reason == "lost")
                                ++node_downs;
                              return 0;
                            }),
                            cadre::on_down([&](const cadre::Down& d) {
                              if (d.reason == cadre::Reason::node_down)
                                ++proc_downs;
                              else
                                std::printf("Down with reason %s\n",
                                            std::string(cadre::to_string(d.reason)).c_str());
                              return 0;
                            }));
    if (!e) break;
  }
  std::printf("monitors: %d node_down events, %d process Downs\n", node_downs, proc_downs);
  if (node_downs != static_cast<int>(victims.size()) || proc_downs != node_downs)
    return fail("monitors");
  for (int i = 0; i < chatters; ++i) {
    auto r = cadre::receive(10s, cadre::match<std::string>([](std::string s) { return s; }));
    if (!r) return fail("a chatter never learnt of the loss");
    std::printf("%s\n", r->c_str());
  }
  if (g_downs.load() != static_cast<int>(victims.size())) return fail("on_node_down count");
  if (how == "stop") {
    // Continued after the loss, each stopped rank ends itself (its master is silent to it).
    auto t0 = Clock::now();
    for (int p : victim_pids) kill(p, SIGCONT);
    release.active = false;
    bool gone = false;
    while (!gone && ms_since(t0) < 10000) {
      gone = true;
      for (int p : victim_pids) gone = gone && kill(p, 0) != 0;
      std::this_thread::sleep_for(20ms);
    }
    std::printf("continued ranks ended themselves after %ld ms (limit 3000 ms): %s\n", ms_since(t0),
                gone ? "yes" : "no");
    if (!gone || ms_since(t0) > 3000) return fail("a continued rank did not end itself");
  }
  std::printf("lose_host: ok\n");
  return 0;
}

// -- ended from outside ------------------------------------------------------------------

// Maps in rounds for `seconds`, or until the job is ended from outside.
int long_map(int seconds) {
  print_pids();
  const auto until = Clock::now() + std::chrono::seconds(seconds);
  std::vector<long> xs(2000);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<long>(i);
  bool ready = false;
  long rounds = 0;
  while (Clock::now() < until) {
    auto fs = cadre::map(cadre::any, square_on_host, xs, {.chunk = 1});
    std::set<std::string> hosts;
    for (std::size_t i = 0; i < xs.size(); ++i) {
      auto [v, h] = fs[i].get();
      if (v != xs[i] * xs[i]) return fail("map result");
      hosts.insert(h);
      if (!ready && i == 40) {
        std::printf("ready: the map runs on %zu hosts\n", hosts.size());
        std::fflush(stdout);
        ready = true;
      }
    }
    ++rounds;
  }
  std::printf("long_map: %ld rounds of %zu, every result once\n", rounds, xs.size());
  return 0;
}

int driver_throws() {
  print_pids();
  std::vector<long> xs(600);
  auto fs = cadre::map(cadre::any, square_on_host, xs, {.chunk = 1});
  fs[0].get();
  throw std::runtime_error("deliberate, with tasks running on every host");
}

int master_killed() {
  auto a = cadre::spawn_nodes({.count = 1, .host = "cn2"});
  auto b = cadre::spawn_nodes({.count = 1, .host = "cn3"});
  for (NodeId id : {a[0], b[0]}) cadre::run(cadre::on(id), host_name).get();
  std::vector<long> xs(400);
  auto fs = cadre::map(cadre::any, square_on_host, xs, {.chunk = 1});
  scenario::kill_master();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  const std::string arg = argc > 2 ? argv[2] : "";
  const std::string arg2 = argc > 3 ? argv[3] : "";
  if (mode == "lose_host") g_work_us = 500;
  if (mode == "long_map") g_work_us = 2000;
  if (mode == "driver_throws" || mode == "master_killed") g_work_us = 20000;
  cadre::Options o = scenario::quick_options();
  o.on_node_down = [](NodeId n) {
    if (g_downs++ == 0) g_first_down_ms = ms_since(g_fault_at);
    std::printf("on_node_down: node %u\n", n.value());
    std::fflush(stdout);
  };
  return cadre::launch(
      argc, argv,
      [&]() -> int {
        std::printf("master on %s\n", host_name().c_str());
        if (mode == "placement") return placement();
        if (mode == "lose_host") return lose_host(arg, arg2);
        if (mode == "long_map") return long_map(arg.empty() ? 60 : std::stoi(arg));
        if (mode == "driver_throws") return driver_throws();
        if (mode == "master_killed") return master_killed();
        return fail("unknown mode '" + mode + "'");
      },
      o);
}
