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
#include <string>

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
  return cadre::launch(
      argc, argv, [] { return RUN_ALL_TESTS(); }, o);
}
