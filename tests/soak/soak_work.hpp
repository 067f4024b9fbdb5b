#pragma once
// The soak's messages and the bodies of its processes and tasks (soak_work.cpp); the driver
// that runs them round after round is soak.cpp.

#include <cadre/cadre.hpp>
#include <cstdint>
#include <string>

namespace soak {

using cadre::Pid;

/// The soak's mailbox bound (messages): the flood is three times this.
inline constexpr int kMailboxBound = 2000;

/// To an echoer: answer `from` with a Pong of `seq`.
struct Ping {
  Pid from;
  std::uint64_t seq = 0;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& from& seq;
  }
};
/// An echoer's answer.
struct Pong {
  std::uint64_t seq = 0;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& seq;
  }
};
/// Ends an echoer, a server or a sitter.
struct Stop {
  template <class A>
  void serialize(A&, unsigned) {}
};
/// A request to the server: the answer is 2 * x.
struct Ask {
  long x = 0;
  int delay_ms = 0;  // the server waits this long before it replies
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& x& delay_ms;
  }
};
/// One message of the flood.
struct Flood {
  std::uint64_t seq = 0;
  std::string pad;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& seq& pad;
  }
};
/// A type nobody sends: receiving it is a pause.
struct Never {
  template <class A>
  void serialize(A&, unsigned) {}
};

/// Answers every Ping with a Pong until Stop.
void echoer();
/// Sends `n` pings to `echo`, at most `window` unanswered, checks every pong, stops the echoer
/// and waits for its Down.
void pinger(Pid echo, int n, int window);
/// Replies 2x to every Ask (after its delay) until Stop.
void server();
/// `n` calls to `srv`, each answer checked.
void caller(Pid srv, int n);
/// A slow reader: each message counted as it is read (the process ends by overflow, so it
/// cannot count at its end).
void flood_target();
/// Sends `n` Flood messages to `target`.
void flooder(Pid target, int n);
/// On the victim: waits to be ended by its node's loss.
void sitter();
/// The map's function: x * x + 7.
long square_plus(long x);
/// Kills its own node with SIGKILL.
int die();
/// Does nothing: its answer follows everything its node sent before.
int flush();

}  // namespace soak
