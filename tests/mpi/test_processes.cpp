// Processes over MPI: selective receive, ordering, monitors and every Down reason this layer
// delivers, links, kill, names, send_after, call/reply, broadcasts, and a ring of 10 000
// processes. The master's driver (process <0.0>) runs the cases; workers serve.

#include <gtest/gtest.h>

#include <cadre/cadre.hpp>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using cadre::Pid;

namespace {

struct A {
  int n = 0;
  template <class Ar>
  void serialize(Ar& ar, unsigned) {
    ar& n;
  }
};
CADRE_MESSAGE(A);
struct B {
  int n = 0;
  template <class Ar>
  void serialize(Ar& ar, unsigned) {
    ar& n;
  }
};
CADRE_MESSAGE(B);
struct Stop {
  template <class Ar>
  void serialize(Ar&, unsigned) {}
};
CADRE_MESSAGE(Stop);
struct Token {
  long left = 0;
  template <class Ar>
  void serialize(Ar& ar, unsigned) {
    ar& left;
  }
};
CADRE_MESSAGE(Token);
struct Unregistered {
  int n = 0;
  template <class Ar>
  void serialize(Ar& ar, unsigned) {
    ar& n;
  }
};

cadre::NodeId worker(int k) {
  auto ns = cadre::nodes();
  return ns[std::size_t(k) % ns.size() == 0 && ns.size() > 1 ? 1 : std::size_t(k) % ns.size()];
}
cadre::NodeId last_node() { return cadre::nodes().back(); }

// -- process bodies ----------------------------------------------------------------------

// Waits `ms` for a message that never comes, then reports how many µs the receive took
// (-1 if something arrived). Many of these wait at once, each with its own timer.
void times_out(Pid parent, int ms) {
  auto t0 = std::chrono::steady_clock::now();
  bool got = static_cast<bool>(
      cadre::receive(std::chrono::milliseconds(ms), cadre::match<Stop>([](const Stop&) {})));
  auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  cadre::send(parent, std::make_pair(ms, got ? -1L : static_cast<long>(us)));
}
CADRE_TASK(times_out);

void selective(Pid parent) {
  std::vector<std::string> got;
  auto a = [](const A& m) { return "A" + std::to_string(m.n); };
  auto b = [](const B& m) { return "B" + std::to_string(m.n); };
  got.push_back(cadre::receive(cadre::match<B>(b)));
  got.push_back(cadre::receive(cadre::match<A>(a)));
  got.push_back(cadre::receive(cadre::match<A>(a)));
  got.push_back(cadre::receive(cadre::match<B>(b)));
  cadre::send(parent, got);
}
CADRE_TASK(selective);

void sink(Pid parent, long n) {
  // Takes the numbers in order, and every 1000th a B marker selectively (it sits further
  // back in the mailbox, behind numbers not yet taken).
  long expect = 0, bad = 0, markers = 0;
  while (expect < n) {
    long v = cadre::receive(cadre::match<long>([](long x) { return x; }));
    bad += v != expect;
    ++expect;
    if (expect % 1000 == 0) {
      int m = cadre::receive(cadre::match<B>([](const B& b) { return b.n; }));
      bad += m != markers;
      ++markers;
    }
  }
  cadre::send(parent, std::make_pair(bad, markers));
}
CADRE_TASK(sink);

void source(Pid to, long n) {
  for (long i = 0; i < n; ++i) {
    cadre::send(to, i);
    if ((i + 1) % 1000 == 0) cadre::send(to, B{static_cast<int>(i / 1000)});
  }
}
CADRE_TASK(source);

// The link credit and coalescing threshold this test binary runs with (see main).
constexpr std::size_t kCredit = 64 * 1024;
constexpr std::size_t kCoalesce = 64 * 1024;

/// Holds its node: tells `sender` it holds, lets that go out, then computes for `ms` without
/// yielding, so the node takes nothing off its links meanwhile.
void hold_node(Pid sender, int ms) {
  cadre::send(sender, A{1});
  cadre::yield();
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) {
  }
}
CADRE_TASK(hold_node);

/// Streams like source() once told the receiver's node is held; tells `parent` how many
/// sends had returned `sample_ms` after the start.
void credit_source(Pid to, Pid parent, long n, int sample_ms) {
  cadre::receive(cadre::match<A>([](const A&) {}));
  auto sample = std::chrono::steady_clock::now() + std::chrono::milliseconds(sample_ms);
  long at_sample = -1;
  for (long i = 0; i < n; ++i) {
    if (at_sample < 0 && std::chrono::steady_clock::now() >= sample) at_sample = i;
    cadre::send(to, i);
    if ((i + 1) % 1000 == 0) cadre::send(to, B{static_cast<int>(i / 1000)});
  }
  cadre::send(parent, at_sample);
}
CADRE_TASK(credit_source);

/// Takes `n` byte vectors and tells `parent` how many bytes came.
void big_sink(Pid parent, int n) {
  std::size_t bytes = 0;
  for (int i = 0; i < n; ++i)
    bytes += cadre::receive(
        cadre::match<std::vector<char>>([](const std::vector<char>& v) { return v.size(); }));
  cadre::send(parent, bytes);
}
CADRE_TASK(big_sink);

void big_source(Pid to, int n, std::size_t size) {
  for (int i = 0; i < n; ++i) cadre::send(to, std::vector<char>(size, static_cast<char>(i)));
}
CADRE_TASK(big_source);

void send_then_end(Pid to, int n) {
  for (int i = 0; i < n; ++i) cadre::send(to, i);
}
CADRE_TASK(send_then_end);

void returns() {}
CADRE_TASK(returns);

void throws() { throw std::runtime_error("boom"); }
CADRE_TASK(throws);

int unknown_node_task(int x) { return x; }
CADRE_TASK(unknown_node_task);

void uses_unknown_node() { cadre::run(cadre::on(cadre::NodeId(99)), unknown_node_task, 1); }
CADRE_TASK(uses_unknown_node);

void waits_for_stop() {
  cadre::receive(cadre::match<Stop>([](const Stop&) {}));
}
CADRE_TASK(waits_for_stop);

void links_then_waits(Pid parent) {
  Pid child = cadre::spawn_link(cadre::local, waits_for_stop);
  cadre::send(parent, child);
  cadre::receive(cadre::match<Stop>([](const Stop&) {}));
}
CADRE_TASK(links_then_waits);

void traps_exits(Pid parent, bool abnormal) {
  cadre::trap_exits(true);
  cadre::spawn_link(cadre::any, abnormal ? throws : returns);
  cadre::receive(cadre::on_exit([&](const cadre::Exit& e) {
    cadre::send(parent, std::make_pair(std::string(cadre::to_string(e.reason)), e.detail));
  }));
}
CADRE_TASK(traps_exits);

void watcher(Pid parent, Pid target) {
  cadre::monitor(target);
  cadre::send(parent, std::string("watching"));
  cadre::receive(cadre::on_down([&](const cadre::Down& d) {
    cadre::send(parent, std::string("watcher saw ") + std::string(cadre::to_string(d.reason)));
  }));
}
CADRE_TASK(watcher);

void adder(bool slow, bool die) {
  cadre::receive_loop(1h, cadre::match<int>([&](int x) {
                        if (die) throw std::logic_error("callee gives up");
                        if (slow) {
                          auto until = std::chrono::steady_clock::now() + 300ms;
                          while (std::chrono::steady_clock::now() < until) cadre::yield();
                        }
                        cadre::reply(x + 1);
                        return true;
                      }),
                      cadre::match<Stop>([](const Stop&) { return false; }));
}
CADRE_TASK(adder);

void ring_member(Pid driver) {
  Pid next = cadre::receive(cadre::match<Pid>([](const Pid& p) { return p; }));
  cadre::receive_loop(1h, cadre::match<Token>([&](const Token& t) {
                        if (t.left == 0)
                          cadre::send(driver, t);
                        else
                          cadre::send(next, Token{t.left - 1});
                        return true;
                      }),
                      cadre::match<Stop>([](const Stop&) { return false; }));
}
CADRE_TASK(ring_member);

void reports_broadcast(Pid parent) {
  cadre::receive(cadre::match<B>([&](const B& b) { cadre::send(parent, A{b.n}); }));
}
CADRE_TASK(reports_broadcast);

int task_that_receives() {
  cadre::try_receive(cadre::match<int>([](int) {}));
  return 0;
}
CADRE_TASK(task_that_receives);

void chat_hub(cadre::Hub<std::string>& hub) {
  int connects = 0, data = 0, disconnects = 0;
  while (disconnects < 3) {
    auto ev = hub.listen();
    if (std::holds_alternative<cadre::Connect>(ev)) {
      ++connects;
    } else if (auto* d = std::get_if<cadre::Data<std::string>>(&ev)) {
      hub.send(d->client, "echo:" + d->msg);
      if (++data == 3) hub.send_to_all("broadcast");
    } else {
      ++disconnects;
    }
  }
  if (connects != 4) throw std::runtime_error("connects: " + std::to_string(connects));
}
CADRE_TASK(chat_hub);

void failing_hub(cadre::Hub<std::string>& hub) {
  hub.listen();
  throw std::runtime_error("hub gives up");
}
CADRE_TASK(failing_hub);

void chat_client(cadre::Channel<std::string> ch, Pid parent, std::string name) {
  ch.write(name);
  std::string echo = ch.read();
  std::string all = ch.read();
  cadre::send(parent, std::make_pair(echo, all));
}
CADRE_TASK(chat_client);

/// Answers each call with its std::string request and a "!", then forwards the next four
/// std::string messages to `parent`, and ends.
void string_echo(Pid parent) {
  cadre::receive(cadre::match<std::string>([](const std::string& s) { cadre::reply(s + "!"); }));
  cadre::receive(cadre::match<std::string>([](const std::string&) { cadre::reply("literal"); }));
  for (int i = 0; i < 4; ++i)
    cadre::receive(
        cadre::match<std::string>([&](const std::string& s) { cadre::send(parent, s); }));
}
CADRE_TASK(string_echo);

cadre::Down expect_down(const cadre::MonitorRef& ref, std::chrono::milliseconds t = 10s) {
  auto d = cadre::receive(t, cadre::on_down([](const cadre::Down& d) { return d; }));
  EXPECT_TRUE(d.has_value()) << "no Down";
  if (!d) return {};
  EXPECT_EQ(d->ref.id, ref.id);
  EXPECT_EQ(d->pid, ref.target);
  return *d;
}

}  // namespace

TEST(Processes, CStringsTravelAsStdString) {
  for (auto n : cadre::nodes()) {
    Pid p = cadre::spawn(n, string_echo, cadre::self());
    // A literal, a `const char*` and a `char` array are sent, called and replied as
    // std::string: the receiver matches std::string.
    EXPECT_EQ(cadre::call<std::string>(p, "ping", 10s), "ping!");
    EXPECT_EQ(cadre::call<std::string>(p, std::string("x"), 10s), "literal");
    const char* pointer = "pointer";
    char array[] = "array";
    cadre::send(p, "literal");
    cadre::send(p, pointer);
    cadre::send(p, array);
    cadre::send_after(1ms, p, "later");
    for (const char* want : {"literal", "pointer", "array", "later"}) {
      auto got =
          cadre::receive(10s, cadre::match<std::string>([](const std::string& s) { return s; }));
      ASSERT_TRUE(got) << "no std::string for " << want << " from node " << n.value();
      EXPECT_EQ(*got, want);
    }
  }
  const char* null = nullptr;
  try {
    cadre::send(cadre::self(), null);
    ADD_FAILURE() << "a null C string was sent";
  } catch (const cadre::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cadre::send: a null C string"), std::string::npos)
        << e.what();
  }
}

TEST(Processes, SelectiveReceiveKeepsOrder) {
  for (auto n : cadre::nodes()) {
    Pid p = cadre::spawn(n, selective, cadre::self());
    cadre::send(p, A{1});
    cadre::send(p, B{1});
    cadre::send(p, A{2});
    cadre::send(p, B{2});
    auto got = cadre::receive(10s, cadre::match<std::vector<std::string>>(
                                       [](const std::vector<std::string>& v) { return v; }));
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, (std::vector<std::string>{"B1", "A1", "A2", "B2"})) << "on node " << n.value();
  }
}

TEST(Processes, PerPairOrderUnderLoad) {
  const long n = 100000;
  auto ns = cadre::nodes();
  cadre::NodeId a = ns.front(), b = ns.back();
  Pid s = cadre::spawn(b, sink, cadre::self(), n);
  cadre::spawn(a, source, s, n);
  auto r = cadre::receive(
      120s, cadre::match<std::pair<long, long>>([](const std::pair<long, long>& x) { return x; }));
  ASSERT_TRUE(r) << "the sink did not finish";
  EXPECT_EQ(r->first, 0) << "messages out of order";
  EXPECT_EQ(r->second, n / 1000);
}

TEST(Processes, AStreamingSenderWaitsButItsNodeServes) {
  // 300 000 messages from a process on one node to one on another: the sender is held back
  // while its link is full, but its node answers pings and runs tasks meanwhile.
  const long n = 300000;
  auto ns = cadre::nodes();
  Pid s = cadre::spawn(ns.back(), sink, cadre::self(), n);
  cadre::spawn(ns.front(), source, s, n);
  for (int i = 0; i < 5; ++i) EXPECT_LT(cadre::ping(ns.front(), 5s), 1s);
  auto r = cadre::receive(
      120s, cadre::match<std::pair<long, long>>([](const std::pair<long, long>& x) { return x; }));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 0);
}

TEST(Processes, ALinkOutOfCreditHoldsTheSenderNotItsNode) {
  // The receiver's node computes for 1.5 s without looking at its links. A process streaming
  // to it gets at most the link's credit (plus the frame that crossed it) through, then waits;
  // its node answers pings meanwhile; then every message arrives, in order.
  auto ns = cadre::nodes();
  if (ns.size() < 2) GTEST_SKIP() << "needs two nodes: a node's messages to itself take no link";
  const long n = 200000;
  Pid s = cadre::spawn(ns.back(), sink, cadre::self(), n);
  Pid src = cadre::spawn(ns.front(), credit_source, s, cadre::self(), n, 700);
  auto held = cadre::run(cadre::on(ns.back()), hold_node, src, 1500);
  std::this_thread::sleep_for(300ms);
  EXPECT_LT(cadre::ping(ns.front(), 5s), 1s) << "the sender's node stopped serving";
  auto at_sample = cadre::receive(30s, cadre::match<long>([](long v) { return v; }));
  ASSERT_TRUE(at_sample);
  // Each message is a 48-byte envelope and 8 bytes of payload (markers: 4).
  const long bound = static_cast<long>((kCredit + kCoalesce) / 56) + 64;
  std::printf("sends returned 700 ms into the hold: %ld (bound %ld)\n", *at_sample, bound);
  EXPECT_GE(*at_sample, 0);
  EXPECT_LE(*at_sample, bound) << "the sender got past the link's credit";
  held.get();
  auto r = cadre::receive(
      120s, cadre::match<std::pair<long, long>>([](const std::pair<long, long>& x) { return x; }));
  ASSERT_TRUE(r) << "the sink did not finish";
  EXPECT_EQ(r->first, 0) << "messages out of order";
  EXPECT_EQ(r->second, n / 1000);
}

TEST(Processes, MessagesLargerThanTheLinkCreditGetThrough) {
  // Each takes the link far below zero; the receiver hands the whole of it back.
  auto ns = cadre::nodes();
  if (ns.size() < 2) GTEST_SKIP() << "needs two nodes: a node's messages to itself take no link";
  const int n = 5;
  const std::size_t size = 16 * kCredit;
  Pid s = cadre::spawn(ns.back(), big_sink, cadre::self(), n);
  cadre::spawn(ns.front(), big_source, s, n, size);
  auto got = cadre::receive(60s, cadre::match<std::size_t>([](std::size_t b) { return b; }));
  ASSERT_TRUE(got) << "the large messages did not all arrive";
  EXPECT_EQ(*got, n * size);
}

TEST(Processes, MessagesArriveBeforeTheDown) {
  for (auto n : cadre::nodes()) {
    auto [p, ref] = cadre::spawn_monitor(n, send_then_end, cadre::self(), 500);
    int before = 0;
    bool down = false;
    while (!down) {
      auto got = cadre::receive(10s, cadre::match<int>([&](int) { ++before; }),
                                cadre::on_down([&](const cadre::Down& d) {
                                  down = true;
                                  EXPECT_EQ(d.reason, cadre::Reason::normal);
                                }));
      ASSERT_TRUE(got);
    }
    EXPECT_EQ(before, 500) << "node " << n.value();
  }
}

TEST(Processes, DownReasons) {
  auto n = last_node();
  {
    auto [p, ref] = cadre::spawn_monitor(n, returns);
    EXPECT_EQ(expect_down(ref).reason, cadre::Reason::normal);
  }
  {
    auto [p, ref] = cadre::spawn_monitor(n, throws);
    auto d = expect_down(ref);
    EXPECT_EQ(d.reason, cadre::Reason::exception);
    EXPECT_NE(d.detail.find("std::runtime_error: boom"), std::string::npos) << d.detail;
  }
  {
    auto ref = cadre::monitor(Pid{n, 987654321});
    EXPECT_EQ(expect_down(ref, 2s).reason, cadre::Reason::no_process);
  }
  {
    auto [p, ref] = cadre::spawn_monitor(n, uses_unknown_node);
    auto d = expect_down(ref);
    EXPECT_EQ(d.reason, cadre::Reason::unknown_node);
    EXPECT_NE(d.detail.find("node 99"), std::string::npos) << d.detail;
  }
  {
    auto [p, ref] = cadre::spawn_monitor(n, waits_for_stop);
    cadre::kill(p, "enough");
    auto d = expect_down(ref);
    EXPECT_EQ(d.reason, cadre::Reason::killed);
    EXPECT_EQ(d.detail, "enough");
  }
  {
    // A linked process dies abnormally: its partner is killed with reason linked.
    auto [p, ref] = cadre::spawn_monitor(n, links_then_waits, cadre::self());
    auto child = cadre::receive(10s, cadre::match<Pid>([](const Pid& c) { return c; }));
    ASSERT_TRUE(child);
    cadre::kill(*child, "cut");
    auto d = expect_down(ref);
    EXPECT_EQ(d.reason, cadre::Reason::linked);
    EXPECT_NE(d.detail.find("killed"), std::string::npos) << d.detail;
  }
}

TEST(Processes, MultipleMonitorsEachFireOnce) {
  Pid p = cadre::spawn(last_node(), waits_for_stop);
  auto m1 = cadre::monitor(p);
  auto m2 = cadre::monitor(p);
  cadre::spawn(cadre::nodes().front(), watcher, cadre::self(), p);
  // The watcher's monitor request left node 0 before its "watching" did, and the Stop below
  // leaves node 0 after it: on the one ordered link, the monitor lands first.
  ASSERT_TRUE(cadre::receive(
      10s, cadre::match<std::string>([](const std::string& s) { return s == "watching"; },
                                     [](const std::string&) {})));
  cadre::send(p, Stop{});
  std::set<std::uint64_t> ids;
  int watcher_reports = 0;
  for (int i = 0; i < 3; ++i) {
    auto got =
        cadre::receive(10s, cadre::on_down([&](const cadre::Down& d) { ids.insert(d.ref.id); }),
                       cadre::match<std::string>([&](const std::string& s) {
                         EXPECT_EQ(s, "watcher saw normal");
                         ++watcher_reports;
                       }));
    ASSERT_TRUE(got);
  }
  EXPECT_EQ(ids, (std::set<std::uint64_t>{m1.id, m2.id}));
  EXPECT_EQ(watcher_reports, 1);
  EXPECT_FALSE(cadre::receive(200ms, cadre::on_down([](const cadre::Down&) {})))
      << "a monitor fired twice";
}

TEST(Processes, UnmonitorDropsAQueuedDown) {
  auto [p, ref] = cadre::spawn_monitor(last_node(), returns);
  // Let the Down arrive and sit in the mailbox, behind nothing we would take.
  EXPECT_FALSE(cadre::receive(300ms, cadre::match<Stop>([](const Stop&) {})));
  cadre::unmonitor(ref);
  EXPECT_FALSE(cadre::try_receive(cadre::on_down([](const cadre::Down&) {})));
  // And a monitor removed before its process ends never fires.
  Pid q = cadre::spawn(last_node(), waits_for_stop);
  auto r2 = cadre::monitor(q);
  cadre::unmonitor(r2);
  cadre::send(q, Stop{});
  EXPECT_FALSE(cadre::receive(300ms, cadre::on_down([](const cadre::Down&) {})));
}

TEST(Processes, TrappedExitsBecomeMessages) {
  for (bool abnormal : {true, false}) {
    cadre::spawn(last_node(), traps_exits, cadre::self(), abnormal);
    auto got = cadre::receive(
        10s, cadre::match<std::pair<std::string, std::string>>([](const auto& x) { return x; }));
    ASSERT_TRUE(got);
    EXPECT_EQ(got->first, abnormal ? "exception" : "normal");
  }
}

TEST(Processes, RegisteredNames) {
  Pid p = cadre::spawn(last_node(), waits_for_stop);
  cadre::register_name("svc", p);
  EXPECT_EQ(cadre::whereis("svc"), p);
  EXPECT_EQ(cadre::whereis("nobody"), std::nullopt);
  Pid q = cadre::spawn(last_node(), waits_for_stop);
  EXPECT_THROW(cadre::register_name("svc", q), cadre::Error);
  cadre::send(p, Stop{});
  // The name goes with its process.
  auto until = std::chrono::steady_clock::now() + 5s;
  while (cadre::whereis("svc") && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(cadre::whereis("svc"), std::nullopt);
  cadre::register_name("svc", q);
  EXPECT_EQ(cadre::whereis("svc"), q);
  cadre::send(q, Stop{});
}

TEST(Processes, SendAfter) {
  auto t0 = std::chrono::steady_clock::now();
  cadre::send_after(150ms, cadre::self(), A{7});
  EXPECT_FALSE(cadre::receive(20ms, cadre::match<A>([](const A&) {})));
  auto got = cadre::receive(5s, cadre::match<A>([](const A& a) { return a.n; }));
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, 7);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 150ms);
}

TEST(Processes, ReceiveTimeoutsFireOnTime) {
  // 300 processes on one node, each receiving with its own timeout (1 to 300 ms): each
  // receive ends by timing out, never before its timeout; the late ones are not late by
  // seconds (the timers are checked as the loop passes).
  const int n = 300;
  for (int i = 0; i < n; ++i) cadre::spawn(last_node(), times_out, cadre::self(), 1 + i % 300);
  for (int i = 0; i < n; ++i) {
    auto [ms, us] = cadre::receive(
        cadre::match<std::pair<int, long>>([](const std::pair<int, long>& r) { return r; }));
    ASSERT_GE(us, 0) << "a receive that should time out got a message";
    EXPECT_GE(us, ms * 1000L) << "a receive timed out early";
    EXPECT_LT(us, ms * 1000L + 3000000L) << "a receive timed out seconds late";
  }
}

TEST(Processes, CallAndReply) {
  Pid fast = cadre::spawn(last_node(), adder, false, false);
  EXPECT_EQ(cadre::call<int>(fast, 41, 5s), 42);
  Pid slow = cadre::spawn(last_node(), adder, true, false);
  EXPECT_THROW(cadre::call<int>(slow, 1, 30ms), cadre::Timeout);
  // The late reply to that call is dropped, never taken for the next one.
  EXPECT_EQ(cadre::call<int>(slow, 100, 5s), 101);
  Pid dies = cadre::spawn(last_node(), adder, false, true);
  auto t0 = std::chrono::steady_clock::now();
  try {
    cadre::call<int>(dies, 1, 30s);
    FAIL() << "no CallFailed";
  } catch (const cadre::CallFailed& e) {
    EXPECT_NE(std::string(e.what()).find("exception"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s) << "CallFailed must come at once";
  EXPECT_THROW(cadre::call<int>(Pid{last_node(), 987654321}, 1, 30s), cadre::CallFailed);
  cadre::send(fast, Stop{});
  cadre::send(slow, Stop{});
  EXPECT_FALSE(cadre::receive(100ms, cadre::match<int>([](int) {})))
      << "a reply leaked into the mailbox as a message";
}

TEST(Processes, Broadcasts) {
  auto n = last_node();
  for (int i = 0; i < 3; ++i) cadre::spawn(n, reports_broadcast, cadre::self());
  std::this_thread::sleep_for(100ms);
  cadre::broadcast(n, B{5});
  int reports = 0;
  while (cadre::receive(2s, cadre::match<A>([&](const A& a) { reports += a.n == 5; }))) {
    if (reports == 3) break;
  }
  EXPECT_EQ(reports, 3);
  // broadcast_all reaches a process on every node, and the driver itself.
  for (auto node : cadre::nodes()) cadre::spawn(node, reports_broadcast, cadre::self());
  std::this_thread::sleep_for(100ms);
  cadre::broadcast_all(B{9});
  int got = 0;
  bool self_got = false;
  for (int i = 0; i < 50 && (got < int(cadre::nodes().size()) || !self_got); ++i) {
    cadre::receive(2s, cadre::match<A>([&](const A& a) { got += a.n == 9; }),
                   cadre::match<B>([&](const B& b) { self_got |= b.n == 9; }));
  }
  EXPECT_EQ(got, int(cadre::nodes().size()));
  EXPECT_TRUE(self_got);
}

TEST(Processes, RingOfTenThousand) {
  const int size = cadre::nodes().size() >= 5 ? 2000 : 10000;
  const int rounds = cadre::nodes().size() >= 5 ? 3 : 10;
  auto ns = cadre::nodes();
  std::vector<Pid> ring;
  ring.reserve(size);
  for (int i = 0; i < size; ++i)
    ring.push_back(cadre::spawn(ns[std::size_t(i) % ns.size()], ring_member, cadre::self()));
  for (int i = 0; i < size; ++i) cadre::send(ring[i], ring[(i + 1) % size]);
  auto t0 = std::chrono::steady_clock::now();
  cadre::send(ring[0], Token{long(size) * rounds - 1});
  auto t = cadre::receive(300s, cadre::match<Token>([](const Token& t) { return t.left; }));
  ASSERT_TRUE(t) << "the token did not come back";
  EXPECT_EQ(*t, 0);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("ring of %d processes, %d rounds: %.0f hops/s\n", size, rounds, size * rounds / secs);
  cadre::broadcast_all(Stop{});
  // Drain the driver's own copy: it comes, but a slow run (sanitizers) may take seconds, and a
  // copy left behind would be in the next test's mailbox.
  EXPECT_TRUE(
      cadre::receive(120s, cadre::match<Stop>([](const Stop&) { return true; })).has_value());
}

TEST(Processes, HubWithThreeClients) {
  auto [ch, done] = cadre::spawn_hub<std::string>(last_node(), chat_hub);
  auto ns = cadre::nodes();
  std::set<std::string> names;
  for (int i = 0; i < 3; ++i) {
    std::string name = "c" + std::to_string(i);
    names.insert("echo:" + name);
    cadre::spawn(ns[std::size_t(i) % ns.size()], chat_client, ch, cadre::self(), name);
  }
  std::set<std::string> echoes;
  for (int i = 0; i < 3; ++i) {
    auto got = cadre::receive(
        10s, cadre::match<std::pair<std::string, std::string>>([](const auto& p) { return p; }));
    ASSERT_TRUE(got);
    echoes.insert(got->first);
    EXPECT_EQ(got->second, "broadcast") << "first: " << got->first;
  }
  EXPECT_EQ(echoes, names);
  EXPECT_EQ(ch.read_for(5s), std::optional<std::string>("broadcast")) << "send_to_all";
  EXPECT_NO_THROW(done.get_for(10s)) << "the hub ends after three disconnects";

  auto [ch2, done2] = cadre::spawn_hub<std::string>(cadre::any, failing_hub);
  ch2.write("x");
  try {
    done2.get_for(10s);
    FAIL();
  } catch (const cadre::RemoteError& e) {
    EXPECT_NE(std::string(e.what()).find("hub gives up"), std::string::npos) << e.what();
  }
}

TEST(Processes, BadUseIsAClearError) {
  EXPECT_THROW(cadre::send(Pid{cadre::NodeId(99), 1}, A{}), cadre::InvalidNode);
  EXPECT_THROW(cadre::monitor(Pid{cadre::NodeId(99), 1}), cadre::InvalidNode);
  EXPECT_THROW(cadre::send(Pid{}, A{}), cadre::InvalidNode);
  EXPECT_THROW(cadre::send(cadre::self(), Unregistered{}), cadre::NotRegistered);
  EXPECT_THROW(cadre::receive(10ms), cadre::EmptyMatchers);
  try {
    cadre::run(cadre::any, task_that_receives).get();
    FAIL();
  } catch (const cadre::RemoteError& e) {
    EXPECT_NE(std::string(e.what()).find("WrongRole"), std::string::npos) << e.what();
  }
  std::thread([] {
    EXPECT_THROW(cadre::try_receive(cadre::match<int>([](int) {})), cadre::WrongRole);
  }).join();
  EXPECT_FALSE(cadre::try_receive(cadre::match<int>([](int) {})));
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  cadre::Options o;
  o.shutdown_timeout = 5s;
  o.link_credit = kCredit;  // small: every test here runs on links that need grants
  o.coalesce_bytes = kCoalesce;
  return cadre::launch(
      argc, argv, [] { return RUN_ALL_TESTS(); }, o);
}
