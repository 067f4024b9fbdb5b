# Which MPI FindMPI found, and an mpiexec of that same MPI.
#
# Sets CADRE_MPI_FLAVOUR to "openmpi", "mpich" or "other". On Debian both Open MPI and MPICH
# may be installed: /usr/bin/mpiexec follows the alternatives (Open MPI by default), and
# FindMPI takes it even for an MPICH chosen with -DMPI_CXX_COMPILER=mpicxx.mpich. A job
# launched by another MPI's mpiexec runs every rank as a singleton, so when the mpiexec found
# belongs to the other MPI, this picks the flavour's own (mpiexec.mpich or mpiexec.openmpi)
# and says so. An MPIEXEC_EXECUTABLE of the right MPI (found or given) is kept.

include(CheckCXXSymbolExists)
set(CMAKE_REQUIRED_LIBRARIES MPI::MPI_CXX)
check_cxx_symbol_exists(OMPI_MAJOR_VERSION mpi.h CADRE_MPI_IS_OPEN_MPI)
check_cxx_symbol_exists(MPICH_VERSION mpi.h CADRE_MPI_IS_MPICH)
unset(CMAKE_REQUIRED_LIBRARIES)
if(CADRE_MPI_IS_OPEN_MPI)
  set(CADRE_MPI_FLAVOUR openmpi)
elseif(CADRE_MPI_IS_MPICH)
  set(CADRE_MPI_FLAVOUR mpich)
else()
  set(CADRE_MPI_FLAVOUR other)
endif()

# cadre_mpiexec_flavour(VAR PATH): "openmpi", "mpich" (Hydra) or "other", from PATH --version.
function(cadre_mpiexec_flavour var path)
  execute_process(COMMAND ${path} --version OUTPUT_VARIABLE out ERROR_VARIABLE out
                  RESULT_VARIABLE rc TIMEOUT 20)
  if(out MATCHES "HYDRA")
    set(${var} mpich PARENT_SCOPE)
  elseif(out MATCHES "Open MPI|OpenRTE")
    set(${var} openmpi PARENT_SCOPE)
  else()
    set(${var} other PARENT_SCOPE)
  endif()
endfunction()

if(MPIEXEC_EXECUTABLE AND NOT CADRE_MPI_FLAVOUR STREQUAL "other")
  cadre_mpiexec_flavour(launcher_flavour ${MPIEXEC_EXECUTABLE})
  if(NOT launcher_flavour STREQUAL CADRE_MPI_FLAVOUR)
    if(CADRE_MPI_FLAVOUR STREQUAL "mpich")
      set(names mpiexec.mpich mpiexec.hydra mpirun.mpich)
    else()
      set(names mpiexec.openmpi mpirun.openmpi)
    endif()
    unset(CADRE_OWN_MPIEXEC CACHE)
    find_program(CADRE_OWN_MPIEXEC NAMES ${names})
    if(NOT CADRE_OWN_MPIEXEC)
      message(FATAL_ERROR "cadre: MPI is ${CADRE_MPI_FLAVOUR} but ${MPIEXEC_EXECUTABLE} belongs to "
                          "${launcher_flavour}, and none of ${names} was found: give "
                          "-DMPIEXEC_EXECUTABLE=<the mpiexec of ${CADRE_MPI_FLAVOUR}>")
    endif()
    message(STATUS "cadre: ${MPIEXEC_EXECUTABLE} belongs to ${launcher_flavour}, not to the "
                   "${CADRE_MPI_FLAVOUR} found: using ${CADRE_OWN_MPIEXEC}")
    set(MPIEXEC_EXECUTABLE ${CADRE_OWN_MPIEXEC} CACHE FILEPATH "Executable for running MPI programs." FORCE)
  endif()
endif()
message(STATUS "cadre: MPI is ${CADRE_MPI_FLAVOUR}, launched by ${MPIEXEC_EXECUTABLE}")
