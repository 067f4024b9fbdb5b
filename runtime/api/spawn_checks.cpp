// The checks before a spawn (spawn_checks.hpp): no MPI here, so they are unit-tested alone.

#include "api/spawn_checks.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

namespace cadre::api {
namespace {

bool executable(const std::string& p, std::string& why) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) {
    why = "does not exist";
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    why = "is not a regular file";
    return false;
  }
  if (::access(p.c_str(), X_OK) != 0) {
    why = "is not executable (chmod +x)";
    return false;
  }
  return true;
}

std::string this_binary() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace

ProgramCheck check_program(const std::string& program, const std::string& wdir) {
  if (program.empty()) {
    std::string self = this_binary();
    if (self.empty()) return {{}, "cannot find this binary (/proc/self/exe): name the program"};
    return {self, {}};
  }
  std::string why;
  if (program.find('/') != std::string::npos) {
    std::string p = program;
    if (p[0] != '/' && !wdir.empty()) p = wdir + "/" + p;
    if (executable(p, why)) return {p, {}};
    return {{},
            fmt::format("the program '{}' {}{}", p, why,
                        program[0] == '/' ? ""
                                          : " (a relative path is taken from wdir, else the "
                                            "master's working directory)")};
  }
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  std::string dir;
  std::string found_not_exec;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::string p = dir + "/" + program;
    if (executable(p, why)) return {p, {}};
    if (why != "does not exist" && found_not_exec.empty())
      found_not_exec = fmt::format("'{}' {}", p, why);
  }
  if (!found_not_exec.empty()) return {{}, fmt::format("the program {}", found_not_exec)};
  return {{},
          fmt::format("the program '{}' was not found on PATH ({}); give its path", program,
                      path ? path : "unset")};
}

std::string check_capacity(int count, int universe, int running, bool oversubscribed) {
  if (count < 1) return fmt::format("count must be at least 1 (it is {})", count);
  if (oversubscribed || universe <= 0) return {};
  const int free = universe - running;
  if (count <= free) return {};
  return fmt::format(
      "no free capacity for {} more node(s): MPI_UNIVERSE_SIZE is {} and {} node(s) are "
      "running ({} free). Give the job more slots (a hostfile with slots=, --host h:N, a larger "
      "allocation) or run oversubscribed (mpirun --oversubscribe)",
      count, universe, running, std::max(free, 0));
}

std::string spawn_hazard(const char* pmix_version, const char* gds_modules) {
  if (!pmix_version || !gds_modules) return "";
  if (std::strtol(pmix_version, nullptr, 10) != 4) return "";  // the series known to hang
  if (std::string(gds_modules).find("ds21") == std::string::npos) return "";
  return fmt::format(
      "this job's launcher serves PMIx {} from its shared-memory store (PMIX_GDS_MODULE={}): "
      "under Open MPI 4.1 a spawned process then waits in PMIx_Init for good about once in "
      "50 spawns (openpmix issue 2735). Start mpirun with PMIX_MCA_gds=hash in its "
      "environment (every process of the job must agree: set it for mpirun, not in the "
      "program)",
      pmix_version, gds_modules);
}

}  // namespace cadre::api
