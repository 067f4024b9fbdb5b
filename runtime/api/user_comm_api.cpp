// The bodies behind include/cadre/boost_mpi.hpp: the user's communicators, handed out on
// threads that may call MPI.
#include <fmt/format.h>
#include <mpi.h>

#include "cadre/errors.hpp"
#include "node/core.hpp"
#include "transport/join.hpp"
#include "transport/user_comms.hpp"

namespace cadre::detail {

// Declared in include/cadre/boost_mpi.hpp, which the library does not include (it pulls in
// Boost.MPI, which the library does not need).
MPI_Comm user_mpi_comm(bool workers, const char* what);

MPI_Comm user_mpi_comm(bool workers, const char* what) {
  transport::UserComms* comms = transport::UserComms::current();
  node::Core* core = node::Core::try_get();
  if (!comms || !core)
    throw NotRunning(fmt::format("{}: no cadre runtime is running in this process", what));
  if (!core->on_loop_thread() && !transport::thread_multiple())
    throw WrongRole(
        fmt::format("{}: called on a thread that may not call MPI (the driver or another thread of "
                    "yours); call MPI in a task or a process, or set Options::mpi_thread_multiple",
                    what));
  const MPI_Comm c = *static_cast<const MPI_Comm*>(workers ? comms->workers() : comms->world());
  if (c == MPI_COMM_NULL)
    throw WrongRole(
        fmt::format("{}: called on the master (node 0), which is not among the workers; use "
                    "cadre::world_communicator(), or run this code on the workers",
                    what));
  return c;
}

}  // namespace cadre::detail
