// An idle node's doorbell across processes: with CADRE_IDLE_SLEEP_US=100000 every node sleeps
// up to 100 ms at a time when idle. A task sent to a node idle for 150 ms is answered long
// before its sleep would end when the sender on the same host rings the doorbell (argument
// "on"), and only at the end of the sleep without it (argument "off", CADRE_DOORBELL=0: the
// check that the sleep is real, so that the first case can fail).

#include <gtest/gtest.h>

#include <algorithm>
#include <cadre/cadre.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

bool g_doorbell = true;

int noop() { return 1; }
CADRE_TASK(noop);

/// The median round trip of a task to node `n` after `idle` without traffic, over 7 tries.
Clock::duration round_trip_after_idle(cadre::NodeId n, Clock::duration idle) {
  std::vector<Clock::duration> rtts;
  for (int i = 0; i < 7; ++i) {
    std::this_thread::sleep_for(idle);
    const auto t0 = Clock::now();
    EXPECT_EQ(cadre::run(cadre::on(n), noop).get_for(10s), 1);
    rtts.push_back(Clock::now() - t0);
  }
  std::sort(rtts.begin(), rtts.end());
  return rtts[rtts.size() / 2];
}

TEST(Doorbell, ANodeIdleInALongSleepWakesForATask) {
  const auto median = round_trip_after_idle(cadre::nodes().back(), 150ms);
  const auto ms = std::chrono::duration<double, std::milli>(median).count();
  std::printf("doorbell %s: median round trip after 150 ms idle: %.3f ms (sleeps 100 ms)\n",
              g_doorbell ? "on" : "off", ms);
  if (g_doorbell)
    EXPECT_LT(median, 30ms) << "the sender's ring did not wake the sleeping node";
  else
    EXPECT_GE(median, 10ms) << "without the doorbell the node should have slept on";
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  g_doorbell = !(argc > 1 && std::string(argv[1]) == "off");
  return cadre::launch(argc, argv, [] { return RUN_ALL_TESTS(); });
}
