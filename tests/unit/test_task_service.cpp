// The task service against fake nodes, without MPI: requests run where they are placed and
// answer once, errors travel back with their text, map spreads over the workers and gives
// every input one result, a lost node's work fails or moves, and shut-down's phases refuse
// and abandon work as they say.

#include <gtest/gtest.h>

#include <memory>

#include "cadre/cadre.hpp"
#include "fake_node.hpp"
#include "services/output.hpp"
#include "services/processes.hpp"
#include "services/tasks.hpp"

using namespace cadre;
using cadre::services::TaskService;
using cadre::testing::FakeCluster;

namespace {

int twice(int x) { return 2 * x; }
CADRE_TASK(twice);

int refuse_negative(int x) {
  if (x < 0) throw std::invalid_argument("negative input");
  return x;
}
CADRE_TASK(refuse_negative);

// Node 1 holds every input until the test releases it; other nodes answer at once.
bool g_release = false;
std::vector<std::pair<cadre::testing::FakeNode*, sched::Fiber*>> g_held;
int held_on_node_1(int x) {
  cadre::testing::FakeNode* here = FakeCluster::running();
  if (here->self_node() != NodeId(1)) return x;
  while (!g_release) {
    g_held.emplace_back(here, sched::Scheduler::current());
    here->scheduler().suspend();
  }
  return x;
}
CADRE_TASK(held_on_node_1);

/// A cluster of `n` fake nodes with the services tasks need (output, and the processes it
/// delivers relays to).
struct Cluster {
  FakeCluster fake;
  std::vector<std::unique_ptr<services::ProcessService>> procs;
  std::vector<std::unique_ptr<services::OutputService>> output;
  std::vector<std::unique_ptr<TaskService>> tasks;

  explicit Cluster(std::uint32_t n) : fake(n) {
    for (std::uint32_t i = 0; i < n; ++i) {
      auto& node = fake.node(i);
      procs.push_back(std::make_unique<services::ProcessService>(node));
      output.push_back(std::make_unique<services::OutputService>(node, *procs.back()));
      tasks.push_back(std::make_unique<TaskService>(node, *output.back()));
      node.add_service(*tasks.back());
      node.add_service(*procs.back());
      node.add_service(*output.back());
    }
    g_release = false;
    g_held.clear();
  }
  ~Cluster() {
    // Held tasks return (on a lost node too) before the schedulers go.
    g_release = true;
    for (auto [node, fiber] : g_held) node->scheduler().wake(fiber);
    g_held.clear();
    EXPECT_TRUE(fake.settle(10000, /*lost_too=*/true));
    for (std::uint32_t i = 0; i < fake.size(); ++i)
      EXPECT_EQ(fake.node(i).scheduler().live_fibers(), 0u) << "node " << i;
  }

  template <class R, class P>
  std::shared_ptr<detail::ResultState<R>> run(std::uint32_t from, const Placement& where,
                                              R (*fn)(P), P arg) {
    detail::ByteBuffer args;
    {
      detail::OutArchive ar(args);
      ar& arg;
    }
    auto st = std::make_shared<detail::ResultState<R>>(1);
    tasks[from]->submit(where, detail::task_entry(fn), std::move(args), st);
    return st;
  }

  /// A map of `fn` over `inputs` from node 0, in chunks of `chunk`.
  std::vector<std::shared_ptr<detail::ResultState<int>>> map(const Placement& where, int (*fn)(int),
                                                             const std::vector<int>& inputs,
                                                             std::uint32_t chunk) {
    auto in = std::make_unique<detail::MapInputsOf<int>>(inputs.begin(), inputs.size(), chunk);
    auto states = in->make_states<int>();
    tasks[0]->submit_map(where, detail::task_entry(fn), std::move(in), MapOptions{});
    return states;
  }
};

/// What CountingInputs saw, per chunk (outlives the map job, which goes when it finishes).
struct Counts {
  std::vector<int> encodes, drops;
};

/// The inputs 0..n-1 of a map, counting each chunk's encodings and drops; encoding input
/// `bad` throws.
class CountingInputs final : public detail::MapInputs {
 public:
  CountingInputs(std::size_t n, std::size_t chunk, Counts& counts, std::size_t bad = SIZE_MAX)
      : MapInputs(n, chunk), counts_(counts), bad_(bad) {
    counts.encodes.assign(chunks(), 0);
    counts.drops.assign(chunks(), 0);
  }
  void encode(std::size_t k, detail::ByteBuffer& out, std::size_t& at) const override {
    ++counts_.encodes[k];
    detail::OutArchive ar(out);
    ar& chunk_size(k);
    for (at = first(k); at < first(k) + chunk_size(k); ++at) {
      if (at == bad_) throw std::invalid_argument("input refused");
      ar& static_cast<int>(at);
    }
  }
  void drop(std::size_t k) override { ++counts_.drops[k]; }

 private:
  Counts& counts_;
  std::size_t bad_;
};

std::string error_text(const detail::StateBase& st, std::uint32_t slot = 0) {
  if (!st.error(slot)) return {};
  try {
    std::rethrow_exception(st.error(slot));
  } catch (const std::exception& e) {
    return e.what();
  }
  return "a non-standard exception";
}

}  // namespace

TEST(TaskService, ARequestRunsOnItsNodeAndAnswersOnce) {
  Cluster c(3);
  auto st = c.run(0, on(NodeId(2)), twice, 21);
  ASSERT_TRUE(c.fake.settle());
  ASSERT_TRUE(st->ready());
  EXPECT_EQ(error_text(*st), "");
  EXPECT_EQ(st->value(0), 42);
  EXPECT_EQ(c.fake.sent(services::cls::task_request, NodeId(2)), 1u) << "it ran elsewhere";
  EXPECT_EQ(c.fake.sent(services::cls::task_request), 1u);
  EXPECT_EQ(c.fake.sent(services::cls::task_result, NodeId(0)), 1u);
  EXPECT_EQ(c.tasks[0]->unfinished(), 0u);
  auto local = c.run(1, cadre::local, twice, 5);
  ASSERT_TRUE(c.fake.settle());
  EXPECT_EQ(local->value(0), 10);
  // A result for a request nobody waits for (a duplicate, or forged) is counted, not taken.
  c.fake.node(0).deliver(NodeId(2),
                         node::envelope({.cls = services::cls::task_result,
                                         .corr = 1,
                                         .src = Pid{NodeId(2), 0},
                                         .dst = Pid{NodeId(0), 0}}),
                         {});
  EXPECT_EQ(c.fake.node(0).drops().late_reply, 1u);
}

TEST(TaskService, AnExceptionComesBackWithItsText) {
  Cluster c(2);
  auto st = c.run(0, on(NodeId(1)), refuse_negative, -1);
  ASSERT_TRUE(c.fake.settle());
  ASSERT_TRUE(st->ready());
  EXPECT_NE(error_text(*st).find("negative input"), std::string::npos) << error_text(*st);
}

TEST(TaskService, AnUnknownNodeFailsTheRequestAtOnce) {
  Cluster c(2);
  auto st = c.run(0, on(NodeId(7)), twice, 1);
  ASSERT_TRUE(st->ready());
  EXPECT_NE(error_text(*st).find("node 7 is not part of the runtime"), std::string::npos)
      << error_text(*st);
}

TEST(TaskService, AMapSpreadsOverTheWorkersAndEveryInputGetsOneResult) {
  Cluster c(3);
  std::vector<int> inputs(200);
  for (int i = 0; i < 200; ++i) inputs[i] = i;
  auto states = c.map(cadre::any, twice, inputs, 5);
  ASSERT_TRUE(c.fake.settle());
  std::size_t k = 0;
  for (auto& st : states) {
    ASSERT_TRUE(st->ready());
    for (std::uint32_t i = 0; i < st->slots(); ++i, ++k) EXPECT_EQ(st->value(i), 2 * inputs[k]);
  }
  EXPECT_EQ(k, inputs.size());
  EXPECT_EQ(c.fake.sent(services::cls::task_request), 40u);
  EXPECT_EQ(c.fake.sent(services::cls::task_result), 40u);
  // Both workers took a share (the master takes none while workers are up).
  EXPECT_GE(c.fake.sent(services::cls::task_request, NodeId(1)), 10u);
  EXPECT_GE(c.fake.sent(services::cls::task_request, NodeId(2)), 10u);
  EXPECT_EQ(c.fake.sent(services::cls::task_request, NodeId(0)), 0u);
  EXPECT_EQ(c.tasks[0]->unfinished(), 0u);
}

TEST(TaskService, ALostNodesRequestsFailAndItsMapChunksMoveToTheOthers) {
  Cluster c(3);
  auto single = c.run(0, on(NodeId(1)), held_on_node_1, 9);
  std::vector<int> inputs(60);
  for (int i = 0; i < 60; ++i) inputs[i] = i;
  auto states = c.map(cadre::any, held_on_node_1, inputs, 3);
  ASSERT_TRUE(c.fake.settle());
  EXPECT_FALSE(single->ready());
  c.fake.lose(NodeId(1));
  ASSERT_TRUE(c.fake.settle());
  ASSERT_TRUE(single->ready());
  EXPECT_NE(error_text(*single).find("lost"), std::string::npos) << error_text(*single);
  std::size_t k = 0;
  for (auto& st : states) {
    ASSERT_TRUE(st->ready()) << "a chunk held by the lost node was not sent elsewhere";
    for (std::uint32_t i = 0; i < st->slots(); ++i, ++k) {
      EXPECT_EQ(error_text(*st, i), "");
      EXPECT_EQ(st->value(i), inputs[k]);
    }
  }
  EXPECT_EQ(k, inputs.size());
}

TEST(TaskService, ANodeThatStoppedAcceptingRefusesNewRequests) {
  Cluster c(2);
  c.tasks[1]->stop_accepting();
  auto st = c.run(0, on(NodeId(1)), twice, 1);
  ASSERT_TRUE(c.fake.settle());
  ASSERT_TRUE(st->ready());
  EXPECT_NE(error_text(*st).find("refused task 'twice': the node is shutting down"),
            std::string::npos)
      << error_text(*st);
}

TEST(TaskService, AnUnregisteredTaskIsReportedNotRun) {
  Cluster c(2);
  detail::Entry fake = *detail::task_entry(twice);
  fake.id ^= 0x5a5a5a5a;  // an id node 1's registry does not hold
  detail::ByteBuffer args;
  {
    detail::OutArchive ar(args);
    int x = 1;
    ar& x;
  }
  auto st = std::make_shared<detail::ResultState<int>>(1);
  c.tasks[0]->submit(on(NodeId(1)), &fake, std::move(args), st);
  ASSERT_TRUE(c.fake.settle());
  ASSERT_TRUE(st->ready());
  EXPECT_NE(error_text(*st).find("is not registered on node 1"), std::string::npos)
      << error_text(*st);
}

TEST(TaskService, ShutDownAbandonsTheMapInputsNotYetSent) {
  Cluster c(2);  // one worker: a window of map_window chunks, the rest queued
  std::vector<int> inputs(100);
  for (int i = 0; i < 100; ++i) inputs[i] = i;
  auto states = c.map(cadre::any, held_on_node_1, inputs, 10);
  ASSERT_TRUE(c.fake.settle());
  const int window = Options{}.map_window;
  EXPECT_EQ(c.tasks[0]->unfinished(), 10u);  // every chunk: `window` sent, the rest queued
  EXPECT_EQ(c.tasks[0]->abandon_unsent(), static_cast<std::size_t>(100 - 10 * window));
  std::size_t abandoned = 0;
  for (auto& st : states)
    if (st->ready() &&
        error_text(*st).find("shut down before this map input was sent") != std::string::npos)
      abandoned += st->slots();
  EXPECT_EQ(abandoned, static_cast<std::size_t>(100 - 10 * window));
  EXPECT_EQ(c.tasks[1]->running(), static_cast<std::size_t>(window));
}

TEST(TaskService, AMapChunkIsEncodedAsItLeavesAndAgainWhenItsNodeIsLost) {
  Cluster c(3);
  Counts counts;
  auto in = std::make_unique<CountingInputs>(60, 3, counts);  // 20 chunks
  auto states = in->make_states<int>();
  c.tasks[0]->submit_map(cadre::any, detail::task_entry(held_on_node_1), std::move(in),
                         MapOptions{});
  ASSERT_TRUE(c.fake.settle());
  // Node 1 holds its window of chunks; node 2 answered every other one.
  std::vector<std::size_t> held;
  for (std::size_t k = 0; k < 20; ++k) {
    EXPECT_EQ(counts.encodes[k], 1) << "chunk " << k;
    if (counts.drops[k] == 0) held.push_back(k);
  }
  EXPECT_EQ(held.size(), static_cast<std::size_t>(Options{}.map_window));
  c.fake.lose(NodeId(1));
  ASSERT_TRUE(c.fake.settle());
  for (std::size_t k : held) EXPECT_EQ(counts.encodes[k], 2) << "chunk " << k << " not sent again";
  for (std::size_t k = 0; k < 20; ++k) {
    EXPECT_EQ(counts.drops[k], 1) << "chunk " << k;
    ASSERT_TRUE(states[k]->ready());
    for (std::uint32_t i = 0; i < 3; ++i) {
      EXPECT_EQ(error_text(*states[k], i), "");
      EXPECT_EQ(states[k]->value(i), static_cast<int>(3 * k + i));
    }
  }
  EXPECT_EQ(c.tasks[0]->unfinished(), 0u);
}

TEST(TaskService, AMapChunkThatCannotBeEncodedFailsAloneAndTheMapGoesOn) {
  Cluster c(2);
  Counts counts;
  auto in = std::make_unique<CountingInputs>(30, 10, counts, /*bad=*/17);
  auto states = in->make_states<int>();
  c.tasks[0]->submit_map(cadre::any, detail::task_entry(twice), std::move(in), MapOptions{});
  ASSERT_TRUE(c.fake.settle());
  for (std::size_t k : {0u, 2u})
    for (std::uint32_t i = 0; i < 10; ++i) EXPECT_EQ(states[k]->value(i), 2 * int(10 * k + i));
  ASSERT_TRUE(states[1]->ready());
  for (std::uint32_t i = 0; i < 10; ++i)
    EXPECT_EQ(error_text(*states[1], i),
              "cadre::map(task 'twice'): input 17 could not be encoded (std::invalid_argument: "
              "input refused); its chunk of 10 inputs (10..19) was not sent");
  EXPECT_EQ(counts.drops, (std::vector<int>{1, 1, 1}));
  EXPECT_EQ(c.fake.sent(services::cls::task_request), 2u) << "the failed chunk was sent";
  EXPECT_EQ(c.tasks[0]->unfinished(), 0u);
}
