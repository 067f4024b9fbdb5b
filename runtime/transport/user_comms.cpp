#include "transport/user_comms.hpp"

#include <mpi.h>

#include <atomic>

#include "transport/mpi_check.hpp"

namespace cadre::transport {

namespace {
std::atomic<const UserComms*> g_current{nullptr};
}

UserComms::UserComms(bool master_here) {
  auto* world = new MPI_Comm(MPI_COMM_NULL);
  auto* workers = new MPI_Comm(MPI_COMM_NULL);
  world_ = world;
  workers_ = workers;
  int rank = 0;
  CADRE_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
  CADRE_MPI(MPI_Comm_dup(MPI_COMM_WORLD, world));
  const bool is_master = master_here && rank == 0;
  CADRE_MPI(MPI_Comm_split(MPI_COMM_WORLD, is_master ? MPI_UNDEFINED : 0, rank, workers));
  g_current.store(this);
}

UserComms::~UserComms() {
  const UserComms* self = this;
  g_current.compare_exchange_strong(self, nullptr);
  // The handles themselves end with MPI_Finalize (freeing them is collective, and the
  // ranks do not reach this destructor together).
  delete static_cast<MPI_Comm*>(world_);
  delete static_cast<MPI_Comm*>(workers_);
}

const UserComms* UserComms::current() { return g_current.load(); }

}  // namespace cadre::transport
