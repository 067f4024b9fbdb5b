#pragma once
// MPI's lifetime as cadre sees it: initialise unless the user already did, finalize only
// what cadre started, and the node's transport over a duplicate of MPI_COMM_WORLD.

#include <memory>
#include <string>

#include "cadre/options.hpp"
#include "transport/transport.hpp"

namespace cadre::transport {

class MpiEnvironment {
 public:
  /// `need_other_thread`: the node loop will call MPI from a thread other than the one that
  /// initialises (the master of an explicit Runtime), so SERIALIZED is required.
  MpiEnvironment(int& argc, char**& argv, bool need_other_thread, bool thread_multiple);
  ~MpiEnvironment();
  MpiEnvironment(const MpiEnvironment&) = delete;
  MpiEnvironment& operator=(const MpiEnvironment&) = delete;

  int world_rank() const { return rank_; }
  int world_size() const { return size_; }
  std::string host() const { return host_; }
  bool owned() const { return owned_; }
  /// True when MPI may be called from any one thread at a time (MPI_THREAD_SERIALIZED or
  /// more): a waiting driver may then serve the node loop itself.
  bool serialized() const;
  /// MPI_Finalize if cadre initialised MPI (idempotent).
  void finalize();

 private:
  bool owned_ = false;
  bool finalized_ = false;
  int rank_ = 0, size_ = 1;
  int provided_ = 0;  // the thread level MPI provides
  std::string host_;
};

/// MPI_UNIVERSE_SIZE (the slots the job may fill, spawned processes included), or 0 when MPI
/// does not say.
int universe_size();
/// True when the job runs oversubscribed: Open MPI passes the setting to every rank; under
/// MPICH's Hydra (which never refuses more ranks than slots) when this host runs more of the
/// job's ranks (MPI_LOCALNRANKS) than it has cores.
bool oversubscribed();

}  // namespace cadre::transport
