#pragma once
// The communicators cadre hands to the user's own MPI code (include/cadre/boost_mpi.hpp),
// never cadre's own, so user traffic never matches cadre's. Each is made at its first use,
// collectively over its members only (MPI_Comm_create_group): a rank that never asks (a
// master that uses no MPI, a foreign rank of an MPMD job) is never waited for.

#include <mutex>

namespace cadre::transport {

class UserComms {
 public:
  /// `master_here`: this launch holds the cadre master (world rank 0 of the first job), which
  /// the workers' communicator leaves out. Calls no MPI.
  explicit UserComms(bool master_here);
  ~UserComms();
  UserComms(const UserComms&) = delete;
  UserComms& operator=(const UserComms&) = delete;

  /// Every rank of MPI_COMM_WORLD, as a pointer to an MPI_Comm; made at the first call,
  /// which every rank of the launch makes.
  void* world();
  /// The launch's ranks without the master, as a pointer to an MPI_Comm (MPI_COMM_NULL on the
  /// master); made at the first call, which every worker makes.
  void* workers();

  /// The communicators of this process's runtime, or nullptr when none runs.
  static UserComms* current();

 private:
  void* make(bool workers);

  bool master_here_;
  std::mutex mutex_;
  void* world_ = nullptr;
  void* workers_ = nullptr;
};

}  // namespace cadre::transport
