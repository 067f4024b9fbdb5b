// Control over MPI: ping, terminate/check_termination, relays with late subscribers, stats,
// log from every kind of caller. The master's driver runs the cases; workers serve.

#include <gtest/gtest.h>
#include <signal.h>

#include <cadre/cadre.hpp>
#include <chrono>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using cadre::Pid;

namespace {

struct Note {
  int n = 0;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& n;
  }
};
CADRE_MESSAGE(Note);
struct Other {
  int n = 0;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& n;
  }
};
CADRE_MESSAGE(Other);

long until_terminated() {
  long spins = 0;
  while (!cadre::check_termination()) {
    ++spins;
    cadre::yield();
  }
  return spins;
}
CADRE_TASK(until_terminated);

// Subscribes, then reports every Note relayed (history first) until it has `want` of them.
void note_listener(Pid parent, int want) {
  cadre::subscribe_relay<Note>();
  std::vector<int> got;
  while (int(got.size()) < want)
    got.push_back(cadre::receive(cadre::match<Note>([](const Note& n) { return n.n; })));
  cadre::send(parent, got);
}
CADRE_TASK(note_listener);

void relays_from_a_worker(int n) { cadre::relay(Note{n}); }
CADRE_TASK(relays_from_a_worker);

int counts(int x) {
  cadre::stat("counted", x);
  cadre::log(cadre::Level::info, "counted {}", x);
  return x;
}
CADRE_TASK(counts);

// The output traffic of one worker: a log line, a statistic and a finished progress report.
int kind2_output(int x) {
  cadre::log(cadre::Level::info, "kind2 record {}", x);
  cadre::stat("kind2", x);
  cadre::progress(x, x);
  return x;
}
CADRE_TASK(kind2_output);

// On a worker, subscribe_output() is refused: its message, or "" when it was not.
void subscribe_output_on_a_worker(Pid parent) {
  std::string what;
  try {
    cadre::subscribe_output();
  } catch (const cadre::WrongRole& e) {
    what = e.what();
  }
  cadre::send(parent, what);
}
CADRE_TASK(subscribe_output_on_a_worker);

using Numbered = std::vector<std::pair<std::uint64_t, int>>;

// Subscribes to numbered Notes, then sends back every one in its history.
void numbered_listener(Pid parent) {
  cadre::subscribe_relay<cadre::Relayed<Note>>();
  Numbered got;
  while (auto v = cadre::receive(300ms, cadre::match<cadre::Relayed<Note>>([](const auto& r) {
                                   return std::make_pair(r.number, r.value.n);
                                 })))
    got.push_back(*v);
  cadre::send(parent, got);
}
CADRE_TASK(numbered_listener);

// What this node does on SIGPIPE: 0 default, 1 ignored, 2 a handler.
int sigpipe_disposition() {
  struct sigaction current {};
  sigaction(SIGPIPE, nullptr, &current);
  if (current.sa_handler == SIG_DFL) return 0;
  return current.sa_handler == SIG_IGN ? 1 : 2;
}
CADRE_TASK(sigpipe_disposition);

}  // namespace

TEST(Control, AllNodesListsEveryNodeWithItsState) {
  auto all = cadre::all_nodes();
  EXPECT_EQ(all, cadre::nodes()) << "no node was lost: every node is live";
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i], cadre::NodeId(static_cast<std::uint32_t>(i))) << "in id order";
    EXPECT_EQ(cadre::node_info(all[i]).state, cadre::NodeState::up);
  }
}

TEST(Control, SigpipeIsIgnoredOnEveryNode) {
  // A send over TCP to a peer that died raises SIGPIPE: it must not kill the node.
  for (auto n : cadre::nodes())
    EXPECT_EQ(cadre::run(cadre::on(n), sigpipe_disposition).get(), 1) << "node " << n.value();
}

TEST(Control, PingEveryNode) {
  for (auto n : cadre::nodes()) {
    auto rtt = cadre::ping(n, 5s);
    EXPECT_GE(rtt.count(), 0);
    EXPECT_LT(rtt, 5s) << "node " << n.value();
  }
  EXPECT_LT(cadre::ping(cadre::self_node(), 1s), 1ms) << "ping(self_node()) works";
  EXPECT_THROW(cadre::ping(cadre::NodeId(99), 1s), cadre::InvalidNode);
}

TEST(Control, TerminateReachesALongTask) {
  auto n = cadre::nodes().back();
  if (n.value() == 0) GTEST_SKIP() << "needs a worker: a 1-rank job terminates the master";
  auto f = cadre::run(cadre::on(n), until_terminated);
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(f.ready());
  cadre::terminate(n);
  EXPECT_GT(f.get_for(10s), 0);
  EXPECT_FALSE(cadre::check_termination()) << "only the named node was asked";
}

TEST(Control, RelaysInOrderWithHistoryForLateSubscribers) {
  for (int i = 1; i <= 5; ++i) cadre::relay(Note{i});
  cadre::relay(Other{99});  // a relay of another type, not delivered to Note subscribers
  // Late subscribers on every node get the history first, in order, then new relays.
  auto ns = cadre::nodes();
  for (auto n : ns) cadre::spawn(n, note_listener, cadre::self(), 8);
  std::this_thread::sleep_for(100ms);
  cadre::relay(Note{6});
  cadre::run(cadre::on(ns.back()), relays_from_a_worker, 7).get();  // numbered by the master
  cadre::relay(Note{8});
  for (std::size_t i = 0; i < ns.size(); ++i) {
    auto got = cadre::receive(10s, cadre::match<std::vector<int>>([](const auto& v) { return v; }));
    ASSERT_TRUE(got) << "a listener did not finish";
    EXPECT_EQ(*got, (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8}));
  }
  // The driver subscribes too: the history of Note arrives in its own mailbox.
  cadre::subscribe_relay<Note>();
  std::vector<int> mine;
  while (auto v = cadre::receive(200ms, cadre::match<Note>([](const Note& n) { return n.n; })))
    mine.push_back(*v);
  EXPECT_EQ(mine, (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8}));
}

// Relays carry their number; one numbered relay can be asked for again (Kind2's Resend).
TEST(Control, RelaysCarryTheirNumberAndOneCanBeSentAgain) {
  cadre::relay(Note{100});
  cadre::relay(Other{101});
  cadre::relay(Note{102});
  cadre::subscribe_relay<cadre::Relayed<Note>>();  // the history first, numbered
  auto numbered = cadre::match<cadre::Relayed<Note>>(
      [](const cadre::Relayed<Note>& r) { return std::make_pair(r.number, r.value.n); });
  Numbered got;
  while (auto v = cadre::receive(300ms, numbered)) got.push_back(*v);
  ASSERT_GE(got.size(), 2u);
  for (std::size_t i = 1; i < got.size(); ++i) EXPECT_LT(got[i - 1].first, got[i].first);
  const auto n100 = got[got.size() - 2], n102 = got.back();
  EXPECT_EQ(n100.second, 100);
  EXPECT_EQ(n102.second, 102);
  EXPECT_EQ(n102.first, n100.first + 2) << "Other{101} was numbered between them";
  // A worker's history has the same numbers.
  auto ns = cadre::nodes();
  cadre::spawn(ns.back(), numbered_listener, cadre::self());
  auto theirs = cadre::receive(10s, cadre::match<Numbered>([](const Numbered& v) { return v; }));
  ASSERT_TRUE(theirs);
  EXPECT_EQ(*theirs, got);
  cadre::resend_relay(n100.first);
  auto again = cadre::receive(5s, numbered);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, n100);
  try {
    cadre::resend_relay(1000000);
    ADD_FAILURE() << "relay 1000000 does not exist";
  } catch (const cadre::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cadre::resend_relay(1000000): relay 1000000 is not in "
                                         "this node's history, which holds relays 1 to"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(cadre::resend_relay(n100.first + 1), cadre::WrongRole) << "an Other, not a Note";
}

// A process on the master receives the output traffic as messages (Kind2's recv).
TEST(Control, SubscribeOutputDeliversLogStatAndProgressRecords) {
  cadre::subscribe_output();
  const auto w = cadre::nodes().back();
  EXPECT_EQ(cadre::run(cadre::on(w), kind2_output, 7).get(), 7);
  cadre::log(cadre::Level::warn, "kind2 from the driver");
  bool log = false, stat = false, progress = false, mine = false;
  auto until = std::chrono::steady_clock::now() + 10s;
  while (!(log && stat && progress && mine) && std::chrono::steady_clock::now() < until)
    cadre::receive(200ms, cadre::match<cadre::LogRecord>([&](const cadre::LogRecord& r) {
                     if (r.text == "kind2 record 7" && r.node == w && r.level == cadre::Level::info)
                       log = true;
                     if (r.text == "kind2 from the driver" && r.pid == cadre::self()) mine = true;
                   }),
                   cadre::match<cadre::StatRecord>([&](const cadre::StatRecord& r) {
                     if (r.key == "kind2" && r.value == 7 && r.node == w) stat = true;
                   }),
                   cadre::match<cadre::ProgressRecord>([&](const cadre::ProgressRecord& r) {
                     if (r.node == w && r.done == 7 && r.total == 7) progress = true;
                   }));
  EXPECT_TRUE(log && stat && progress && mine)
      << "log " << log << ", stat " << stat << ", progress " << progress << ", driver " << mine;
  cadre::unsubscribe_output();
  while (cadre::receive(100ms, cadre::match<cadre::LogRecord>([](const auto&) {}),
                        cadre::match<cadre::StatRecord>([](const auto&) {}),
                        cadre::match<cadre::ProgressRecord>([](const auto&) {}))) {
  }
  cadre::log(cadre::Level::info, "kind2 after unsubscribing");
  EXPECT_FALSE(cadre::receive(300ms, cadre::match<cadre::LogRecord>([](const auto&) {})));
  if (w != cadre::NodeId(0)) {
    cadre::spawn(w, subscribe_output_on_a_worker, cadre::self());
    auto what =
        cadre::receive(10s, cadre::match<std::string>([](const std::string& s) { return s; }));
    ASSERT_TRUE(what);
    EXPECT_NE(what->find("cadre::subscribe_output: the output traffic arrives on the master"),
              std::string::npos)
        << *what;
  }
}

long stat_burst(long n) {
  for (long i = 0; i < n; ++i) cadre::stat("burst", 1);
  return n;
}
CADRE_TASK(stat_burst);

// Every stat a worker sends is either summed or dropped by the purge, exactly once; a purge
// with nothing in flight drops nothing.
TEST(Control, PurgeDropsOutputOfAnEarlierPhaseExactly) {
  const double before = cadre::stats()["burst"];
  std::vector<cadre::Future<long>> fs;
  for (auto n : cadre::nodes())
    if (n != cadre::NodeId(0)) fs.push_back(cadre::run(cadre::on(n), stat_burst, 50000L));
  const std::uint64_t dropped = cadre::purge();
  long sent = 0;
  for (auto& f : fs) sent += f.get();  // a task's result follows its stats on the link
  EXPECT_EQ(cadre::stats()["burst"] - before + static_cast<double>(dropped),
            static_cast<double>(sent));
  EXPECT_EQ(cadre::purge(), 0u);
}

TEST(Control, StatsSumOnTheMaster) {
  auto before = cadre::stats()["counted"];
  std::vector<int> xs(100, 2);
  for (auto& f : cadre::map(cadre::any, counts, xs, {.chunk = 7, .progress = true})) f.get();
  // Stats travel ahead of the results on the same links: all are in.
  EXPECT_EQ(cadre::stats()["counted"] - before, 200);
  std::thread([] { cadre::stat("from a thread", 1); }).join();
  auto until = std::chrono::steady_clock::now() + 5s;
  while (cadre::stats()["from a thread"] != 1 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(1ms);
  EXPECT_EQ(cadre::stats()["from a thread"], 1);
  if (cadre::nodes().size() > 1) {
    auto f = cadre::run(cadre::on(cadre::nodes().back()), counts, 1);
    EXPECT_EQ(f.get(), 1);
  }
  cadre::log(cadre::Level::warn, "a warning from the driver {}", 42);
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  cadre::Options o;
  o.shutdown_timeout = 5s;
  return cadre::launch(
      argc, argv, [] { return RUN_ALL_TESTS(); }, o);
}
