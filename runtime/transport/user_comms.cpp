#include "transport/user_comms.hpp"

#include <mpi.h>

#include <atomic>

#include "transport/mpi_check.hpp"

namespace cadre::transport {

namespace {
std::atomic<UserComms*> g_current{nullptr};
// Tags of MPI_Comm_create_group on MPI_COMM_WORLD (cadre's own traffic is elsewhere).
constexpr int kWorldTag = 7301;
constexpr int kWorkersTag = 7302;
}  // namespace

UserComms::UserComms(bool master_here) : master_here_(master_here) { g_current.store(this); }

UserComms::~UserComms() {
  UserComms* self = this;
  g_current.compare_exchange_strong(self, nullptr);
  // The handles end with MPI_Finalize (freeing one is collective, and the ranks do not reach
  // this destructor together).
  delete static_cast<MPI_Comm*>(world_);
  delete static_cast<MPI_Comm*>(workers_);
}

void* UserComms::world() {
  std::lock_guard lock(mutex_);
  if (!world_) world_ = make(false);
  return world_;
}

void* UserComms::workers() {
  std::lock_guard lock(mutex_);
  if (!workers_) workers_ = make(true);
  return workers_;
}

void* UserComms::make(bool workers) {
  int rank = 0;
  CADRE_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
  auto* comm = new MPI_Comm(MPI_COMM_NULL);
  if (workers && master_here_ && rank == 0) return comm;  // the master is no worker
  MPI_Group all = MPI_GROUP_NULL, members = MPI_GROUP_NULL;
  CADRE_MPI(MPI_Comm_group(MPI_COMM_WORLD, &all));
  if (workers && master_here_) {
    const int master = 0;
    CADRE_MPI(MPI_Group_excl(all, 1, &master, &members));
  } else {
    members = all;
  }
  const int rc =
      MPI_Comm_create_group(MPI_COMM_WORLD, members, workers ? kWorkersTag : kWorldTag, comm);
  if (members != all) MPI_Group_free(&members);
  MPI_Group_free(&all);
  if (rc != MPI_SUCCESS) {
    delete comm;
    throw_mpi_error("MPI_Comm_create_group", rc);
  }
  return comm;
}

UserComms* UserComms::current() { return g_current.load(); }

}  // namespace cadre::transport
