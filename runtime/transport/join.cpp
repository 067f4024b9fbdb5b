#include "transport/join.hpp"

#include <fmt/format.h>
#include <mpi.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "cadre/errors.hpp"
#include "transport/exit_guard.hpp"
#include "transport/mpi_check.hpp"

namespace cadre::transport {
namespace {

MPI_Comm* as_comm(void* p) { return static_cast<MPI_Comm*>(p); }

}  // namespace

Accepted::~Accepted() {
  if (!comm_) return;
  MPI_Comm_free(as_comm(comm_));
  delete as_comm(comm_);
}

bool thread_multiple() {
  int provided = 0;
  return MPI_Query_thread(&provided) == MPI_SUCCESS && provided == MPI_THREAD_MULTIPLE;
}

SelfComm::SelfComm() {
  auto* c = new MPI_Comm(MPI_COMM_NULL);
  const int rc = MPI_Comm_dup(MPI_COMM_SELF, c);
  if (rc != MPI_SUCCESS) {
    delete c;
    throw_mpi_error("MPI_Comm_dup", rc);
  }
  MPI_Comm_set_errhandler(*c, MPI_ERRORS_RETURN);
  comm_ = c;
}

SelfComm::~SelfComm() { free_comm(comm_); }

void* SelfComm::dup() const {
  auto* c = new MPI_Comm(MPI_COMM_NULL);
  const int rc = MPI_Comm_dup(*as_comm(comm_), c);
  if (rc != MPI_SUCCESS) {
    delete c;
    throw_mpi_error("MPI_Comm_dup", rc);
  }
  MPI_Comm_set_errhandler(*c, MPI_ERRORS_RETURN);
  return c;
}

void free_comm(void* comm) {
  if (!comm) return;
  MPI_Comm_free(as_comm(comm));
  delete as_comm(comm);
}

JoinPort::JoinPort(const SelfComm& base) {
  char port[MPI_MAX_PORT_NAME];
  CADRE_MPI(MPI_Open_port(MPI_INFO_NULL, port));
  name_ = port;
  try {
    self_ = base.dup();
  } catch (...) {
    MPI_Close_port(port);
    throw;
  }
}

JoinPort::~JoinPort() {
  if (abandoned_) return;  // a thread is still inside MPI_Comm_accept on them
  MPI_Close_port(name_.c_str());
  free_comm(self_);
}

Accepted JoinPort::accept() {
  MPI_Comm inter = MPI_COMM_NULL;
  CADRE_MPI(MPI_Comm_accept(name_.c_str(), MPI_INFO_NULL, 0, *as_comm(self_), &inter));
  MPI_Comm_set_errhandler(inter, MPI_ERRORS_RETURN);
  Accepted a;
  a.comm_ = new MPI_Comm(inter);
  return a;
}

void* connect_to(const std::string& port, std::chrono::milliseconds limit) {
  MPI_Comm inter = MPI_COMM_NULL;
  MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
  int rc = MPI_SUCCESS;
  {
    ExitGuard guard(limit,
                    fmt::format("cadre::join: MPI_Comm_connect to the job has not returned after "
                                "{} ms: the job stopped accepting (it ended, or its master is "
                                "stuck). This process ends now.",
                                limit.count()));
    rc = MPI_Comm_connect(port.c_str(), MPI_INFO_NULL, 0, MPI_COMM_SELF, &inter);
  }
  if (rc != MPI_SUCCESS) throw_mpi_error("MPI_Comm_connect", rc);
  MPI_Comm_set_errhandler(inter, MPI_ERRORS_RETURN);
  return new MPI_Comm(inter);
}

}  // namespace cadre::transport
