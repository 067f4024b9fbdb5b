// The soak's processes and tasks (soak_work.hpp).

#include "soak_work.hpp"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

using namespace std::chrono_literals;

CADRE_MESSAGE(soak::Ping);
CADRE_MESSAGE(soak::Pong);
CADRE_MESSAGE(soak::Stop);
CADRE_MESSAGE(soak::Ask);
CADRE_MESSAGE(soak::Flood);
CADRE_MESSAGE(soak::Never);

namespace soak {
namespace {

void pause_for(std::chrono::milliseconds d) {
  cadre::receive(d, cadre::match<Never>([](const Never&) {}));
}

void add_ledger(double sent, double received) {
  cadre::stat("soak.sent", sent);
  cadre::stat("soak.received", received);
}

}  // namespace

// Answers every Ping with a Pong until Stop.
void echoer() {
  double sent = 0, received = 0;
  for (bool on = true; on;) {
    cadre::receive(cadre::match<Ping>([&](const Ping& p) {
                     ++received;
                     cadre::send(p.from, Pong{p.seq});
                     ++sent;
                   }),
                   cadre::match<Stop>([&](const Stop&) {
                     ++received;
                     on = false;
                   }));
  }
  add_ledger(sent, received);
}

// Sends `n` pings to `echo`, at most `window` unanswered, checks every pong, stops the echoer
// and waits for its Down.
void pinger(Pid echo, int n, int window) {
  double sent = 0, received = 0;
  cadre::monitor(echo);
  std::uint64_t next = 0, answered = 0;
  while (answered < static_cast<std::uint64_t>(n)) {
    while (next < static_cast<std::uint64_t>(n) &&
           next - answered < static_cast<std::uint64_t>(window)) {
      cadre::send(echo, Ping{cadre::self(), next++});
      ++sent;
    }
    cadre::receive(cadre::match<Pong>([&](const Pong& p) {
      if (p.seq != answered) throw std::runtime_error("pong out of order");
      ++answered;
      ++received;
    }));
  }
  cadre::send(echo, Stop{});
  ++sent;
  cadre::receive(cadre::on_down([](const cadre::Down& d) {
    if (d.reason != cadre::Reason::normal) throw std::runtime_error("the echoer failed");
  }));
  add_ledger(sent, received);
}

// Replies 2x to every Ask (after its delay) until Stop.
void server() {
  double sent = 0, received = 0;
  for (bool on = true; on;) {
    cadre::receive(cadre::match<Ask>([&](const Ask& a) {
                     ++received;
                     if (a.delay_ms > 0) pause_for(std::chrono::milliseconds(a.delay_ms));
                     cadre::reply(2 * a.x);
                     ++sent;
                   }),
                   cadre::match<Stop>([&](const Stop&) {
                     ++received;
                     on = false;
                   }));
  }
  add_ledger(sent, received);
}

// `n` calls to `srv`, each answer checked.
void caller(Pid srv, int n) {
  double sent = 0, received = 0;
  for (int i = 0; i < n; ++i) {
    ++sent;
    const long got = cadre::call<long>(srv, Ask{i, 0}, 30s);
    ++received;
    if (got != 2L * i) throw std::runtime_error("wrong answer");
  }
  add_ledger(sent, received);
}

// A slow reader: each message counted as it is read (the process ends by overflow, so it
// cannot count at its end).
void flood_target() {
  for (;;) {
    cadre::receive(cadre::match<Flood>([](const Flood&) { cadre::stat("soak.received", 1); }));
    pause_for(1ms);
  }
}

void flooder(Pid target, int n) {
  for (int i = 0; i < n; ++i) cadre::send(target, Flood{static_cast<std::uint64_t>(i), "flood"});
  add_ledger(n, 0);
}

// On the victim: waits to be ended by its node's loss.
void sitter() {
  cadre::receive(cadre::match<Stop>([](const Stop&) {}));
}

long square_plus(long x) { return x * x + 7; }

int die() {
  ::kill(::getpid(), SIGKILL);
  return 0;
}

int flush() { return 0; }

}  // namespace soak

CADRE_TASK(soak::echoer);
CADRE_TASK(soak::pinger);
CADRE_TASK(soak::server);
CADRE_TASK(soak::caller);
CADRE_TASK(soak::flood_target);
CADRE_TASK(soak::flooder);
CADRE_TASK(soak::sitter);
CADRE_TASK(soak::square_plus);
CADRE_TASK(soak::die);
CADRE_TASK(soak::flush);
