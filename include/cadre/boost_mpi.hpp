#pragma once
/// \file boost_mpi.hpp
/// Boost.MPI beside cadre: the communicators cadre hands to the user's own MPI code. This is
/// the only cadre header that includes <mpi.h> and Boost.MPI; a program using it links
/// Boost.MPI (CMake: Boost::mpi; `-lboost_mpi`). Debian's Boost.MPI is built against Open MPI,
/// so cadre installs this header only when it is built against Open MPI.
///
/// The thread rules of cadre apply: user MPI code runs in tasks and processes, on the node
/// loop, which it holds while it runs (a collective blocks its node until every member joins;
/// keep it short). The driver and other threads may call MPI only with
/// Options::mpi_thread_multiple. The functions below check this and throw WrongRole.

#include <mpi.h>

#include <boost/mpi/communicator.hpp>

namespace cadre {

namespace detail {
/// The user's communicator (the workers' when `workers`), after the thread-rule checks;
/// `what` names the caller in errors. Throws NotRunning, WrongRole.
MPI_Comm user_mpi_comm(bool workers, const char* what);
}  // namespace detail

/// Every process this node was launched with (its MPI_COMM_WORLD: the ranks of the mpirun, or
/// the nodes one spawn_nodes call started), in a communicator that is the user's alone: never
/// one of cadre's, so user messages and cadre's never match each other. The first call is
/// collective, like any MPI communicator's creation: every rank of the launch makes it (the
/// master's in a task or process on the master). Throws WrongRole on a thread that may not
/// call MPI, NotRunning without a runtime.
inline boost::mpi::communicator world_communicator() {
  return boost::mpi::communicator(detail::user_mpi_comm(false, "cadre::world_communicator"),
                                  boost::mpi::comm_attach);
}

/// The same ranks without the cadre master: the workers mpirun started (in a job started by
/// spawn_nodes or one that joined, every rank). Ranks keep their world order. The first call
/// is collective over the workers alone: every worker makes it, the master never waits.
/// Throws WrongRole on the master (it is no worker) and on a thread that may not call MPI.
inline boost::mpi::communicator workers_communicator() {
  return boost::mpi::communicator(detail::user_mpi_comm(true, "cadre::workers_communicator"),
                                  boost::mpi::comm_attach);
}

}  // namespace cadre
