// Dynamic nodes under a real mpirun: the master's driver spawns nodes of this binary and of a
// second program (argv[1]), runs tasks and processes on them, checks order on every path,
// stops them and spawns again. The spawned copies of this binary serve (launch does it).

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cadre/cadre.hpp>
#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "spawn_common.hpp"

using namespace std::chrono_literals;
using cadre::NodeId;
using cadre::Pid;

namespace {

std::string g_other;  // the second program's path

std::uint32_t node_of(int) { return cadre::self_node().value(); }
CADRE_TASK(node_of);

/// What a spawned node gets when it tries to act as the master.
std::string try_spawn() {
  try {
    cadre::spawn_nodes({.count = 1});
  } catch (const cadre::WrongRole& e) {
    return std::string("WrongRole: ") + e.what();
  } catch (const std::exception& e) {
    return std::string("other: ") + e.what();
  }
  return "spawned";
}
CADRE_TASK(try_spawn);

/// Sends `to` the first relay a subscriber on this node receives (the history comes first).
void first_relay(Pid to) {
  cadre::subscribe_relay<std::string>();
  cadre::send(to,
              cadre::receive(cadre::match<std::string>([](const std::string& s) { return s; })));
}
CADRE_TASK(first_relay);

/// `n` numbered messages from a process on `from` to one on `to`: how many arrived in order.
int ordered(NodeId from, NodeId to, int n) {
  Pid sink = cadre::spawn(to, spawn_test::ordered_sink, cadre::self(), n);
  cadre::spawn(from, spawn_test::numbered_source, sink, n);
  return cadre::receive(10s, cadre::match<int>([](int x) { return x; })).value_or(-1);
}

/// The working directory of the node that runs it.
std::string cwd() {
  char buf[4096];
  return ::getcwd(buf, sizeof buf) ? buf : "?";
}
CADRE_TASK(cwd);

std::string error_of(const cadre::SpawnOptions& o) {
  try {
    cadre::spawn_nodes(o);
  } catch (const cadre::SpawnError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Spawn, OneNodeOfThisBinaryRunsTasks) {
  const auto before = cadre::nodes().size();
  auto ids = cadre::spawn_nodes({.count = 1});
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_GE(ids[0].value(), before);
  EXPECT_EQ(cadre::node_info(ids[0]).state, cadre::NodeState::up);
  EXPECT_EQ(cadre::nodes().size(), before + 1);
  auto where = cadre::run(cadre::on(ids[0]), spawn_test::where_am_i).get();
  EXPECT_EQ(where.substr(0, where.find(':')), std::to_string(ids[0].value()));
  EXPECT_EQ(where.substr(where.find(':') + 1), std::to_string(cadre::node_info(ids[0]).pid));
  // A bare NodeId is a placement for processes, and pids travel both ways.
  Pid p = cadre::spawn(ids[0], spawn_test::echo_once, cadre::self());
  cadre::send(p, std::string("hi"));
  EXPECT_EQ(cadre::receive(3s, cadre::match<std::string>([](const std::string& s) { return s; }))
                .value_or("timeout"),
            "echo:hi");
  EXPECT_TRUE(cadre::run(cadre::on(ids[0]), try_spawn).get().starts_with("WrongRole"));
  cadre::stop_node(ids[0]);
}

TEST(Spawn, ThreeNodesAreFullMembersAndKeepOrderOnEveryPath) {
  auto ids = cadre::spawn_nodes({.count = 3});
  ASSERT_EQ(ids.size(), 3u);
  // map over `any` reaches the spawned nodes too.
  std::vector<int> inputs(300);
  auto futures = cadre::map(cadre::any, node_of, inputs, {.chunk = 1});
  std::vector<std::uint32_t> seen;
  for (auto& f : futures) seen.push_back(f.get());
  for (NodeId id : ids)
    EXPECT_NE(std::find(seen.begin(), seen.end(), id.value()), seen.end())
        << "node " << id.value() << " got no map chunk";
  const int n = 3000;
  const NodeId master(0), s1 = ids[0], s2 = ids[1];
  EXPECT_EQ(ordered(s1, master, n), n) << "spawned -> master";
  EXPECT_EQ(ordered(master, s1, n), n) << "master -> spawned";
  EXPECT_EQ(ordered(s1, s2, n), n) << "spawned -> spawned";
  if (cadre::node_info(NodeId(1)).state == cadre::NodeState::up &&
      cadre::node_info(NodeId(1)).rank == 1) {
    EXPECT_EQ(ordered(s1, NodeId(1), n), n) << "spawned -> world";
    EXPECT_EQ(ordered(NodeId(1), s2, n), n) << "world -> spawned";
  }
  // ping works through the relay too.
  EXPECT_GT(cadre::ping(s2, 2s).count(), 0);
  for (NodeId id : ids) cadre::stop_node(id);
  for (NodeId id : ids) EXPECT_EQ(cadre::node_info(id).state, cadre::NodeState::stopped);
}

TEST(Spawn, StoppedNodesAreRefusedAndIdsAreNotReused) {
  auto a = cadre::spawn_nodes({.count = 1});
  cadre::stop_node(a[0]);
  EXPECT_EQ(cadre::node_info(a[0]).state, cadre::NodeState::stopped);
  EXPECT_THROW(cadre::run(cadre::on(a[0]), spawn_test::where_am_i).get(), cadre::NodeDown);
  EXPECT_THROW(cadre::stop_node(a[0]), cadre::NodeDown);
  auto b = cadre::spawn_nodes({.count = 1});
  EXPECT_GT(b[0].value(), a[0].value());
  auto all = cadre::all_nodes();
  EXPECT_NE(std::find(all.begin(), all.end(), a[0]), all.end());
  EXPECT_EQ(cadre::run(cadre::on(b[0]), node_of, 0).get(), b[0].value());
  cadre::stop_node(b[0]);
}

TEST(Spawn, RefusalsComeBeforeTheSpawnAndSayWhatToDo) {
  EXPECT_NE(error_of({.count = 1, .program = "/no/such/program"}).find("does not exist"),
            std::string::npos);
  EXPECT_NE(error_of({.count = 1, .program = "no-such-program-anywhere"}).find("not found on PATH"),
            std::string::npos);
  const std::string plain = "/tmp/cadre-spawn-not-executable";
  { std::ofstream(plain) << "#!/bin/sh\n"; }
  ::chmod(plain.c_str(), 0644);
  EXPECT_NE(error_of({.count = 1, .program = plain}).find("is not executable"), std::string::npos);
  EXPECT_NE(error_of({.count = 1, .host = "no-such-host"}).find("is not known to this job"),
            std::string::npos);
  EXPECT_NE(error_of({.count = 0}).find("at least 1"), std::string::npos);
  // The job is intact after every refusal.
  auto ids = cadre::spawn_nodes({.count = 1});
  EXPECT_EQ(cadre::run(cadre::on(ids[0]), node_of, 0).get(), ids[0].value());
  cadre::stop_node(ids[0]);
}

TEST(Spawn, EnvironmentOutputFilesAndRelayHistoryReachTheNewNode) {
  cadre::relay(std::string("before-spawn"));
  const std::string out = "/tmp/cadre-spawn-stdout-" + std::to_string(::getpid());
  std::remove(out.c_str());
  auto ids = cadre::spawn_nodes({.count = 1, .env = {{"SPAWN_TEST_X", "42"}}, .stdout_path = out});
  EXPECT_EQ(cadre::run(cadre::on(ids[0]), spawn_test::env_of, std::string("SPAWN_TEST_X")).get(),
            "42");
  cadre::spawn(ids[0], first_relay, cadre::self());
  EXPECT_EQ(cadre::receive(3s, cadre::match<std::string>([](const std::string& s) { return s; }))
                .value_or("timeout"),
            "before-spawn");
  cadre::run(cadre::on(ids[0]), spawn_test::say, std::string("to-the-file")).get();
  cadre::stop_node(ids[0]);
  std::ifstream in(out);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(all.find("to-the-file"), std::string::npos) << all;
  std::remove(out.c_str());
}

TEST(Spawn, HostHostfileAndWorkingDirectoryReachMpi) {
  const std::string host = cadre::node_info(NodeId(0)).host;
  const std::string hostfile = "/tmp/cadre-spawn-hostfile-" + std::to_string(::getpid());
  { std::ofstream(hostfile) << host << " slots=8\n"; }
  auto ids = cadre::spawn_nodes({.count = 1, .host = host, .wdir = "/tmp"});
  EXPECT_EQ(cadre::node_info(ids[0]).host, host);
  EXPECT_EQ(cadre::run(ids[0], cwd).get(), "/tmp");
  auto more = cadre::spawn_nodes({.count = 1, .hostfile = hostfile});
  EXPECT_EQ(cadre::node_info(more[0]).host, host);
  EXPECT_NE(error_of({.count = 1, .hostfile = hostfile + ".missing"}).find("cannot be read"),
            std::string::npos);
  cadre::stop_node(ids[0]);
  cadre::stop_node(more[0]);
  std::remove(hostfile.c_str());
}

TEST(Spawn, ASecondProgramJoinsAndServes) {
  if (g_other.empty()) GTEST_SKIP() << "no second program given (argv[1])";
  auto ids = cadre::spawn_nodes({.count = 2, .program = g_other});
  ASSERT_EQ(ids.size(), 2u);
  for (NodeId id : ids) {
    auto where = cadre::run(cadre::on(id), spawn_test::where_am_i).get();
    EXPECT_EQ(where.substr(0, where.find(':')), std::to_string(id.value()));
  }
  EXPECT_EQ(ordered(ids[0], ids[1], 1000), 1000);
  EXPECT_EQ(ordered(ids[1], NodeId(0), 1000), 1000);
  // By name: a task only the second program has, and a body both have.
  EXPECT_EQ(cadre::run<int>(ids[0], "other_triple", 5).get(), 15);
  Pid p = cadre::spawn(ids[1], "spawn_test::echo_once", cadre::self());
  cadre::send(p, std::string("by name"));
  EXPECT_EQ(cadre::receive(3s, cadre::match<std::string>([](const std::string& s) { return s; }))
                .value_or("timeout"),
            "echo:by name");
  try {
    cadre::run<int>(ids[0], "no_such_task", 1).get();
    ADD_FAILURE() << "an unknown name was run";
  } catch (const cadre::NotRegistered& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_task"), std::string::npos) << e.what();
  }
  try {
    cadre::run<long>(ids[0], "other_triple", 5L).get();
    ADD_FAILURE() << "a wrong signature was run";
  } catch (const cadre::RegistryMismatch& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("int (*)(std::tuple<int>)"), std::string::npos) << what;
    EXPECT_NE(what.find("long (*)(std::tuple<long>)"), std::string::npos) << what;
  }
  // The master's binary lacks it: the node that would run it says so, by name.
  try {
    cadre::run<int>(cadre::local, "other_triple", 5).get();
    ADD_FAILURE() << "a task this binary lacks ran here";
  } catch (const cadre::NotRegistered& e) {
    EXPECT_NE(std::string(e.what()).find("other_triple"), std::string::npos) << e.what();
  }
  for (NodeId id : ids) cadre::stop_node(id);
}

/// Monitors node `n` from wherever it runs and tells `report` what it heard: "up,down:stopped".
void watch_node(Pid report, NodeId n) {
  cadre::monitor_node(n);
  std::string heard;
  for (int k = 0; k < 2; ++k) {
    auto e = cadre::receive(10s, cadre::match<cadre::NodeEvent>([](const cadre::NodeEvent& e) {
                              return e.kind == cadre::NodeEvent::Kind::up ? std::string("up")
                                                                          : "down:" + e.reason;
                            }));
    heard += (k ? "," : "") + e.value_or("timeout");
  }
  cadre::send(report, heard);
}
CADRE_TASK(watch_node);

/// Spawns a node (linked or not), reports its id, then fails.
void spawner_that_fails(Pid report, bool link) {
  auto ids = cadre::spawn_nodes({.count = 1, .link = link});
  cadre::send(report, ids[0].value());
  throw std::runtime_error("the spawner fails");
}
CADRE_TASK(spawner_that_fails);

cadre::NodeState state_within(NodeId n, cadre::NodeState want, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (cadre::node_info(n).state != want && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  return cadre::node_info(n).state;
}

TEST(Spawn, NodeMonitorsWorkOnEveryNode) {
  auto ids = cadre::spawn_nodes({.count = 1});
  cadre::monitor_node(ids[0]);
  auto up = cadre::receive(3s, cadre::match<cadre::NodeEvent>([](const cadre::NodeEvent& e) {
                             return e.kind == cadre::NodeEvent::Kind::up;
                           }));
  EXPECT_TRUE(up.value_or(false));
  // A watcher on a world worker (or the master in a 1-rank job) and one on a spawned node.
  auto other = cadre::spawn_nodes({.count = 1});
  cadre::spawn(NodeId(cadre::nodes().size() > 3 ? 1 : 0), watch_node, cadre::self(), ids[0]);
  cadre::spawn(other[0], watch_node, cadre::self(), ids[0]);
  std::this_thread::sleep_for(200ms);  // both have heard `up`
  cadre::stop_node(ids[0]);
  auto down = cadre::receive(
      5s, cadre::match<cadre::NodeEvent>([](const cadre::NodeEvent& e) { return e.reason; }));
  EXPECT_EQ(down.value_or("timeout"), "stopped");
  for (int k = 0; k < 2; ++k)
    EXPECT_EQ(cadre::receive(5s, cadre::match<std::string>([](const std::string& s) { return s; }))
                  .value_or("timeout"),
              "up,down:stopped");
  // A monitor of a node already stopped says so at once.
  cadre::monitor_node(ids[0]);
  EXPECT_EQ(cadre::receive(3s, cadre::match<cadre::NodeEvent>(
                                   [](const cadre::NodeEvent& e) { return e.reason; }))
                .value_or("timeout"),
            "stopped");
  EXPECT_THROW(cadre::monitor_node(NodeId(100000)), cadre::InvalidNode);
  cadre::stop_node(other[0]);
}

TEST(Spawn, LinkedNodesStopWhenTheirSpawnerFails) {
  cadre::spawn(cadre::local, spawner_that_fails, cadre::self(), true);
  auto linked = cadre::receive(10s, cadre::match<std::uint32_t>([](std::uint32_t n) { return n; }));
  ASSERT_TRUE(linked.has_value());
  EXPECT_EQ(state_within(NodeId(*linked), cadre::NodeState::stopped, 10s),
            cadre::NodeState::stopped);
  cadre::spawn(cadre::local, spawner_that_fails, cadre::self(), false);
  auto free = cadre::receive(10s, cadre::match<std::uint32_t>([](std::uint32_t n) { return n; }));
  ASSERT_TRUE(free.has_value());
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(cadre::node_info(NodeId(*free)).state, cadre::NodeState::up);
  cadre::stop_node(NodeId(*free));
}

// The link credit and coalescing threshold this binary runs with (see main): small, so that the
// relay's credit is tested.
constexpr std::size_t kCredit = 64 * 1024;
constexpr std::size_t kCoalesce = 64 * 1024;

/// Tells `who` it holds its node, lets that leave, then computes for `ms` without yielding:
/// the node takes nothing off its links meanwhile.
int hold_node(Pid who, int ms) {
  cadre::send(who, std::string("holding"));
  cadre::yield();
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) {
  }
  return ms;
}
CADRE_TASK(hold_node);

/// Waits for the word to go, streams 0..n-1 to `to`, and tells `parent` how many sends had
/// returned `sample_ms` after the start.
void sampled_source(Pid to, Pid parent, int n, int sample_ms) {
  cadre::receive(cadre::match<std::string>([](const std::string&) {}));
  const auto sample = std::chrono::steady_clock::now() + std::chrono::milliseconds(sample_ms);
  long at_sample = -1;
  for (int i = 0; i < n; ++i) {
    if (at_sample < 0 && std::chrono::steady_clock::now() >= sample) at_sample = i;
    cadre::send(to, i);
  }
  cadre::send(parent, at_sample);
}
CADRE_TASK(sampled_source);

TEST(Spawn, CreditHoldsEndToEndThroughTheRelay) {
  // Spawned node A streams to a process on spawned node B through the master while B's loop is
  // held for 1.5 s: A gets at most the credit of its link to the master and of the master's
  // link to B through (the master grants A nothing while its link to B is full, so it holds
  // no more than that), A's node answers pings meanwhile, and then everything arrives in order.
  auto ids = cadre::spawn_nodes({.count = 2});
  const int n = 100000;
  Pid sink = cadre::spawn(ids[1], spawn_test::ordered_sink, cadre::self(), n);
  Pid src = cadre::spawn(ids[0], sampled_source, sink, cadre::self(), n, 700);
  auto held = cadre::run(ids[1], hold_node, src, 1500);
  std::this_thread::sleep_for(300ms);
  EXPECT_LT(cadre::ping(ids[0], 5s), 1s) << "the sender's node stopped serving";
  auto at_sample = cadre::receive(30s, cadre::match<long>([](long v) { return v; }));
  ASSERT_TRUE(at_sample);
  // A relayed message: a 48-byte envelope, the 4-byte relay header and an int.
  const long bound = static_cast<long>((2 * kCredit + 2 * kCoalesce) / 56) + 64;
  std::printf("sends returned 700 ms into the hold: %ld (bound %ld)\n", *at_sample, bound);
  EXPECT_GE(*at_sample, 0);
  EXPECT_LE(*at_sample, bound) << "the relay let the sender past the credit of the path";
  held.get();
  EXPECT_EQ(cadre::receive(60s, cadre::match<int>([](int x) { return x; })).value_or(-1), n)
      << "messages lost or out of order through the relay";
  for (NodeId id : ids) cadre::stop_node(id);
}

/// Answers calls with twice the request, forever.
void doubler() {
  for (;;) {
    int x = cadre::receive(cadre::match<int>([](int v) { return v; }));
    cadre::reply(2 * x);
  }
}
CADRE_TASK(doubler);

/// Registers itself under `name`, then waits for a broadcast string and reports it to `to`.
void named_listener(std::string name, Pid to) {
  cadre::register_name(name, cadre::self());
  cadre::send(to, std::string("registered"));
  auto s = cadre::receive(cadre::match<std::string>([](const std::string& x) { return x; }));
  cadre::send(to, "heard:" + s);
}
CADRE_TASK(named_listener);

int stat_and_log(int x) {
  cadre::stat("spawned_stat", x);
  cadre::log(cadre::Level::info, "a log line from spawned node {}", cadre::self_node().value());
  return x;
}
CADRE_TASK(stat_and_log);

std::string receive_string(std::chrono::milliseconds t) {
  return cadre::receive(t, cadre::match<std::string>([](const std::string& s) { return s; }))
      .value_or("timeout");
}

TEST(Spawn, SpawnedNodesTakePartInEveryKindOfWork) {
  auto ids = cadre::spawn_nodes({.count = 2});
  // random and on_host placements include them.
  std::set<std::uint32_t> seen;
  for (int i = 0; i < 200; ++i) seen.insert(cadre::run(cadre::random, node_of, 0).get());
  EXPECT_TRUE(seen.count(ids[0].value()) && seen.count(ids[1].value()));
  const std::string host = cadre::node_info(ids[0]).host;
  seen.clear();
  for (int i = 0; i < 200; ++i) seen.insert(cadre::run(cadre::on_host(host), node_of, 0).get());
  EXPECT_TRUE(seen.count(ids[0].value())) << "on_host(" << host << ") never chose a spawned node";
  // call, monitors and kill, names, broadcasts, stats and logs.
  Pid d = cadre::spawn(ids[0], doubler);
  EXPECT_EQ(cadre::call<int>(d, 21, 5s), 42);
  auto [victim, ref] = cadre::spawn_monitor(ids[1], doubler);
  cadre::kill(victim);
  auto down = cadre::receive(5s, cadre::on_down([](const cadre::Down& x) { return x.reason; }));
  EXPECT_EQ(down.value_or(cadre::Reason::normal), cadre::Reason::killed);
  cadre::spawn(ids[1], named_listener, std::string("spawned-listener"), cadre::self());
  EXPECT_EQ(receive_string(5s), "registered");
  auto where = cadre::whereis("spawned-listener");
  ASSERT_TRUE(where.has_value());
  EXPECT_EQ(where->node, ids[1]);
  cadre::broadcast(ids[1], std::string("to every process there"));
  EXPECT_EQ(receive_string(5s), "heard:to every process there");
  const double before = cadre::stats()["spawned_stat"];
  EXPECT_EQ(cadre::run(ids[0], stat_and_log, 5).get(), 5);
  EXPECT_EQ(cadre::stats()["spawned_stat"] - before, 5.0);  // the stat arrives before the result
  cadre::kill(d);
  for (NodeId id : ids) cadre::stop_node(id);
}

/// Streams numbered ints to `to` until the runtime ends it (shut-down).
void stream_forever(Pid to) {
  for (int i = 0;; ++i) cadre::send(to, i);
}
CADRE_TASK(stream_forever);

/// Takes whatever comes, until shut-down ends it.
void swallow() {
  for (;;) cadre::receive(cadre::match<int>([](int) {}));
}
CADRE_TASK(swallow);

// Last: spawned nodes still running, with traffic in flight both ways through the master, when
// the driver returns: shut-down ends them with the job (the job's status must be clean).
TEST(Spawn, ZLeftRunningWithTrafficAtShutdown) {
  auto ids = cadre::spawn_nodes({.count = 2});
  const NodeId world = cadre::node_info(NodeId(1)).rank == 1 &&
                               cadre::node_info(NodeId(1)).state == cadre::NodeState::up
                           ? NodeId(1)
                           : NodeId(0);
  Pid a = cadre::spawn(ids[0], swallow);
  Pid b = cadre::spawn(world, swallow);
  Pid c = cadre::spawn(ids[1], swallow);
  cadre::spawn(world, stream_forever, a);
  cadre::spawn(ids[0], stream_forever, b);
  cadre::spawn(ids[0], stream_forever, c);
  EXPECT_GT(cadre::ping(ids[1], 2s).count(), 0);
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc > 1) g_other = argv[1];
  cadre::Options o;
  o.shutdown_timeout = 5s;
  o.link_credit = kCredit;
  o.coalesce_bytes = kCoalesce;
  return cadre::launch(
      argc, argv, [] { return RUN_ALL_TESTS(); }, o);
}
