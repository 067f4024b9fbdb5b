#pragma once
// Every MPI call of cadre goes through CADRE_MPI: a failure throws cadre::MpiError naming the
// routine, the error code and MPI's text for it.

#include <mpi.h>

#include <string>

namespace cadre::transport {

/// Throws MpiError for `routine`'s error `code`, with MPI's text for it.
[[noreturn]] void throw_mpi_error(const char* routine, int code);

}  // namespace cadre::transport

#define CADRE_MPI(call)                                                                          \
  do {                                                                                           \
    int cadre_mpi_rc_ = (call);                                                                  \
    if (cadre_mpi_rc_ != MPI_SUCCESS) ::cadre::transport::throw_mpi_error(#call, cadre_mpi_rc_); \
  } while (0)
