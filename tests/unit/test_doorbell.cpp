// Doorbells (runtime/transport/doorbell.hpp) within one process: a sleeper wakes when its own
// doorbell is rung and when the page mapped as a peer's is, unless it sleeps for its own
// threads only; `ready` stops a sleep before it starts; a timed sleep ends by itself; a
// process without a doorbell has none to map.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "transport/doorbell.hpp"

using cadre::transport::Doorbell;
using cadre::transport::PeerDoorbell;
using Clock = Doorbell::Clock;
using namespace std::chrono_literals;

namespace {

// Sleeps on `bell` for up to 30 s on another thread, calls `ring` until the sleeper is awake,
// and returns whether it woke before its timeout.
template <class Ring>
bool wakes_when_rung(Doorbell& bell, Ring ring) {
  std::atomic<bool> awake{false};
  std::thread sleeper([&] {
    bell.sleep_until(Clock::now() + 30s, [] { return false; });
    awake = true;
  });
  const auto give_up = Clock::now() + 20s;
  while (!awake && Clock::now() < give_up) {
    ring();
    std::this_thread::sleep_for(1ms);
  }
  const bool woke = awake.load();
  sleeper.join();
  return woke;
}

}  // namespace

TEST(Doorbell, RingingItsOwnDoorbellWakesTheSleeper) {
  Doorbell bell;
  EXPECT_TRUE(wakes_when_rung(bell, [&] { bell.ring(); }));
}

TEST(Doorbell, APeerMapsThePageThroughProcAndWakesTheSleeper) {
  Doorbell bell;
  ASSERT_TRUE(bell.shared()) << "memfd_create failed here: no doorbell peers could map";
  auto peer = PeerDoorbell::open(static_cast<int>(getpid()));
  ASSERT_NE(peer, nullptr) << "this process's doorbell was not found under /proc/self/fd";
  EXPECT_TRUE(wakes_when_rung(bell, [&] { peer->ring(); }));
}

TEST(Doorbell, ASleeperForItsOwnThreadsOnlyIsNotWokenByPeers) {
  // A parked loop thread while the driver serves the loop: the peers' rings are not for it,
  // its own process's are. An idle sleeper beside it is still woken by a peer.
  Doorbell bell;
  ASSERT_TRUE(bell.shared()) << "memfd_create failed here: no doorbell peers could map";
  auto peer = PeerDoorbell::open(static_cast<int>(getpid()));
  ASSERT_NE(peer, nullptr);
  std::atomic<bool> awake{false};
  const auto t0 = Clock::now();
  std::thread parked([&] {
    bell.sleep_until(
        Clock::now() + 30s, [] { return false; }, Doorbell::Ringers::own_only);
    awake = true;
  });
  // A peer rings for 300 ms, and rings an idle sleeper awake meanwhile: the parked one sleeps on.
  EXPECT_TRUE(wakes_when_rung(bell, [&] { peer->ring(); }));
  while (Clock::now() - t0 < 300ms) {
    peer->ring();
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_FALSE(awake.load()) << "a peer's ring woke a sleeper that only its own threads wake";
  const auto give_up = Clock::now() + 20s;
  while (!awake && Clock::now() < give_up) {
    bell.ring();
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(awake.load()) << "its own process's ring did not wake it";
  parked.join();
}

TEST(Doorbell, ReadyWorkSkipsTheSleep) {
  Doorbell bell;
  const auto t0 = Clock::now();
  EXPECT_FALSE(bell.sleep_until(t0 + 30s, [] { return true; }));
  EXPECT_LT(Clock::now() - t0, 10s);
}

TEST(Doorbell, ATimedSleepEndsByItself) {
  Doorbell bell;
  const auto t0 = Clock::now();
  EXPECT_TRUE(bell.sleep_until(t0 + 20ms, [] { return false; }));
  EXPECT_GE(Clock::now() - t0, 19ms);
  EXPECT_TRUE(bell.sleep_until(t0 - 1s, [] { return false; })) << "a past deadline returns";
}

TEST(Doorbell, NoDoorbellToMapGivesNothing) {
  EXPECT_EQ(PeerDoorbell::open(-1), nullptr);
  EXPECT_EQ(PeerDoorbell::open(0), nullptr);
  EXPECT_EQ(PeerDoorbell::open(1 << 30), nullptr) << "no such process";
  { Doorbell gone; }
  // The page of a doorbell that was destroyed is not found (its descriptor is closed, its
  // magic cleared); a fresh one is, and ringing it with nobody asleep is harmless.
  EXPECT_EQ(PeerDoorbell::open(static_cast<int>(getpid())), nullptr);
  Doorbell fresh;
  auto peer = PeerDoorbell::open(static_cast<int>(getpid()));
  ASSERT_NE(peer, nullptr);
  peer->ring();
}
