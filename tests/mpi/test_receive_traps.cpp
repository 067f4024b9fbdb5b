// Traps of mailboxes and calls, in the process test binary (its main runs them in the
// driver): a receive that times out names the types no matcher accepted; cadre::sender();
// a call<R>, run<R> by name or mailbox message of the wrong type names both types.

#include <gtest/gtest.h>

#include <cadre/cadre.hpp>
#include <chrono>
#include <string>

using namespace std::chrono_literals;
using cadre::Pid;

namespace {

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

cadre::NodeId far_node() { return cadre::nodes().back(); }

// Answers one int with int + 1, to whoever sent it: no `from` field in the request.
void answers_sender() {
  cadre::receive(cadre::match<int>([](int x) { cadre::send(cadre::sender(), x + 1); }));
}
CADRE_TASK(answers_sender);

// Replies to a call<int> with a std::string.
void replies_text() {
  cadre::receive(cadre::match<int>([](int) { cadre::reply("text"); }));
}
CADRE_TASK(replies_text);

int triple(int x) { return 3 * x; }
CADRE_TASK(triple);

// Sends `to` four bytes that carry the id of long (which takes eight), then a real long.
void forges_a_long(Pid to) {
  const char bytes[4] = {1, 2, 3, 4};
  cadre::detail::send_bytes(to, cadre::detail::message_type_id<long>(), bytes, sizeof bytes);
  cadre::send(to, 7L);
}
CADRE_TASK(forges_a_long);

}  // namespace

TEST(ReceiveTraps, ATimeoutNamesTheTypesNoMatcherAccepted) {
  const std::string warning = fmt::format(
      "receive in {} on node 0 timed out after 30 ms waiting for long; its mailbox holds 2 "
      "message(s) no matcher accepted: int \u00d72",
      cadre::self());
  cadre::send(cadre::self(), 5);  // an int: a near miss of long
  cadre::send(cadre::self(), 6);
  testing::internal::CaptureStderr();
  EXPECT_FALSE(cadre::receive(30ms, cadre::match<long>([](long) {})));
  EXPECT_FALSE(cadre::receive(30ms, cadre::match<long>([](long) {})));  // within the second
  EXPECT_FALSE(cadre::try_receive(cadre::match<long>([](long) {})));    // polls never warn
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(occurrences(err, warning), 1u) << err;
  EXPECT_EQ(occurrences(err, "timed out after"), 1u) << "one warning a second\n" << err;
  int got = 0;
  while (cadre::try_receive(cadre::match<int>([&](int) { ++got; }))) {
  }
  EXPECT_EQ(got, 2);
  // An empty mailbox: a timeout is no news.
  testing::internal::CaptureStderr();
  EXPECT_FALSE(cadre::receive(10ms, cadre::match<long>([](long) {})));
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST(ReceiveTraps, SenderIsWhoSentTheMessageBeingHandled) {
  try {
    cadre::sender();
    FAIL() << "sender() outside a handler";
  } catch (const cadre::WrongRole& e) {
    EXPECT_NE(std::string(e.what()).find("cadre::sender(): called outside a receive handler"),
              std::string::npos)
        << e.what();
  }
  auto [p, mon] = cadre::spawn_monitor(far_node(), answers_sender);
  // The message to itself first: order holds per sender and receiver only, and p's answer
  // (another sender) may otherwise come in before it (the loop delivers 41 and runs p while
  // the driver is still sending).
  cadre::send(cadre::self(), std::string("from myself"));
  cadre::send(p, 41);
  auto got =
      cadre::receive(10s, cadre::match<int>([&](int x) {
                       EXPECT_EQ(cadre::sender(), p);
                       // A nested receive's handler sees its own message's sender;
                       // this one's comes back after it.
                       EXPECT_TRUE(cadre::try_receive(cadre::match<std::string>(
                           [](const std::string&) { EXPECT_EQ(cadre::sender(), cadre::self()); })));
                       EXPECT_EQ(cadre::sender(), p);
                       return x;
                     }));
  EXPECT_EQ(got, std::optional<int>(42));
  EXPECT_THROW(cadre::sender(), cadre::WrongRole) << "a handler's sender outlived it";
  EXPECT_TRUE(cadre::receive(
      10s, cadre::on_down([&](const cadre::Down&) { EXPECT_EQ(cadre::sender(), p); })));
}

TEST(ReceiveTraps, WrongTypesAreNamed) {
  // call<R> to a callee that replies with another type.
  Pid p = cadre::spawn(far_node(), replies_text);
  try {
    cadre::call<int>(p, 1, 10s);
    FAIL() << "call<int> took a std::string";
  } catch (const cadre::DecodeError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  fmt::format("cadre::call<int>({}): the reply is a std::string, not an int", p)),
              std::string::npos)
        << e.what();
  }
  // run<R> by name with another result type than the task's.
  try {
    cadre::run<long>(cadre::on(far_node()), "triple", 2).get();
    FAIL() << "run<long> of int triple(int)";
  } catch (const cadre::RegistryMismatch& e) {
    EXPECT_NE(std::string(e.what()).find("it returns int, not long"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(cadre::run<int>(cadre::on(far_node()), "triple", 2).get(), 6);
  // Bytes that carry long's id but are no long: dropped, naming the type and the sender.
  testing::internal::CaptureStderr();
  Pid forger = cadre::spawn(far_node(), forges_a_long, cadre::self());
  auto got = cadre::receive(10s, cadre::match<long>([](long v) { return v; }));
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(got, std::optional<long>(7));
  EXPECT_NE(err.find(fmt::format("dropped a malformed message from {} to {}: it carries the id "
                                 "of long but could not be decoded as one",
                                 forger, cadre::self())),
            std::string::npos)
      << err;
}
