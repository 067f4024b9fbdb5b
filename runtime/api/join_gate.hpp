#pragma once
// The gate of a joinable job (cadre::listen): a plain TCP socket where a joiner presents the
// job's cookie before MPI is involved. MPI_Comm_accept cannot be undone or bounded, so only a
// verified joiner that announced itself gets an MPI port (a fresh one each: a port whose
// joiner died inside MPI_Comm_connect is unusable for good), and the accept blocks a thread
// of its own, never the node loop.
//
// Each connection is handled on a thread of its own (at most 16 at a time). The exchange, one
// line each (at most 4 KiB; the first three within 5 s; a wrong cookie is answered after 1 s):
//   joiner: "cadre-join 1", "<pid> <host>", "<cookie>"
//   master: "ok <MPI port name>"  or  "refused <why>"
//   joiner: "connecting"          (then MPI_Comm_connect; the master then MPI_Comm_accept)

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "transport/join.hpp"

namespace cadre::node {
class Core;
}

namespace cadre::api {

/// The first line a joiner sends (the version of this exchange).
inline constexpr const char* kJoinGreeting = "cadre-join 1";

class JoinGate {
 public:
  /// Opens the socket (every interface, a port the system picks) and the thread that
  /// verifies joiners and hands each accepted one to `core`. Throws Error.
  JoinGate(node::Core& core, std::string cookie);
  /// Closes the socket and ends the thread (an accept that never returned stays behind).
  ~JoinGate();
  JoinGate(const JoinGate&) = delete;
  JoinGate& operator=(const JoinGate&) = delete;
  /// "host:port" of the socket.
  const std::string& description() const { return description_; }
  /// True once an MPI_Comm_accept did not return in time (its joiner died in the middle):
  /// MPI_Finalize would wait on it, so this process must end without it. Any thread.
  static bool accept_stuck();

 private:
  void run();
  void handle(int fd, const std::string& peer);
  node::Core& core_;
  std::unique_ptr<transport::SelfComm> base_;
  std::string cookie_;
  std::string description_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};  // a pipe: the destructor wakes the thread
  std::atomic<bool> stop_{false};
  std::thread thread_;
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Worker> workers_;  // one per connection being handled (the gate thread's)
  std::mutex base_mu_;
};

/// The joiner's side of the exchange (api/join_client.cpp) with the gate at `description`
/// ("host:port", or
/// "@FILE" naming a file that holds it): returns the MPI port to connect to. Throws Error
/// naming what failed: an unreadable description, no answer, a refusal and its reason.
std::string join_handshake(const std::string& description, std::chrono::milliseconds limit);

}  // namespace cadre::api
