#pragma once
// A deadline for a call that cannot be bounded otherwise (MPI_Comm_spawn, MPI_Comm_connect,
// MPI_Finalize after an accept that never returned): unless the guard is destroyed first,
// a thread of its own prints the message and ends the process.

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace cadre::transport {

class ExitGuard {
 public:
  /// After `limit`, unless destroyed by then: `message` (one line) on stderr, then
  /// _Exit(status).
  ExitGuard(std::chrono::milliseconds limit, std::string message, int status = 1)
      : thread_([this, limit, message = std::move(message), status] {
          std::unique_lock lock(mu_);
          if (cv_.wait_for(lock, limit, [this] { return done_; })) return;
          std::fprintf(stderr, "%s\n", message.c_str());
          std::fflush(nullptr);
          std::_Exit(status);
        }) {}
  ~ExitGuard() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  ExitGuard(const ExitGuard&) = delete;
  ExitGuard& operator=(const ExitGuard&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: it starts once the rest is ready
};

}  // namespace cadre::transport
