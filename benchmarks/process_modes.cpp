/// \file process_modes.cpp
/// The latency, msgrate and ring modes of cadre-bench (see process_modes.hpp).

#include "process_modes.hpp"

#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <cadre/cadre.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "raw_mpi.hpp"

namespace cadre::bench {

/// An 8-byte trivially copyable message, copied with one memcpy.
struct Word {
  std::uint64_t v = 0;
};

}  // namespace cadre::bench

CADRE_BITWISE(cadre::bench::Word);

namespace cadre::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Bytes = std::vector<char>;

struct Stop {
  template <class A>
  void serialize(A&, unsigned) {}
};

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::optional<double> ratio(double v, double raw) {
  if (!(raw > 0)) return std::nullopt;
  return v / raw;
}

}  // namespace
}  // namespace cadre::bench

namespace cb = cadre::bench;
CADRE_MESSAGE(cb::Word);
CADRE_MESSAGE(cb::Stop);

namespace cadre::bench {
namespace {

// -- latency ----------------------------------------------------------------------------

/// Bounces every T back to the process that last introduced itself with its Pid.
template <class T>
void pong() {
  Pid peer;
  bool more = true;
  while (more)
    receive(match<Pid>([&](Pid p) { peer = p; }), match<T>([&](const T& m) { send(peer, m); }),
            match<Stop>([&](const Stop&) { more = false; }));
}
void pong_word() { pong<Word>(); }
CADRE_TASK(pong_word);
void pong_bytes() { pong<Bytes>(); }
CADRE_TASK(pong_bytes);

/// Runs in a process on node 0: `iters` round trips of `msg` to `peer`; returns µs one way.
/// The same message travels both ways, as in the raw ping-pong: the peer learns once whom
/// to answer.
template <class T>
double pingpong(Pid peer, T msg, int iters, int warmup) {
  send(peer, self());
  auto once = [&] {
    send(peer, msg);
    receive(match<T>([](const T&) {}));
  };
  for (int i = 0; i < warmup; ++i) once();
  auto t0 = Clock::now();
  for (int i = 0; i < iters; ++i) once();
  return seconds_since(t0) * 1e6 / (2.0 * iters);
}

double ping_word(Pid peer, int iters, int warmup) {
  return pingpong(peer, Word{42}, iters, warmup);
}
CADRE_TASK(ping_word);
double ping_bytes(Pid peer, std::size_t bytes, int iters, int warmup) {
  return pingpong(peer, Bytes(bytes, 'x'), iters, warmup);
}
CADRE_TASK(ping_bytes);

void run_ping_word(Pid parent, Pid peer, int iters, int warmup) {
  send(parent, ping_word(peer, iters, warmup));
}
CADRE_TASK(run_ping_word);
void run_ping_bytes(Pid parent, Pid peer, std::size_t bytes, int iters, int warmup) {
  send(parent, ping_bytes(peer, bytes, iters, warmup));
}
CADRE_TASK(run_ping_bytes);

// -- msgrate ----------------------------------------------------------------------------

void sink(Pid parent, long n) {
  long got = 0;
  while (got < n) receive(match<Word>([&](const Word&) { ++got; }));
  send(parent, got);
}
CADRE_TASK(sink);

void stream(Pid parent, Pid to, long n) {
  auto t0 = Clock::now();
  for (long i = 0; i < n; ++i) send(to, Word{static_cast<std::uint64_t>(i)});
  // The sink tells the parent when all arrived; the parent times from the start signal.
  send(parent, seconds_since(t0));
}
CADRE_TASK(stream);

// -- bcast ------------------------------------------------------------------------------

struct Ack {
  template <class A>
  void serialize(A&, unsigned) {}
};

}  // namespace
}  // namespace cadre::bench
CADRE_MESSAGE(cb::Ack);
namespace cadre::bench {
namespace {

// What is broadcast or relayed: who to acknowledge, and an 8-byte word.
using Shout = std::pair<Pid, Word>;

void acker(bool relayed) {
  if (relayed) subscribe_relay<Shout>();
  receive_loop(std::chrono::hours(1), match<Shout>([&](const Shout& s) {
                 send(s.first, Ack{});
                 return true;
               }),
               match<Stop>([](const Stop&) { return false; }));
}
CADRE_TASK(acker);

// Rounds of broadcast_all (or relay) to `nodes` acknowledging processes; reports µs a round.
void broadcaster(Pid parent, int nodes, int iters, bool relayed) {
  const Shout shout{self(), Word{1}};
  auto once = [&] {
    if (relayed)
      relay(shout);
    else
      broadcast_all(shout);
    for (int k = 0; k < nodes; ++k) receive(match<Ack>([](const Ack&) {}));
    if (!relayed) receive(match<Shout>([](const Shout&) {}));  // its own copy
  };
  for (int i = 0; i < iters / 10 + 1; ++i) once();
  auto t0 = Clock::now();
  for (int i = 0; i < iters; ++i) once();
  send(parent, seconds_since(t0) * 1e6 / iters);
}
CADRE_TASK(broadcaster);

// -- ring -------------------------------------------------------------------------------

void ring_member(Pid parent) {
  Pid next = receive(match<Pid>([](const Pid& p) { return p; }));
  receive_loop(std::chrono::hours(1), match<long>([&](long left) {
                 if (left == 0)
                   send(parent, left);
                 else
                   send(next, left - 1);
                 return true;
               }),
               match<Stop>([](const Stop&) { return false; }));
}
CADRE_TASK(ring_member);

long rss_kib() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}
CADRE_TASK(rss_kib);

// -- spawn rate -------------------------------------------------------------------------

void parked_child() {
  receive(match<Stop>([](const Stop&) {}));
}
CADRE_TASK(parked_child);

// Spawns `n` processes on its own node and reports how many per second: from the first
// spawn until every child has run and parked in its receive (the spawner's yield comes
// after the children it queued).
void spawner(Pid parent, int n) {
  std::vector<Pid> kids;
  kids.reserve(static_cast<std::size_t>(n));
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) kids.push_back(spawn(local, parked_child));
  cadre::yield();
  double rate = n / seconds_since(t0);
  for (const Pid& k : kids) send(k, Stop{});
  send(parent, rate);
}
CADRE_TASK(spawner);

// A ring of `size` processes spread over the nodes: the memory each parked member added, and
// the token's rate (median of f.repeat runs around the same ring).
void ring_rows(const Flags& f, double raw_rate, int size, std::vector<Row>& rows) {
  auto ns = nodes();
  std::vector<long> before;
  for (auto n : ns) before.push_back(run(on(n), rss_kib).get());
  std::vector<Pid> ring;
  ring.reserve(static_cast<std::size_t>(size));
  for (int i = 0; i < size; ++i)
    ring.push_back(spawn(ns[static_cast<std::size_t>(i) % ns.size()], ring_member, self()));
  auto grown = [&] {
    long kib = 0;
    for (std::size_t k = 0; k < ns.size(); ++k) kib += run(on(ns[k]), rss_kib).get() - before[k];
    return 1024.0 * kib / size;
  };
  const double parked = grown();
  for (int i = 0; i < size; ++i)
    send(ring[static_cast<std::size_t>(i)], ring[static_cast<std::size_t>((i + 1) % size)]);
  // Each member has received a message (most of them before any ran again: a mailbox each).
  const double told = grown();
  const long hops = std::max<long>(f.tasks, 2L * size);
  double rate = median_of(f.repeat, [&] {
    auto t0 = Clock::now();
    send(ring[0], hops - 1);
    receive(match<long>([](long) {}));
    return hops / seconds_since(t0);
  });
  const double after = grown();
  broadcast_all(Stop{});
  receive(std::chrono::seconds(1), match<Stop>([](const Stop&) {}));
  rows.push_back({"ring_" + std::to_string(size), rate, "msgs/s", ratio(rate, raw_rate),
                  std::to_string(hops) + " hops over " + std::to_string(ns.size()) + " nodes; " +
                      format_value(parked) + " bytes resident per process"});
  if (size == 50000)
    rows.push_back({"process_rss_bytes", parked, "bytes", std::nullopt,
                    "resident per parked process of " + std::to_string(size) +
                        " (spawned, ran, waiting in receive); " + format_value(told) +
                        " once each was sent its neighbour's pid; " + format_value(after) +
                        " after the token went round"});
}

}  // namespace

std::vector<double> process_baselines(const Flags& f) {
  std::vector<double> raw;
  if (f.mode == "latency") {
    raw.push_back(raw::pingpong_latency_us(MPI_COMM_WORLD, 8, f.iterations, f.warmup));
    for (std::size_t s : message_sizes(f))
      raw.push_back(raw::pingpong_latency_us(MPI_COMM_WORLD, s, std::max(10, f.iterations / 10),
                                             f.warmup / 10));
  } else if (f.mode == "bcast") {
    raw.push_back(raw::tree_bcast_us(MPI_COMM_WORLD, 8, std::max(10, f.iterations)));
  } else if (f.mode == "msgrate") {
    raw.push_back(median_of(f.repeat, [&] {
      return raw::message_rate(MPI_COMM_WORLD, 8, f.window, std::max(100000L, f.tasks));
    }));
  } else {
    double us = raw::pingpong_latency_us(MPI_COMM_WORLD, 8, f.iterations, f.warmup);
    raw.push_back(us > 0 ? 1e6 / us : 0);
  }
  return raw;
}

namespace {
/// The median time of one memcpy of `bytes` between two buffers already faulted in.
double memcpy_us(std::size_t bytes) {
  std::vector<char> from(bytes, 1), to(bytes, 2);
  std::vector<double> us;
  for (int i = 0; i < 21; ++i) {
    const auto t0 = Clock::now();
    std::memcpy(to.data(), from.data(), bytes);
    asm volatile("" : : "r"(to.data()) : "memory");  // the copy is used
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}
}  // namespace

void process_mode(const Flags& f, const std::vector<double>& raw, std::vector<Row>& rows) {
  auto ns = nodes();
  if (f.mode == "bcast") {
    // One acknowledging process per node; a round ends when every node has answered. The
    // rounds run in a process on node 0 (not on the driver's thread).
    const int iters = std::max(10, f.iterations / 10);
    auto measure = [&](bool relayed) {
      std::vector<Pid> ackers;
      for (auto n : ns) ackers.push_back(spawn(n, acker, relayed));
      double us = median_of(f.repeat, [&] {
        spawn(local, broadcaster, self(), static_cast<int>(ns.size()), iters, relayed);
        return receive(match<double>([](double d) { return d; }));
      });
      for (auto a : ackers) send(a, Stop{});
      return us;
    };
    double b = measure(false);
    double r = measure(true);
    const std::string nodes_note = std::to_string(ns.size()) + " nodes";
    rows.push_back({"raw_tree_bcast_8B", raw[0], "us", 1.0,
                    "binomial tree of MPI_Send + acknowledgement, " + nodes_note});
    rows.push_back({"broadcast_all_8B", b, "us", ratio(b, raw[0]),
                    "to a process on every node, acknowledged, " + nodes_note});
    rows.push_back({"relay_8B", r, "us", ratio(r, raw[0]),
                    "relay to a subscriber on every node, acknowledged, " + nodes_note});
    return;
  }
  if (ns.size() < 2) throw Error("cadre-bench " + f.mode + " needs at least 2 ranks");
  const NodeId far = ns[1];
  if (f.mode == "latency") {
    Pid pw = spawn(far, pong_word);
    double w = median_of(f.repeat, [&] {
      spawn(local, run_ping_word, self(), pw, f.iterations, f.warmup);
      return receive(match<double>([](double d) { return d; }));
    });
    send(pw, Stop{});
    rows.push_back({"raw_latency_8B", raw[0], "us", 1.0, "MPI_Send/MPI_Recv ping-pong, one way"});
    rows.push_back({"latency_8B", w, "us", ratio(w, raw[0]),
                    "processes on nodes 0 and 1, an 8-byte bitwise message"});
    Pid pb = spawn(far, pong_bytes);
    auto sizes = message_sizes(f);
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      int iters = std::max(10, f.iterations / 10);
      double b = median_of(f.repeat, [&] {
        spawn(local, run_ping_bytes, self(), pb, sizes[i], iters, f.warmup / 10);
        return receive(match<double>([](double d) { return d; }));
      });
      rows.push_back({"latency_vec_" + std::to_string(sizes[i]) + "B", b, "us",
                      ratio(b, raw[i + 1]),
                      "std::vector<char>; raw: " + format_value(raw[i + 1]) + " us"});
    }
    send(pb, Stop{});
    // One user-space copy of 4 MiB in this job, beside the raw one-way time of that size.
    constexpr std::size_t kCopy = std::size_t(4) << 20;
    const double copy = memcpy_us(kCopy);
    double raw_copy_size = 0;
    for (std::size_t i = 0; i < sizes.size(); ++i)
      if (sizes[i] == kCopy) raw_copy_size = raw[i + 1];
    rows.push_back({"memcpy_4194304B", copy, "us",
                    raw_copy_size > 0 ? ratio(copy, raw_copy_size) : 0,
                    "one memcpy of 4 MiB between buffers already faulted in (ratio: to raw "
                    "MPI's one-way time at 4 MiB, when measured)"});
  } else if (f.mode == "msgrate") {
    const long n = std::max(100000L, f.tasks);
    double rate = median_of(f.repeat, [&] {
      Pid s = spawn(far, sink, self(), n);
      auto t0 = Clock::now();
      spawn(local, stream, self(), s, n);
      receive(match<long>([](long) {}));  // the sink has them all
      double secs = seconds_since(t0);
      receive(match<double>([](double) {}));
      return n / secs;
    });
    rows.push_back({"raw_msgrate_8B", raw[0], "msgs/s", 1.0,
                    "raw MPI stream, window " + std::to_string(f.window)});
    rows.push_back({"msgrate_8B", rate, "msgs/s", ratio(rate, raw[0]),
                    "one process streams " + std::to_string(n) + " 8-byte messages to another"});
  } else {
    rows.push_back(
        {"raw_pingpong_rate", raw[0], "msgs/s", 1.0, "raw MPI 8-byte one-way messages per second"});
    const int n_spawn = 20000;
    double spawned = median_of(f.repeat, [&] {
      spawn(local, spawner, self(), n_spawn);
      return receive(match<double>([](double d) { return d; }));
    });
    rows.push_back({"spawn_rate_local", spawned, "procs/s", std::nullopt,
                    "a process spawns " + std::to_string(n_spawn) +
                        " on its own node, until each has run and parked in receive"});
    for (int size : {1000, 50000}) ring_rows(f, raw[0], size, rows);
  }
}

}  // namespace cadre::bench
