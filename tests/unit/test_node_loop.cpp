// The node loop driven by a fake transport: the test plays node 1 of a two-node job against
// a real Core as node 0 (the master), byte for byte as the wire carries it.

#include <gtest/gtest.h>

#include <memory>

#include "api/node_services.hpp"
#include "cadre/cadre.hpp"
#include "fake_transport.hpp"
#include "node/core.hpp"
#include "node/protocol.hpp"
#include "services/tasks.hpp"
#include "wire/registry_internal.hpp"

using namespace cadre;
using cadre::testing::FakeTransport;
using cadre::testing::Sent;

namespace {

int add_one(int x) {
  if (x < 0) throw std::invalid_argument("negative");
  return x + 1;
}
CADRE_TASK(add_one);

template <class T>
std::vector<char> encode(const T& v) {
  detail::ByteBuffer b;
  detail::OutArchive ar(b);
  ar& v;
  return b.to_vector();
}

wire::Envelope env_of(node::Cls cls, NodeId from, NodeId to) {
  wire::Envelope e{};
  e.cls = static_cast<std::uint8_t>(cls);
  e.src = Pid{from, 0};
  e.dst = Pid{to, 0};
  return e;
}

node::Hello hello_of_node1(bool mismatch) {
  node::Hello h;
  h.name = "fake:1";
  h.host = "fake";
  for (const detail::Entry* e : detail::all_entries())
    h.registry.push_back(node::RegistryRecord{static_cast<std::uint8_t>(e->kind), e->name,
                                              mismatch ? e->signature + "?" : e->signature});
  return h;
}

struct Fixture {
  FakeTransport* fake;
  std::shared_ptr<std::deque<Sent>> out;
  std::unique_ptr<node::Core> core;
  std::unique_ptr<api::NodeServices> services;

  explicit Fixture(bool mismatch = false) {
    auto t = std::make_unique<FakeTransport>(NodeId(0), 2);
    fake = t.get();
    out = t->outbox;
    Options o;
    o.ready_timeout = std::chrono::milliseconds(2000);
    core = std::make_unique<node::Core>(std::move(t), o, "fake");
    services = std::make_unique<api::NodeServices>(*core);
    core->bind_loop_thread();
    fake->inject(NodeId(1), env_of(node::Cls::hello, NodeId(1), NodeId(0)),
                 encode(hello_of_node1(mismatch)));
  }
  ~Fixture() { services.reset(); }  // before the node
  Sent pop() {
    EXPECT_FALSE(out->empty());
    Sent s = std::move(out->front());
    out->pop_front();
    return s;
  }
  void steps(int n) {
    for (int i = 0; i < n; ++i) core->step();
  }
};

}  // namespace

TEST(NodeLoop, HandshakeWelcomesTheWorkerWithTheNodeTable) {
  Fixture f;
  f.core->start();
  Sent w = f.pop();
  EXPECT_EQ(w.dst, NodeId(1));
  EXPECT_EQ(w.env.cls, static_cast<std::uint8_t>(node::Cls::welcome));
  auto welcome = detail::decode_as<node::Welcome>(w.payload.data(), w.payload.size());
  ASSERT_EQ(welcome.nodes.size(), 2u);
  EXPECT_EQ(welcome.nodes[1].name, "fake:1");
  EXPECT_EQ(welcome.options.ready_timeout_ms, 2000);
  EXPECT_EQ(f.core->table()->size(), 2u);
}

TEST(NodeLoop, RegistryMismatchRefusesStartUp) {
  Fixture f(true);
  EXPECT_THROW(f.core->start(), RegistryMismatch);
  Sent a = f.pop();
  EXPECT_EQ(a.env.cls, static_cast<std::uint8_t>(node::Cls::abort_start));
  auto msg = detail::decode_as<std::string>(a.payload.data(), a.payload.size());
  EXPECT_NE(msg.find("add_one"), std::string::npos) << msg;
}

TEST(NodeLoop, RunSendsARequestAndTheResultCompletesTheFuture) {
  Fixture f;
  f.core->start();
  f.pop();  // welcome
  auto fut = run(on(NodeId(1)), add_one, 41);
  Sent req = f.pop();
  EXPECT_EQ(req.env.cls, static_cast<std::uint8_t>(services::cls::task_request));
  EXPECT_EQ(req.env.type_id, detail::find_task(reinterpret_cast<const void*>(&add_one))->id);
  EXPECT_EQ(detail::decode_as<int>(req.payload.data(), req.payload.size()), 41);
  EXPECT_FALSE(fut.ready());
  // Node 1 answers: one slot, status ok, value 42.
  detail::ByteBuffer b;
  {
    detail::OutArchive ar(b);
    ar& std::uint32_t(1) & std::uint8_t(0) & 42;
  }
  auto res = env_of(services::cls::task_result, NodeId(1), NodeId(0));
  res.corr = req.env.corr;
  f.fake->inject(NodeId(1), res, b.to_vector());
  f.steps(1);
  ASSERT_TRUE(fut.ready());
  EXPECT_EQ(fut.get(), 42);
  // A late duplicate of the same result is dropped, not delivered twice.
  f.fake->inject(NodeId(1), res, b.to_vector());
  f.steps(1);
}

TEST(NodeLoop, MalformedResultsFailTheFutureClearly) {
  Fixture f;
  f.core->start();
  f.pop();
  auto fut = run(on(NodeId(1)), add_one, 1);
  Sent req = f.pop();
  auto res = env_of(services::cls::task_result, NodeId(1), NodeId(0));
  res.corr = req.env.corr;
  f.fake->inject(NodeId(1), res, std::vector<char>{1, 0});  // truncated count
  f.fake->inject_bad(NodeId(1), "checksum mismatch");       // and a bad frame: no crash
  f.steps(2);
  ASSERT_TRUE(fut.ready());
  try {
    fut.get();
    FAIL();
  } catch (const DecodeError& e) {
    std::string w = e.what();
    EXPECT_NE(w.find("malformed result"), std::string::npos) << w;
    EXPECT_NE(w.find("node 1"), std::string::npos) << w;
  }
}

TEST(NodeLoop, RequestsFromOtherNodesRunAsFibersAndAnswer) {
  Fixture f;
  f.core->start();
  f.pop();
  auto req = env_of(services::cls::task_request, NodeId(1), NodeId(0));
  req.type_id = detail::find_task(reinterpret_cast<const void*>(&add_one))->id;
  req.corr = 77;
  f.fake->inject(NodeId(1), req, encode(5));
  req.corr = 78;
  f.fake->inject(NodeId(1), req, encode(-5));
  req.corr = 79;
  req.type_id = 12345;  // unknown task
  f.fake->inject(NodeId(1), req, encode(1));
  f.steps(3);
  ASSERT_EQ(f.out->size(), 3u);
  for (int i = 0; i < 3; ++i) {
    Sent r = f.pop();
    EXPECT_EQ(r.env.cls, static_cast<std::uint8_t>(services::cls::task_result));
    detail::InArchive ia(r.payload.data(), r.payload.size());
    if (r.env.corr == 77) {
      std::uint32_t n;
      std::uint8_t st;
      int v;
      ia& n& st& v;
      EXPECT_EQ(v, 6);
    } else if (r.env.corr == 78) {
      std::uint32_t n;
      std::uint8_t st;
      std::string type, what;
      ia& n& st& type& what;
      EXPECT_EQ(st, static_cast<std::uint8_t>(services::SlotStatus::exception));
      EXPECT_EQ(type, "std::invalid_argument");
      EXPECT_EQ(what, "negative");
    } else {
      EXPECT_EQ(r.env.corr, 79u);
      EXPECT_EQ(r.env.flags, 1) << "a whole-request failure";
      std::uint8_t st;
      ia& st;
      EXPECT_EQ(st, static_cast<std::uint8_t>(services::SlotStatus::not_registered));
    }
  }
}

TEST(NodeLoop, LocalTasksGoThroughTheLoopback) {
  Fixture f;
  f.core->start();
  f.pop();
  auto fut = run(local, add_one, 9);
  f.steps(4);
  ASSERT_TRUE(fut.ready());
  EXPECT_EQ(fut.get(), 10);
}
