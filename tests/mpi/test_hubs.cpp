// Hubs with arguments and two types (part of cadre-test-processes, whose main runs them): a
// worker in Rpc_parallel's style that takes initial arguments and keeps per-connection state
// for two clients, a channel passed on to a second client, a channel of the wrong types,
// a misaddressed frame, and a body's own Down notices while it listens.

#include <gtest/gtest.h>

#include <cadre/cadre.hpp>
#include <chrono>
#include <map>
#include <string>

using namespace std::chrono_literals;
using cadre::Pid;

namespace {

struct Request {
  long add = 0;
  bool bye = false;
  template <class Ar>
  void serialize(Ar& ar, unsigned) {
    ar& add& bye;
  }
};
struct Reply {
  std::string worker;
  long total = 0;
  int count = 0;
  template <class Ar>
  void serialize(Ar& ar, unsigned) {
    ar& worker& total& count;
  }
};

/// `label` and `scale` are the worker's initial arguments; every connection keeps its own
/// running total and count, which each reply carries.
void counting_hub(cadre::Hub<Request, Reply>& hub, std::string label, long scale) {
  struct Conn {
    long total = 0;
    int count = 0;
  };
  std::map<Pid, Conn> conns;
  for (;;) {
    auto ev = hub.listen();
    if (auto* c = std::get_if<cadre::Connect>(&ev)) {
      conns.emplace(c->client, Conn{});
    } else if (auto* g = std::get_if<cadre::Disconnect>(&ev)) {
      conns.erase(g->client);
    } else {
      auto& d = std::get<cadre::Data<Request>>(ev);
      if (d.msg.bye) return;
      auto it = conns.find(d.client);
      if (it == conns.end()) throw std::runtime_error("data from a client that never connected");
      it->second.total += d.msg.add * scale;
      ++it->second.count;
      hub.send(d.client, Reply{label, it->second.total, it->second.count});
    }
  }
}
CADRE_TASK(counting_hub);

/// A second client: three requests of 5 on the channel it was given, the last reply to
/// `parent`.
void counting_client(cadre::Channel<Request, Reply> ch, Pid parent) {
  Reply last;
  for (int i = 0; i < 3; ++i) {
    ch.write(Request{5, false});
    last = ch.read();
  }
  cadre::send(parent, std::make_tuple(last.worker, last.total, last.count));
}
CADRE_TASK(counting_client);

/// One type, one argument: answers `prefix` + each message. On "monitor" it monitors a pid
/// that never existed (a Down at once), listens, and says whether its Down is still there.
void prefix_hub(cadre::Hub<std::string>& hub, std::string prefix) {
  for (;;) {
    auto ev = hub.listen();
    auto* d = std::get_if<cadre::Data<std::string>>(&ev);
    if (!d) continue;
    if (d->msg == "bye") return;
    if (d->msg == "monitor") {
      cadre::monitor(Pid{cadre::self_node(), 1ull << 40});
      hub.listen_for(50ms);
      bool kept = cadre::try_receive(cadre::on_down([](const cadre::Down&) {}));
      hub.send(d->client, prefix + (kept ? "down kept" : "down lost"));
      continue;
    }
    hub.send(d->client, prefix + d->msg);
  }
}
CADRE_TASK(prefix_hub);

TEST(Hubs, ArgumentsTwoTypesAndStatePerConnection) {
  auto ns = cadre::nodes();
  auto [ch, done] = cadre::spawn_hub<Request, Reply>(ns.back(), counting_hub, "w7", 10);
  ch.write(Request{1, false});
  Reply r = ch.read();
  EXPECT_EQ(r.worker, "w7") << "the initial argument";
  EXPECT_EQ(r.total, 10);
  EXPECT_EQ(r.count, 1);
  // The channel passed on: a second client with its own state, on another node when there is
  // one.
  cadre::spawn(ns[1 % ns.size()], counting_client, ch, cadre::self());
  auto other = cadre::receive(
      10s, cadre::match<std::tuple<std::string, long, int>>([](const auto& t) { return t; }));
  ASSERT_TRUE(other) << "the second client got no replies";
  EXPECT_EQ(*other, std::make_tuple(std::string("w7"), 150L, 3));
  ch.write(Request{2, false});
  ch.write(Request{3, false});
  ch.read();
  r = ch.read();
  EXPECT_EQ(r.total, 60) << "the first client's state, kept across the other's requests";
  EXPECT_EQ(r.count, 3);
  ch.write(Request{0, true});
  EXPECT_NO_THROW(done.get_for(10s));
}

TEST(Hubs, WrongTypesAndMisaddressedFramesAreRefused) {
  auto [ch, done] = cadre::spawn_hub<std::string>(cadre::nodes().back(), prefix_hub, "p:");
  ch.write("a");
  EXPECT_EQ(ch.read_for(10s), std::optional<std::string>("p:a"));

  cadre::Channel<int, double> wrong(ch.hub());
  wrong.write(1);
  try {
    wrong.read_for(10s);
    ADD_FAILURE() << "a channel of the wrong types was served";
  } catch (const cadre::Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("cadre::Channel::read_for: the hub refused this channel"),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("is a Hub<std::string, std::string> but the channel of"), std::string::npos)
        << what;
    EXPECT_NE(what.find("is a Channel<int, double>"), std::string::npos) << what;
  }

  // A frame that names another hub is dropped, not served.
  cadre::send(ch.hub(), cadre::detail::HubIn<std::string>{cadre::self(), cadre::self(), "x"});
  ch.write("b");
  EXPECT_EQ(ch.read_for(10s), std::optional<std::string>("p:b"));
  EXPECT_FALSE(ch.read_for(100ms)) << "the misaddressed frame was served";

  ch.write("monitor");
  EXPECT_EQ(ch.read_for(10s), std::optional<std::string>("p:down kept"))
      << "listen() took a Down of the body's own monitor";
  ch.write("bye");
  EXPECT_NO_THROW(done.get_for(10s));
}

}  // namespace
