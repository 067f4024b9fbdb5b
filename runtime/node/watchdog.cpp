#include "node/watchdog.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "node/log.hpp"

namespace cadre::node {

void Watchdog::start(Clock::duration heartbeat_timeout, bool master) {
  const auto now = Clock::now();
  ticked(now);
  heard_master(now);
  const auto limit = 3 * heartbeat_timeout;
  const auto period = std::clamp<Clock::duration>(
      heartbeat_timeout / 4, std::chrono::milliseconds(10), std::chrono::seconds(1));
  thread_ = std::thread([this, limit, period, master] {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, period, [this] { return stop_; })) {
      const auto now = Clock::now();
      const auto ticked = Clock::time_point(Clock::duration(ticked_at_.load()));
      const auto heard = Clock::time_point(Clock::duration(master_heard_at_.load()));
      const char* why = nullptr;
      Clock::duration silent{};
      if (now - ticked > limit && !blocked_.load()) {
        why = "this node's loop has not run: a task holds it without yielding";
        silent = now - ticked;
      } else if (!master && !master_done_.load() && now - heard > limit) {
        why = "no heartbeat of the master was processed";
        silent = now - heard;
      }
      if (!why) continue;
      log_local(Level::error,
                fmt::format("{} for {} ms (3 x heartbeat_timeout): this node ends itself", why,
                            std::chrono::duration_cast<std::chrono::milliseconds>(silent).count()));
      std::fflush(nullptr);
      std::_Exit(1);
    }
  });
}

void Watchdog::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

}  // namespace cadre::node
