#pragma once
// The communicators cadre hands to the user's own MPI code (include/cadre/boost_mpi.hpp):
// duplicates made once at start-up, never cadre's own, so user traffic never matches cadre's.

namespace cadre::transport {

class UserComms {
 public:
  /// Collective over this process's MPI_COMM_WORLD (every rank of one launch makes it at the
  /// same point of start-up). `master_here`: this launch holds the cadre master (world rank
  /// 0 of the first job), which the workers' communicator leaves out.
  explicit UserComms(bool master_here);
  ~UserComms();
  UserComms(const UserComms&) = delete;
  UserComms& operator=(const UserComms&) = delete;

  /// The duplicate of MPI_COMM_WORLD, as a pointer to an MPI_Comm.
  void* world() const { return world_; }
  /// The launch's ranks without the master, as a pointer to an MPI_Comm (MPI_COMM_NULL on the
  /// master).
  void* workers() const { return workers_; }

  /// The communicators of this process's runtime, or nullptr when none runs.
  static const UserComms* current();

 private:
  void* world_ = nullptr;
  void* workers_ = nullptr;
};

}  // namespace cadre::transport
