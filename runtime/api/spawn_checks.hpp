#pragma once
// What spawn_nodes checks before MPI_Comm_spawn, as pure functions (a spawn that fails cannot
// be undone: every refusable case is refused here), and what the master hands each new node.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cadre/nodes.hpp"
#include "node/job_hosts.hpp"

namespace cadre::api {

/// The program to start: `program` found (empty: this binary), or a refusal saying why.
struct ProgramCheck {
  std::string path;   ///< the executable's path when found
  std::string error;  ///< why not, and what to do
};
/// Resolves `program` as MPI_Comm_spawn would (a name without '/' on PATH; a relative path
/// against `wdir` when set) and checks that it exists and is executable.
ProgramCheck check_program(const std::string& program, const std::string& wdir);

/// Host lists (node/job_hosts.hpp), under the names the spawn checks have always used.
using node::expand_host_list;
using node::known_hosts;

/// Empty when `count` more nodes fit: `universe` slots (MPI_UNIVERSE_SIZE), `running` nodes
/// alive; always fits when `oversubscribed`. Else the refusal.
std::string check_capacity(int count, int universe, int running, bool oversubscribed);

/// Empty unless the launcher is one whose MPI_Comm_spawn hangs now and then; else a warning
/// that says what to set. PMIx 4 serving Open MPI 4.1 from its shared-memory store (gds
/// `ds21`, the default) leaves a new process in PMIx_Init for good about once in 50 spawns
/// (openpmix issue 2735); the store `hash` does not. `pmix_version` and `gds_modules` are what
/// the launcher put in PMIX_VERSION and PMIX_GDS_MODULE (null when unset).
std::string spawn_hazard(const char* pmix_version, const char* gds_modules);

/// What a spawned process applies before it serves: its environment and output files.
struct SpawnBootstrap {
  std::vector<std::pair<std::string, std::string>> env;
  std::string stdout_path, stderr_path;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& env& stdout_path& stderr_path;
  }
};

}  // namespace cadre::api
