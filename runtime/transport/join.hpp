#pragma once
// Joining a running job over MPI (MPI_Open_port, MPI_Comm_accept, MPI_Comm_connect), for
// jobs launched separately under one ompi-server. The cookie is checked before any of this,
// on a plain socket (api/join_gate.hpp): these calls cannot be undone or bounded once made.

#include <chrono>
#include <memory>
#include <string>
#include <utility>

namespace cadre::transport {

/// An inter-communicator MPI_Comm_accept made, until the node's transport adopts it
/// (Transport::adopt). Freed (MPI_Comm_free) if nobody does.
class Accepted {
 public:
  Accepted() = default;
  ~Accepted();
  Accepted(Accepted&& o) noexcept : comm_(o.comm_) { o.comm_ = nullptr; }
  Accepted& operator=(Accepted&& o) noexcept {
    std::swap(comm_, o.comm_);
    return *this;
  }
  explicit operator bool() const { return comm_ != nullptr; }
  /// Hands the communicator (an MPI_Comm) over; this object no longer frees it.
  void* release() {
    void* c = comm_;
    comm_ = nullptr;
    return c;
  }

 private:
  friend class JoinPort;
  void* comm_ = nullptr;  // an MPI_Comm, on the heap
};

/// A communicator of this process alone (MPI_Comm_dup of MPI_COMM_SELF) that the join gate
/// makes its own communicators from, so that they share none with the node loop: made on
/// the loop thread; afterwards used by one thread at a time. Throws MpiError.
class SelfComm {
 public:
  SelfComm();
  ~SelfComm();
  SelfComm(const SelfComm&) = delete;
  SelfComm& operator=(const SelfComm&) = delete;
  /// A fresh duplicate (an MPI_Comm, on the heap; the caller frees it with free_comm).
  void* dup() const;

 private:
  void* comm_ = nullptr;
};

/// MPI_Comm_free and delete of a communicator made by SelfComm::dup.
void free_comm(void* comm);

/// One MPI port for one joiner (a port whose joiner died inside MPI_Comm_connect is
/// unusable for good, so each joiner gets a fresh one). Needs MPI_THREAD_MULTIPLE: accept()
/// blocks a thread of its own while the node loop goes on.
class JoinPort {
 public:
  /// MPI_Open_port, and a duplicate of `base` to accept over. Throws MpiError.
  explicit JoinPort(const SelfComm& base);
  /// MPI_Close_port, unless accept() is still blocked in it (then both are left alone).
  ~JoinPort();
  JoinPort(const JoinPort&) = delete;
  JoinPort& operator=(const JoinPort&) = delete;
  /// The port name the joiner connects to.
  const std::string& name() const { return name_; }
  /// Blocks in MPI_Comm_accept until the joiner connects (Open MPI gives up after 300 s).
  /// Throws MpiError.
  Accepted accept();
  /// Tells the destructor that accept() never returned: close nothing.
  void abandon() { abandoned_ = true; }

 private:
  std::string name_;
  void* self_ = nullptr;  // an MPI_Comm, on the heap
  bool abandoned_ = false;
};

/// True when MPI runs with MPI_THREAD_MULTIPLE (listen() needs it).
bool thread_multiple();

/// The joiner's side: MPI_Comm_connect to `port` over MPI_COMM_SELF; returns the
/// inter-communicator (an MPI_Comm, on the heap) for make_transport. Ends the process with a
/// clear message if the connect has not returned within `limit` (it has no deadline of its
/// own). Throws MpiError.
void* connect_to(const std::string& port, std::chrono::milliseconds limit);

}  // namespace cadre::transport
