#include "transport/mpi_env.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "cadre/errors.hpp"
#include "transport/mpi_check.hpp"

namespace cadre::transport {

void throw_mpi_error(const char* routine, int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) len = 0;
  throw MpiError(routine, code, std::string(text, static_cast<std::size_t>(len)));
}

namespace {
const char* level_name(int l) {
  switch (l) {
    case MPI_THREAD_SINGLE:
      return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED:
      return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED:
      return "MPI_THREAD_SERIALIZED";
    default:
      return "MPI_THREAD_MULTIPLE";
  }
}
}  // namespace

MpiEnvironment::MpiEnvironment(int& argc, char**& argv, bool need_other_thread,
                               bool thread_multiple) {
  int required = thread_multiple     ? MPI_THREAD_MULTIPLE
                 : need_other_thread ? MPI_THREAD_SERIALIZED
                                     : MPI_THREAD_FUNNELED;
  int initialized = 0;
  CADRE_MPI(MPI_Initialized(&initialized));
  int provided = 0;
  if (!initialized) {
    // SERIALIZED at least: a waiting driver may serve the node loop on its own thread.
    const int asked = std::max(required, static_cast<int>(MPI_THREAD_SERIALIZED));
    CADRE_MPI(MPI_Init_thread(&argc, &argv, asked, &provided));
    owned_ = true;
  } else {
    CADRE_MPI(MPI_Query_thread(&provided));
    int is_main = 0;
    CADRE_MPI(MPI_Is_thread_main(&is_main));
    if (required == MPI_THREAD_FUNNELED && !is_main && provided < MPI_THREAD_SERIALIZED)
      throw Error(
          "cadre::Runtime: MPI was initialised by another thread with MPI_THREAD_FUNNELED; "
          "construct the runtime on that thread or initialise with MPI_THREAD_SERIALIZED");
  }
  if (provided < required) {
    std::string msg = fmt::format(
        "cadre::Runtime: MPI provides {} but cadre needs {}{}", level_name(provided),
        level_name(required),
        owned_ ? "" : " (MPI was initialised by the program: ask MPI_Init_thread for more)");
    if (owned_) MPI_Finalize();
    throw Error(msg);
  }
  provided_ = provided;
  CADRE_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  CADRE_MPI(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  char name[MPI_MAX_PROCESSOR_NAME];
  int len = 0;
  CADRE_MPI(MPI_Get_processor_name(name, &len));
  host_.assign(name, static_cast<std::size_t>(len));
}

bool MpiEnvironment::serialized() const { return provided_ >= MPI_THREAD_SERIALIZED; }

int universe_size() {
  int flag = 0;
  int* value = nullptr;
  CADRE_MPI(MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_UNIVERSE_SIZE, &value, &flag));
  return flag && value ? *value : 0;
}

bool oversubscribed() {
#ifdef MPICH_VERSION
  // Hydra tells each rank how many of the job's ranks share its host.
  const char* local = std::getenv("MPI_LOCALNRANKS");
  const long ranks = local ? std::strtol(local, nullptr, 10) : 0;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores > 0 && ranks > static_cast<long>(cores);
#else
  const char* v = std::getenv("OMPI_MCA_rmaps_base_oversubscribe");
  return v && (std::string(v) == "1" || std::string(v) == "true");
#endif
}

MpiEnvironment::~MpiEnvironment() {
  try {
    finalize();
  } catch (...) {
  }
}

void MpiEnvironment::finalize() {
  if (!owned_ || finalized_) return;
  finalized_ = true;
  int done = 0;
  MPI_Finalized(&done);
  if (!done) CADRE_MPI(MPI_Finalize());
}

}  // namespace cadre::transport
