// The process service against fake nodes, without MPI: monitors fire once, unmonitor drops a
// queued Down, links and trap_exits, the name service, and the broadcast tree at 1, 2, 3 and
// 5 nodes. Each node is a FakeNode with a ProcessService; node 0 holds the driver <0.0>.

#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include "cadre/cadre.hpp"
#include "fake_node.hpp"
#include "services/processes.hpp"

using namespace cadre;
using cadre::services::ProcessService;
using cadre::testing::FakeCluster;
using cadre::testing::FakeNode;

namespace cadre {
/// Pids in test failure messages: "<1.4>".
inline void PrintTo(const Pid& p, std::ostream* os) { *os << fmt::format("{}", p); }
}  // namespace cadre

namespace {

/// The process services of the cluster under test, by node: process bodies find theirs here.
std::vector<ProcessService*> g_services;

ProcessService& service_here() {
  return *g_services.at(FakeCluster::running()->self_node().value());
}

// A process that waits until it is killed, or a linked process ends it.
void wait_forever() {
  ProcessService& ps = service_here();
  for (;;) {
    FakeCluster::running()->scheduler().suspend();
    ps.check_killed(ps.current());
  }
}
CADRE_TASK(wait_forever);

// A process that broadcasts g_broadcast_type down the tree rooted at its node, then ends.
std::uint64_t g_broadcast_type = 0;
void broadcast_once() {
  FakeNode& here = *FakeCluster::running();
  service_here().broadcast(here.self_node(), g_broadcast_type, "hello", true, here.self_node());
}
CADRE_TASK(broadcast_once);

// A process that ends normally the first time it is woken.
void end_when_woken() {
  ProcessService& ps = service_here();
  FakeCluster::running()->scheduler().suspend();
  ps.check_killed(ps.current());
}
CADRE_TASK(end_when_woken);

constexpr Pid kDriver{NodeId(0), 0};

/// A cluster of `n` fake nodes, each with its process service.
struct Cluster {
  FakeCluster fake;
  std::vector<std::unique_ptr<ProcessService>> ps;

  explicit Cluster(std::uint32_t n) : fake(n) {
    for (std::uint32_t i = 0; i < n; ++i) {
      ps.push_back(std::make_unique<ProcessService>(fake.node(i)));
      fake.node(i).add_service(*ps.back());
    }
    ps[0]->add_driver();
    g_services.clear();
    for (auto& p : ps) g_services.push_back(p.get());
  }
  ~Cluster() {
    // Every process ends (its stack unwinds) before the services and schedulers go.
    for (auto& p : ps) p->end_all(Reason::shutdown, "the test ended");
    EXPECT_TRUE(fake.settle(10000, /*lost_too=*/true));
    for (std::uint32_t i = 0; i < fake.size(); ++i)
      EXPECT_EQ(fake.node(i).scheduler().live_fibers(), 0u) << "node " << i;
    g_services.clear();
  }

  /// Spawns `body` on `node` for the driver; returns its pid.
  Pid spawn(std::uint32_t node, void (*body)()) {
    auto st = std::make_shared<detail::ResultState<std::uint64_t>>(1);
    ps[0]->spawn(NodeId(node), detail::task_entry(body), {}, 0, kDriver, 0, st);
    EXPECT_TRUE(fake.settle());
    if (!st->ready() || st->error(0)) {
      ADD_FAILURE() << "the spawn on node " << node << " failed or did not answer";
      return null_pid;
    }
    return Pid{NodeId(node), st->value(0)};
  }
  services::Process& driver() { return *ps[0]->find(0); }
  services::Process* process(Pid p) { return ps[p.node.value()]->find(p.serial); }

  /// The Downs in the driver's mailbox.
  std::vector<Down> downs() {
    std::vector<Down> out;
    std::lock_guard lock(driver().mu);
    for (auto& m : driver().inbox)
      if (m.kind == detail::MailKind::down)
        out.push_back(detail::decode_as<Down>(m.payload.data(), m.payload.size()));
    return out;
  }
  /// The one Down in the driver's mailbox, or a default one (and a failure) when there are
  /// none or several.
  Down one_down() {
    auto d = downs();
    EXPECT_EQ(d.size(), 1u);
    return d.size() == 1 ? d[0] : Down{};
  }
  /// Runs the cluster until it is quiet, then `step`, then until it is quiet again.
  template <class F>
  void then(F step) {
    EXPECT_TRUE(fake.settle());
    step();
    EXPECT_TRUE(fake.settle());
  }
  /// The messages of `type_id` queued for `p`.
  std::size_t messages(services::Process& p, std::uint64_t type_id) {
    std::size_t n = 0;
    if (p.threaded) {
      std::lock_guard lock(p.mu);
      for (auto& m : p.inbox) n += m.kind == detail::MailKind::user && m.type_id == type_id;
      return n;
    }
    for (std::size_t i = 0; i < p.mailbox.size(); ++i)
      n += p.mailbox[i].kind == detail::MailKind::user && p.mailbox[i].type_id == type_id;
    return n;
  }
};

}  // namespace

// -- monitors --------------------------------------------------------------------------------

TEST(ProcessService, AMonitorFiresOnceWhenItsProcessIsKilled) {
  Cluster c(2);
  Pid p = c.spawn(1, wait_forever);
  c.ps[0]->monitor(kDriver, p, 7);
  c.ps[0]->kill(p, "by the test");
  ASSERT_TRUE(c.fake.settle());
  auto d = c.downs();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].pid, p);
  EXPECT_EQ(d[0].reason, Reason::killed);
  EXPECT_EQ(d[0].ref.id, 7u);
  EXPECT_EQ(c.process(p), nullptr);
  // The node going later fires nothing more: the monitor was used up.
  c.fake.lose(NodeId(1));
  ASSERT_TRUE(c.fake.settle());
  EXPECT_EQ(c.downs().size(), 1u);
}

TEST(ProcessService, AMonitorFiresOnceWhenItsNodeIsLost) {
  Cluster c(3);
  Pid p = c.spawn(2, wait_forever);
  c.ps[0]->monitor(kDriver, p, 11);
  ASSERT_TRUE(c.fake.settle());
  c.fake.lose(NodeId(2));
  ASSERT_TRUE(c.fake.settle());
  auto d = c.downs();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason, Reason::node_down);
  // A Down for the same monitor arriving afterwards (late, or forged) is dropped.
  Down late{p, Reason::killed, "", MonitorRef{kDriver, p, 11}};
  std::string bytes = detail::encode_string(late);
  c.fake.node(0).deliver(
      NodeId(1), node::envelope({.cls = services::cls::down, .corr = 11, .src = p, .dst = kDriver}),
      std::vector<char>(bytes.begin(), bytes.end()));
  EXPECT_EQ(c.downs().size(), 1u);
}

TEST(ProcessService, MonitoringAPidThatIsGoneFiresNoProcessOnce) {
  Cluster c(2);
  c.ps[0]->monitor(kDriver, Pid{NodeId(1), 999}, 3);
  c.ps[0]->monitor(kDriver, Pid{NodeId(0), 998}, 4);
  ASSERT_TRUE(c.fake.settle());
  auto d = c.downs();
  ASSERT_EQ(d.size(), 2u);
  for (auto& x : d) EXPECT_EQ(x.reason, Reason::no_process);
}

TEST(ProcessService, TwoMonitorsOfOneProcessFireOnceEach) {
  Cluster c(2);
  Pid p = c.spawn(1, end_when_woken);
  c.ps[0]->monitor(kDriver, p, 1);
  c.ps[0]->monitor(kDriver, p, 2);
  ASSERT_TRUE(c.fake.settle());
  c.fake.node(1).scheduler().wake(c.process(p)->fiber);
  ASSERT_TRUE(c.fake.settle());
  auto d = c.downs();
  ASSERT_EQ(d.size(), 2u);
  EXPECT_NE(d[0].ref.id, d[1].ref.id);
  for (auto& x : d) EXPECT_EQ(x.reason, Reason::normal);
}

// unmonitor's sequence: demonitor on the loop, then drop what the owner's mailbox holds.
TEST(ProcessService, DemonitorAndDroppingQueuedDownsLeaveNoDown) {
  Cluster c(2);
  Pid p = c.spawn(1, wait_forever);
  c.ps[0]->monitor(kDriver, p, 5);
  c.ps[0]->kill(p, "by the test");
  ASSERT_TRUE(c.fake.settle());
  ASSERT_EQ(c.downs().size(), 1u);  // queued, not yet received
  c.ps[0]->demonitor(kDriver, p, 5);
  EXPECT_EQ(ProcessService::drop_queued_downs(c.driver(), 5), 1u);
  EXPECT_TRUE(c.downs().empty());
  std::lock_guard lock(c.driver().mu);
  EXPECT_EQ(c.driver().queued, 0u);
  EXPECT_EQ(c.driver().queued_bytes, 0u);
}

TEST(ProcessService, UnmonitorBeforeTheDownArrivesDropsIt) {
  Cluster c(2);
  Pid p = c.spawn(1, wait_forever);
  c.ps[0]->monitor(kDriver, p, 6);
  ASSERT_TRUE(c.fake.settle());
  c.ps[0]->kill(p, "by the test");
  c.ps[0]->demonitor(kDriver, p, 6);  // in flight behind the kill: the Down crosses it
  ASSERT_TRUE(c.fake.settle());
  EXPECT_TRUE(c.downs().empty());
}

// -- links -----------------------------------------------------------------------------------

TEST(ProcessService, ALinkedProcessEndsWhenItsPeerIsKilled) {
  Cluster c(2);
  Pid a = c.spawn(0, wait_forever);
  Pid b = c.spawn(1, wait_forever);
  c.ps[0]->link(a, b);
  c.ps[0]->monitor(kDriver, a, 1);
  c.then([&] { c.ps[0]->kill(b, "by the test"); });
  Down d = c.one_down();
  EXPECT_EQ(d.pid, a);
  EXPECT_EQ(d.reason, Reason::linked);
  EXPECT_NE(d.detail.find("killed"), std::string::npos) << d.detail;
}

TEST(ProcessService, AProcessThatTrapsExitsGetsAnExitAndGoesOn) {
  Cluster c(2);
  Pid a = c.spawn(0, wait_forever);
  Pid b = c.spawn(1, wait_forever);
  c.process(a)->trap = true;
  c.ps[0]->link(a, b);
  ASSERT_TRUE(c.fake.settle());
  c.ps[0]->kill(b, "by the test");
  ASSERT_TRUE(c.fake.settle());
  services::Process* pa = c.process(a);
  ASSERT_NE(pa, nullptr) << "a process that traps exits must survive its peer";
  ASSERT_EQ(pa->mailbox.live(), 1u);
  const detail::Mail& m = pa->mailbox[0];
  EXPECT_EQ(m.kind, detail::MailKind::exit);
  auto e = detail::decode_as<Exit>(m.payload.data(), m.payload.size());
  EXPECT_EQ(e.pid, b);
  EXPECT_EQ(e.reason, Reason::killed);
}

TEST(ProcessService, ANormalEndOfALinkedPeerLeavesAProcessRunning) {
  Cluster c(2);
  Pid a = c.spawn(0, wait_forever);
  Pid b = c.spawn(1, end_when_woken);
  c.ps[0]->link(a, b);
  ASSERT_TRUE(c.fake.settle());
  c.fake.node(1).scheduler().wake(c.process(b)->fiber);
  ASSERT_TRUE(c.fake.settle());
  EXPECT_EQ(c.process(b), nullptr);
  EXPECT_NE(c.process(a), nullptr);
}

TEST(ProcessService, LinkingToAProcessThatIsGoneEndsTheLinker) {
  Cluster c(2);
  Pid a = c.spawn(0, wait_forever);
  c.ps[0]->monitor(kDriver, a, 1);
  c.ps[0]->link(a, Pid{NodeId(1), 12345});
  ASSERT_TRUE(c.fake.settle());
  Down d = c.one_down();
  EXPECT_EQ(d.reason, Reason::linked);
  EXPECT_NE(d.detail.find("no_process"), std::string::npos) << d.detail;
}

TEST(ProcessService, ALostNodeBreaksTheLinksToItsProcesses) {
  Cluster c(2);
  Pid a = c.spawn(0, wait_forever);
  Pid b = c.spawn(1, wait_forever);
  c.ps[0]->link(a, b);
  c.ps[0]->monitor(kDriver, a, 1);
  c.then([&] { c.fake.lose(NodeId(1)); });
  Down d = c.one_down();
  EXPECT_EQ(d.reason, Reason::linked);
  EXPECT_NE(d.detail.find("node_down"), std::string::npos) << d.detail;
}

// -- names -----------------------------------------------------------------------------------

namespace {
std::optional<Pid> name_call(Cluster& c, std::uint32_t from, node::Cls kind, const char* name,
                             Pid pid, std::string* error = nullptr) {
  auto st = std::make_shared<detail::ResultState<std::optional<Pid>>>(1);
  c.ps[from]->name_request(kind, Pid{NodeId(from), 0}, name, pid, st);
  EXPECT_TRUE(c.fake.settle());
  EXPECT_TRUE(st->ready());
  if (auto e = st->error(0)) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      if (error) *error = x.what();
    }
    return std::nullopt;
  }
  return st->value(0);
}
}  // namespace

TEST(ProcessService, NamesAreRegisteredOnceLookedUpAnywhereAndGoWithTheirProcess) {
  Cluster c(3);
  Pid p = c.spawn(1, wait_forever);
  Pid q = c.spawn(2, wait_forever);
  name_call(c, 1, services::cls::name_register, "svc", p);
  EXPECT_EQ(name_call(c, 2, services::cls::name_lookup, "svc", {}), std::optional<Pid>(p));
  EXPECT_EQ(name_call(c, 0, services::cls::name_lookup, "svc", {}), std::optional<Pid>(p));
  std::string error;
  name_call(c, 2, services::cls::name_register, "svc", q, &error);
  EXPECT_NE(error.find("the name 'svc' is taken by"), std::string::npos) << error;
  EXPECT_EQ(name_call(c, 2, services::cls::name_lookup, "nobody", {}), std::optional<Pid>());
  c.ps[0]->kill(p, "by the test");
  ASSERT_TRUE(c.fake.settle());
  EXPECT_EQ(name_call(c, 2, services::cls::name_lookup, "svc", {}), std::optional<Pid>());
  // Free again: another process takes it.
  name_call(c, 2, services::cls::name_register, "svc", q);
  EXPECT_EQ(name_call(c, 1, services::cls::name_lookup, "svc", {}), std::optional<Pid>(q));
}

TEST(ProcessService, TheNamesOfALostNodeGo) {
  Cluster c(3);
  Pid p = c.spawn(2, wait_forever);
  name_call(c, 2, services::cls::name_register, "far", p);
  c.fake.lose(NodeId(2));
  ASSERT_TRUE(c.fake.settle());
  EXPECT_EQ(name_call(c, 1, services::cls::name_lookup, "far", {}), std::optional<Pid>());
}

// -- broadcast tree --------------------------------------------------------------------------

class BroadcastTree : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(BroadcastTree, EveryProcessGetsOneCopyAndEveryOtherNodeOneEnvelope) {
  const std::uint32_t n = GetParam();
  Cluster c(n);
  std::vector<Pid> procs;
  for (std::uint32_t i = 0; i < n; ++i) procs.push_back(c.spawn(i, wait_forever));
  std::uint64_t type_id = 4200;
  for (std::uint32_t root = 0; root < n; ++root, ++type_id) {
    const std::size_t before = c.fake.sent(services::cls::broadcast);
    // From a process of the root: forwarded copies carry its pid, which the class's rules
    // let through on every hop.
    g_broadcast_type = type_id;
    c.spawn(root, broadcast_once);
    ASSERT_TRUE(c.fake.settle());
    for (std::uint32_t i = 0; i < n; ++i)
      EXPECT_TRUE(c.fake.node(i).refused.empty())
          << "node " << i << ": " << c.fake.node(i).refused[0];
    EXPECT_EQ(c.fake.sent(services::cls::broadcast) - before, n - 1)
        << "a tree from node " << root << " sends one envelope to each other node";
    for (Pid p : procs)
      EXPECT_EQ(c.messages(*c.process(p), type_id), 1u)
          << "process " << fmt::format("{}", p) << ", broadcast from node " << root;
    EXPECT_EQ(c.messages(c.driver(), type_id), 1u) << "the driver, from node " << root;
  }
}

INSTANTIATE_TEST_SUITE_P(Nodes, BroadcastTree, ::testing::Values(1u, 2u, 3u, 5u));

TEST(ProcessService, ABroadcastTreeLeavesALostNodeOutAndReachesTheRestOnce) {
  for (std::uint32_t n : {3u, 5u}) {
    Cluster c(n);
    std::vector<Pid> procs;
    for (std::uint32_t i = 0; i < n; ++i) procs.push_back(c.spawn(i, wait_forever));
    c.fake.lose(NodeId(1));
    ASSERT_TRUE(c.fake.settle());
    c.ps[0]->broadcast(NodeId(0), 77, "x", true, NodeId(0));
    ASSERT_TRUE(c.fake.settle());
    for (Pid p : procs)
      if (p.node != NodeId(1))
        EXPECT_EQ(c.messages(*c.process(p), 77), 1u)
            << n << " nodes, process " << fmt::format("{}", p);
  }
}
