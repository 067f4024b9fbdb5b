// Tasks over MPI: run and map on every placement, errors, nesting, futures. Runs as a whole
// job: the master's driver runs the GoogleTest cases, the workers serve.

#include <gtest/gtest.h>

#include <atomic>
#include <cadre/cadre.hpp>
#include <chrono>
#include <cstdlib>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <variant>
#include <vector>

using namespace std::chrono_literals;

namespace {

long square(long x) { return x * x; }
CADRE_TASK(square);

void quiet_process() {}
CADRE_TASK(quiet_process);

std::uint32_t node_of_task() { return cadre::self_node().value(); }
CADRE_TASK(node_of_task);

std::string echo_host() { return cadre::node_info(cadre::self_node()).host; }
CADRE_TASK(echo_host);

int thrower(int x) {
  if (x % 2) throw std::out_of_range("odd input " + std::to_string(x));
  return x;
}
CADRE_TASK(thrower);

long nested_sum(long n) {
  // A task that itself runs tasks and waits: only its fiber waits, not its node.
  std::vector<long> xs(static_cast<std::size_t>(n));
  std::iota(xs.begin(), xs.end(), 1L);
  auto fs = cadre::map(cadre::any, square, xs);
  long s = 0;
  for (auto& f : fs) s += f.get();
  s += cadre::run(cadre::any, square, n).get();
  return s;
}
CADRE_TASK(nested_sum);

int sleepy(int ms) {
  // Yields while it waits, as long tasks should.
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) cadre::yield();
  return ms;
}
CADRE_TASK(sleepy);

std::string describe(std::tuple<int, std::string> t, std::optional<double> o,
                     std::variant<int, std::string> v, std::map<std::string, std::vector<int>> m) {
  std::string s = std::to_string(std::get<0>(t)) + "/" + std::get<1>(t) + "/";
  s += o ? std::to_string(static_cast<int>(*o)) : "none";
  s += "/";
  s += v.index() == 0 ? "int:" + std::to_string(std::get<0>(v)) : "str:" + std::get<1>(v);
  for (auto& [k, xs] : m) s += "/" + k + "=" + std::to_string(xs.size());
  return s;
}
CADRE_TASK(describe);

std::optional<std::variant<long, std::string>> classify(long x) {
  if (x < 0) return std::nullopt;
  if (x % 2) return std::variant<long, std::string>(std::string("odd"));
  return std::variant<long, std::string>(x / 2);
}
CADRE_TASK(classify);

std::atomic<int> g_void_calls{0};
void touch(int) { g_void_calls++; }
CADRE_TASK(touch);

std::vector<char> blob(std::size_t n) { return std::vector<char>(n, 'x'); }
CADRE_TASK(blob);

std::size_t blob_size(std::vector<char> v) { return v.size(); }
CADRE_TASK(blob_size);

int own_decode_error(int x) {
  // A cadre::DecodeError thrown by the task itself is the task's exception, not bad input.
  if (x % 2) throw cadre::DecodeError("thrown by the task for " + std::to_string(x));
  return x;
}
CADRE_TASK(own_decode_error);

int not_registered(int x) { return x; }

std::vector<cadre::Placement> all_placements() {
  std::vector<cadre::Placement> ps = {cadre::any, cadre::random, cadre::local};
  for (auto n : cadre::nodes()) ps.push_back(cadre::on(n));
  ps.push_back(cadre::on_host(cadre::node_info(cadre::self_node()).host));
  ps.push_back(cadre::random_on({cadre::node_info(cadre::self_node()).host}));
  return ps;
}

std::string name_of(const cadre::Placement& p) {
  switch (p.kind) {
    case cadre::Placement::Kind::any:
      return "any";
    case cadre::Placement::Kind::random:
      return "random";
    case cadre::Placement::Kind::local:
      return "local";
    case cadre::Placement::Kind::node:
      return "on(" + std::to_string(p.node.value()) + ")";
    case cadre::Placement::Kind::host:
      return "on_host(" + p.host + ")";
    case cadre::Placement::Kind::random_on:
      return "random_on(" + p.hosts.at(0) + ")";
  }
  return "?";
}

}  // namespace

TEST(Tasks, RunTenThousandOnEveryPlacement) {
  for (auto& p : all_placements()) {
    SCOPED_TRACE(name_of(p));
    const int n = p.kind == cadre::Placement::Kind::any ? 10000 : 2000;
    std::vector<cadre::Future<long>> fs;
    fs.reserve(n);
    for (long i = 0; i < n; ++i) fs.push_back(cadre::run(p, square, i));
    long bad = 0;
    for (long i = 0; i < n; ++i) bad += fs[static_cast<std::size_t>(i)].get() != i * i;
    EXPECT_EQ(bad, 0);
  }
}

TEST(Tasks, MapTenThousandOnEveryPlacement) {
  std::vector<long> xs(10000);
  std::iota(xs.begin(), xs.end(), -5000L);
  for (auto& p : all_placements()) {
    for (std::size_t chunk :
         {std::size_t(0), std::size_t(1), std::size_t(64), std::size_t(100000)}) {
      SCOPED_TRACE(name_of(p) + " chunk " + std::to_string(chunk));
      if (chunk == 1 && p.kind != cadre::Placement::Kind::any) continue;  // keep the suite short
      auto fs = cadre::map(p, square, xs, {.chunk = chunk});
      ASSERT_EQ(fs.size(), xs.size());
      long bad = 0;
      for (std::size_t i = 0; i < xs.size(); ++i) bad += fs[i].get() != xs[i] * xs[i];
      EXPECT_EQ(bad, 0);
    }
  }
}

TEST(Tasks, PlacementsGoWhereTheySay) {
  auto ns = cadre::nodes();
  for (auto n : ns) EXPECT_EQ(cadre::run(cadre::on(n), node_of_task).get(), n.value());
  EXPECT_EQ(cadre::run(cadre::local, node_of_task).get(), 0u);
  // any and random use workers when there are any; the master only when it is alone.
  std::set<std::uint32_t> seen;
  std::vector<cadre::Future<std::uint32_t>> fs;
  for (int i = 0; i < 200; ++i)
    fs.push_back(cadre::run(i % 2 ? cadre::any : cadre::random, node_of_task));
  for (auto& f : fs) seen.insert(f.get());
  if (ns.size() == 1) {
    EXPECT_EQ(seen, std::set<std::uint32_t>{0});
  } else {
    EXPECT_FALSE(seen.count(0)) << "any/random picked the master although workers exist";
    EXPECT_EQ(seen.size(), ns.size() - 1) << "some worker got no task out of 200";
  }
  EXPECT_EQ(cadre::run(cadre::on_host(cadre::node_info(ns.back()).host), echo_host).get(),
            cadre::node_info(ns.back()).host);
  // A bare NodeId is a placement.
  EXPECT_EQ(cadre::run(ns.back(), node_of_task).get(), ns.back().value());
}

TEST(Tasks, RandomOnPicksLiveWorkersOfTheNamedHosts) {
  const auto ns = cadre::nodes();
  const std::string here = cadre::node_info(cadre::self_node()).host;
  std::set<std::uint32_t> seen;
  std::vector<cadre::Future<std::uint32_t>> fs;
  for (int i = 0; i < 100; ++i) fs.push_back(cadre::run(cadre::random_on({here}), node_of_task));
  for (auto& f : fs) seen.insert(f.get());
  // The workers on this host; the master only when there is none.
  std::set<std::uint32_t> expected;
  for (auto n : ns)
    if (n.value() != 0 && cadre::node_info(n).host == here) expected.insert(n.value());
  if (expected.empty()) expected.insert(0);
  EXPECT_EQ(seen, expected) << "random_on({this host}) missed a worker there or went elsewhere";
  // Mistakes are refused, naming what is wrong.
  try {
    cadre::run(cadre::random_on({here, "no-such-host"}), node_of_task).get();
    ADD_FAILURE() << "random_on with an unknown host was accepted";
  } catch (const cadre::InvalidNode& e) {
    EXPECT_NE(std::string(e.what()).find("\"no-such-host\""), std::string::npos) << e.what();
  }
  EXPECT_THROW(cadre::run(cadre::random_on({}), node_of_task).get(), cadre::InvalidNode);
  EXPECT_THROW(cadre::spawn(cadre::random_on({"no-such-host"}), quiet_process), cadre::InvalidNode);
}

TEST(Tasks, UsingNamespaceCadreKeepsRandomUnambiguous) {
  // After `using namespace cadre;` the plain name `random` is both the placement and the C
  // library's random() from <cstdlib>; neither is ambiguous.
  using namespace cadre;
  const long c_random = random();
  EXPECT_GE(c_random, 0);
  EXPECT_EQ(run(random, square, 12L).get(), 144);
  EXPECT_EQ(map(random, square, std::vector<long>{1, 2, 3})[2].get(), 9);
  Placement p = random;
  EXPECT_EQ(p.kind, Placement::Kind::random);
  EXPECT_EQ(run(cadre::random, square, 5L).get(), 25);
}

TEST(Tasks, RemoteExceptionsNameTypeMessageNodeAndHost) {
  auto ns = cadre::nodes();
  auto target = ns.back();
  auto f = cadre::run(cadre::on(target), thrower, 3);
  try {
    f.get();
    FAIL() << "no exception";
  } catch (const cadre::RemoteError& e) {
    std::string w = e.what();
    EXPECT_NE(w.find("std::out_of_range"), std::string::npos) << w;
    EXPECT_NE(w.find("odd input 3"), std::string::npos) << w;
    EXPECT_NE(w.find("node " + std::to_string(target.value())), std::string::npos) << w;
    EXPECT_NE(w.find(cadre::node_info(target).host), std::string::npos) << w;
    EXPECT_NE(w.find("thrower"), std::string::npos) << w;
  }
  // The worker keeps serving, and map reports errors per input.
  EXPECT_EQ(cadre::run(cadre::on(target), thrower, 4).get(), 4);
  std::vector<int> xs(100);
  std::iota(xs.begin(), xs.end(), 0);
  auto fs = cadre::map(cadre::any, thrower, xs, {.chunk = 7});
  for (int i = 0; i < 100; ++i) {
    if (i % 2)
      EXPECT_THROW(fs[static_cast<std::size_t>(i)].get(), cadre::RemoteError);
    else
      EXPECT_EQ(fs[static_cast<std::size_t>(i)].get(), i);
  }
}

TEST(Tasks, ATasksOwnDecodeErrorIsItsExceptionAndTheChunkGoesOn) {
  std::vector<int> xs(20);
  std::iota(xs.begin(), xs.end(), 0);
  auto fs = cadre::map(cadre::any, own_decode_error, xs, {.chunk = 20});
  for (int i = 0; i < 20; ++i) {
    if (i % 2) {
      try {
        fs[static_cast<std::size_t>(i)].get();
        ADD_FAILURE() << "no exception for " << i;
      } catch (const cadre::RemoteError& e) {
        EXPECT_NE(std::string(e.what()).find("cadre::DecodeError"), std::string::npos) << e.what();
      }
    } else {
      EXPECT_EQ(fs[static_cast<std::size_t>(i)].get(), i);
    }
  }
}

TEST(Tasks, UnknownNodeIsInvalidNodeListingLiveOnes) {
  try {
    cadre::run(cadre::on(cadre::NodeId(99)), square, 1L);
    FAIL() << "no exception";
  } catch (const cadre::InvalidNode& e) {
    std::string w = e.what();
    EXPECT_NE(w.find("node 99"), std::string::npos) << w;
    EXPECT_NE(w.find("live nodes: 0"), std::string::npos) << w;
  }
  std::vector<long> xs{1, 2};
  EXPECT_THROW(cadre::map(cadre::on(cadre::NodeId(99)), square, xs), cadre::InvalidNode);
  EXPECT_THROW(cadre::node_info(cadre::NodeId(99)), cadre::InvalidNode);
  EXPECT_THROW(cadre::run(cadre::on_host("no-such-host"), square, 1L).get(), cadre::InvalidNode);
}

TEST(Tasks, UnregisteredTaskIsNotRegistered) {
  try {
    cadre::run(cadre::any, not_registered, 1);
    FAIL() << "no exception";
  } catch (const cadre::NotRegistered& e) {
    std::string w = e.what();
    EXPECT_NE(w.find("CADRE_TASK"), std::string::npos) << w;
  }
  std::vector<int> xs{1};
  EXPECT_THROW(cadre::map(cadre::any, not_registered, xs), cadre::NotRegistered);
}

TEST(Tasks, NestedRunsWaitWithoutBlockingTheirNode) {
  // More nested tasks than workers: if waiting blocked a node, this would deadlock.
  std::vector<cadre::Future<long>> fs;
  for (int i = 0; i < 8; ++i) fs.push_back(cadre::run(cadre::any, nested_sum, 50L));
  long expect = 50L * 51 * 101 / 6 + 2500;
  for (auto& f : fs) EXPECT_EQ(f.get_for(60s), expect);
}

TEST(Tasks, GetForTimesOutAndTheTaskGoesOn) {
  auto f = cadre::run(cadre::any, sleepy, 400);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(f.get_for(20ms), cadre::Timeout);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 350ms);
  EXPECT_FALSE(f.ready());
  EXPECT_FALSE(f.wait_for(1ms));
  EXPECT_EQ(f.get_for(std::chrono::hours::max()), 400) << "a huge timeout waits, not overflows";
  EXPECT_TRUE(f.ready());
  EXPECT_EQ(f.get(), 400) << "get() may be called again";
}

TEST(Tasks, Combinators) {
  std::vector<cadre::Future<int>> fs;
  fs.push_back(cadre::run(cadre::any, sleepy, 600));
  fs.push_back(cadre::run(cadre::any, sleepy, 1));
  fs.push_back(cadre::run(cadre::any, sleepy, 300));
  EXPECT_EQ(cadre::wait_any(fs), 1u);
  std::vector<int> order;
  for (auto& f : cadre::as_completed(fs)) order.push_back(f.get());
  ASSERT_EQ(order.size(), 3u);
  std::multiset<int> got(order.begin(), order.end());
  EXPECT_EQ(got, (std::multiset<int>{1, 300, 600}));
  EXPECT_EQ(order.back(), 600);
  EXPECT_EQ(cadre::when_all(fs), (std::vector<int>{600, 1, 300}));

  std::vector<long> xs(1000);
  std::iota(xs.begin(), xs.end(), 0L);
  auto ms = cadre::map(cadre::any, square, xs, {.chunk = 10});
  std::size_t n = 0;
  long sum = 0;
  for (auto& f : cadre::as_completed(ms)) {
    sum += f.get();
    ++n;
  }
  EXPECT_EQ(n, 1000u);
  EXPECT_EQ(sum, 999L * 1000 * 1999 / 6);
  cadre::wait_all(ms);
  for (auto& f : ms) EXPECT_TRUE(f.ready());

  std::vector<cadre::Future<int>> errs{cadre::run(cadre::any, thrower, 1),
                                       cadre::run(cadre::any, thrower, 2)};
  EXPECT_THROW(cadre::when_all(errs), cadre::RemoteError);
  cadre::Future<int> empty;
  EXPECT_FALSE(empty.valid());
  EXPECT_THROW(empty.get(), cadre::Error);
}

TEST(Tasks, StandardTypesAsArgumentsAndResults) {
  std::map<std::string, std::vector<int>> m{{"a", {1, 2, 3}}, {"b", {}}};
  auto s = cadre::run(cadre::any, describe, std::make_tuple(7, std::string("seven")),
                      std::optional<double>(2.0), std::variant<int, std::string>("v"), m)
               .get();
  EXPECT_EQ(s, "7/seven/2/str:v/a=3/b=0");
  s = cadre::run(cadre::any, describe, std::make_tuple(1, std::string()), std::nullopt,
                 std::variant<int, std::string>(5), std::map<std::string, std::vector<int>>{})
          .get();
  EXPECT_EQ(s, "1//none/int:5");
  EXPECT_EQ(cadre::run(cadre::any, classify, -1L).get(), std::nullopt);
  EXPECT_EQ(std::get<std::string>(*cadre::run(cadre::any, classify, 3L).get()), "odd");
  EXPECT_EQ(std::get<long>(*cadre::run(cadre::any, classify, 8L).get()), 4);
}

TEST(Tasks, VoidTasks) {
  std::vector<cadre::Future<void>> fs;
  for (int i = 0; i < 100; ++i) fs.push_back(cadre::run(cadre::local, touch, i));
  cadre::when_all(fs);
  EXPECT_EQ(g_void_calls.load(), 100);
  std::vector<int> xs(50, 1);
  auto ms = cadre::map(cadre::local, touch, xs);
  for (auto& f : ms) f.get();
  EXPECT_EQ(g_void_calls.load(), 150);
}

TEST(Tasks, OtherThreadsRunAndWait) {
  std::vector<std::thread> ts;
  std::atomic<long> bad{0};
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (long i = 0; i < 500; ++i)
        if (cadre::run(cadre::any, square, i + t).get() != (i + t) * (i + t)) ++bad;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(Tasks, PayloadCapIsEnforcedAtTheSender) {
  // The test job runs with CADRE_PAYLOAD_CAP=1 MiB (see main).
  EXPECT_EQ(cadre::run(cadre::any, blob_size, std::vector<char>(1000, 'a')).get(), 1000u);
  EXPECT_EQ(cadre::run(cadre::any, blob, std::size_t(200000)).get().size(), 200000u);
  EXPECT_THROW(cadre::run(cadre::any, blob_size, std::vector<char>(2 << 20, 'a')),
               cadre::PayloadTooLarge);
  // A result above the cap fails that task, clearly, on the requester.
  try {
    cadre::run(cadre::any, blob, std::size_t(3) << 20).get();
    FAIL() << "no exception";
  } catch (const cadre::Error& e) {
    EXPECT_NE(std::string(e.what()).find("payload cap"), std::string::npos) << e.what();
  }
}

TEST(Tasks, Identities) {
  EXPECT_EQ(cadre::self(), (cadre::Pid{cadre::NodeId(0), 0})) << "the driver is <0.0>";
  EXPECT_EQ(fmt::format("{}", cadre::self()), "<0.0>");
  EXPECT_TRUE(cadre::Pid{}.is_null());
  EXPECT_EQ(cadre::self_node(), cadre::NodeId(0));
  auto ns = cadre::nodes();
  for (auto n : ns) {
    auto info = cadre::node_info(n);
    EXPECT_EQ(info.id, n);
    EXPECT_EQ(cadre::node_named(info.name), n);
  }
  EXPECT_EQ(cadre::node_named("no-such-node"), std::nullopt);
  std::thread([] { EXPECT_TRUE(cadre::self().is_null()); }).join();
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  cadre::Options o;
  o.payload_cap = 1 << 20;
  o.shutdown_timeout = 5s;
  return cadre::launch(
      argc, argv, [] { return RUN_ALL_TESTS(); }, o);
}
