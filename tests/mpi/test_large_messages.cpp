// Large messages, in the process test binary (its main runs them in the driver): a process
// sends a large std::vector<char> or std::string from the message's own memory (MPI reads it
// in place, the sender waits until it has), and the receiver's mailbox keeps the frame it
// arrived in. Whatever the sender does to its vector once send returned, the receiver gets
// the bytes as they were; messages around it keep their order; threads and processes of the
// same node, whose messages are copied, get the same bytes.

#include <gtest/gtest.h>

#include <algorithm>
#include <cadre/cadre.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <variant>
#include <vector>

using namespace std::chrono_literals;
using cadre::Pid;

namespace {

struct Marker {
  int n = 0;
  template <class Ar>
  void serialize(Ar& ar, unsigned) {
    ar& n;
  }
};
CADRE_MESSAGE(Marker);
struct Enough {
  template <class Ar>
  void serialize(Ar&, unsigned) {}
};
CADRE_MESSAGE(Enough);

// The bytes of message `k` of size `n`: no two messages alike, nor two pages of one.
std::vector<char> pattern(std::size_t n, int k) {
  std::vector<char> v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = static_cast<char>((i * 131 + i / 4096 * 7 + static_cast<std::size_t>(k)) % 251);
  return v;
}

// Around the borrowing threshold, around the largest frame of the small tag, and large.
std::vector<std::size_t> sizes() {
  return {cadre::detail::kBorrowBytes - 1, cadre::detail::kBorrowBytes, 70 * 1024,
          (std::size_t(1) << 20) + 3, std::size_t(4) << 20};
}

// Sends back, in the order they came, every Marker, vector and string to its sender.
void echo() {
  bool more = true;
  while (more)
    cadre::receive(
        cadre::match<Marker>([](const Marker& m) { cadre::send(cadre::sender(), m); }),
        cadre::match<std::vector<char>>(
            [](const std::vector<char>& v) { cadre::send(cadre::sender(), v); }),
        cadre::match<std::string>([](const std::string& s) { cadre::send(cadre::sender(), s); }),
        cadre::match<Enough>([&](const Enough&) { more = false; }));
}
CADRE_TASK(echo);

using Echoed = std::variant<Marker, std::vector<char>, std::string>;

// The next of the three kinds in the mailbox, whichever it is (so the order shows).
Echoed next_echoed() {
  auto got = cadre::receive(
      60s, cadre::match<Marker>([](const Marker& m) { return Echoed(m); }),
      cadre::match<std::vector<char>>([](const std::vector<char>& v) { return Echoed(v); }),
      cadre::match<std::string>([](const std::string& s) { return Echoed(s); }));
  if (!got) throw std::runtime_error("nothing came back from the echo in 60 s");
  return *got;
}

// For each size: a Marker, the vector, the same bytes as a string, a Marker, to `to`; each
// large one scribbled over as soon as its send returned. Then checks what came back: the same
// five messages, in order, with the bytes as sent. Returns the number of wrong messages.
long send_and_check(Pid to) {
  long wrong = 0;
  int k = 0;
  for (std::size_t n : sizes()) {
    ++k;
    cadre::send(to, Marker{2 * k});
    std::vector<char> v = pattern(n, k);
    cadre::send(to, v);
    std::fill(v.begin(), v.end(), 'X');
    const std::vector<char> t = pattern(n, 1000 + k);
    const std::string expected(t.begin(), t.end());
    std::string s = expected;
    cadre::send(to, s);
    s.assign(s.size(), 'Y');
    cadre::send(to, Marker{2 * k + 1});
    auto first = next_echoed();
    wrong += !(std::holds_alternative<Marker>(first) && std::get<Marker>(first).n == 2 * k);
    auto vec = next_echoed();
    wrong += !(std::holds_alternative<std::vector<char>>(vec) &&
               std::get<std::vector<char>>(vec) == pattern(n, k));
    auto str = next_echoed();
    wrong += !(std::holds_alternative<std::string>(str) && std::get<std::string>(str) == expected);
    auto last = next_echoed();
    wrong += !(std::holds_alternative<Marker>(last) && std::get<Marker>(last).n == 2 * k + 1);
  }
  return wrong;
}

void large_sender(Pid to, Pid parent) { cadre::send(parent, send_and_check(to)); }
CADRE_TASK(large_sender);

}  // namespace

TEST(LargeMessages, AProcessSendsThemWholeAndInOrderFromItsOwnMemory) {
  // From a process on the master to a process on each node (the master's own: copied).
  for (cadre::NodeId n : cadre::nodes()) {
    Pid e = cadre::spawn(n, echo);
    cadre::spawn(cadre::nodes().front(), large_sender, e, cadre::self());
    auto wrong = cadre::receive(120s, cadre::match<long>([](long w) { return w; }));
    ASSERT_TRUE(wrong) << "the sender on node 0 did not finish (echo on node " << n.value() << ")";
    EXPECT_EQ(*wrong, 0) << "messages to and from node " << n.value()
                         << " were wrong or out of order";
    cadre::send(e, Enough{});
  }
}

TEST(LargeMessages, ManySendersToOneReceiverAtOnce) {
  // Several processes on every node stream large messages into one echo each at the same
  // time: frames of several links complete in any order, each keeps its own.
  auto ns = cadre::nodes();
  std::vector<Pid> echoes;
  for (cadre::NodeId n : ns) echoes.push_back(cadre::spawn(n, echo));
  int senders = 0;
  for (cadre::NodeId n : ns)
    for (Pid e : echoes) {
      cadre::spawn(n, large_sender, e, cadre::self());
      ++senders;
    }
  long wrong = 0;
  for (int i = 0; i < senders; ++i) {
    auto w = cadre::receive(300s, cadre::match<long>([](long x) { return x; }));
    ASSERT_TRUE(w) << i << " of " << senders << " senders finished";
    wrong += *w;
  }
  EXPECT_EQ(wrong, 0);
  for (Pid e : echoes) cadre::send(e, Enough{});
}

TEST(LargeMessages, TheDriverThreadSendsThemToo) {
  // The driver is not a process that can wait for MPI: its messages are copied.
  for (cadre::NodeId n : cadre::nodes()) {
    Pid e = cadre::spawn(n, echo);
    EXPECT_EQ(send_and_check(e), 0) << "to and from node " << n.value();
    cadre::send(e, Enough{});
  }
}
