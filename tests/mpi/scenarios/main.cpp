// Whole-job scenarios that end a job in a particular way; tests/CMakeLists.txt runs each
// under mpiexec and checks the exit status and output.
//   cadre-scenario driver_throws | driver_returns_3 | driver_returns_with_runs_held |
//                  shutdown_waits | shutdown_overdue | master_limits | process_shutdown |
//                  large_at_shutdown | single | explicit | user_mpi | output | terminal [raw] |
//                  lost kill|abort|stop-kill|stop-cont | lost_large | die_default

#include <cstdio>
#include <string>

#include "scenarios.hpp"

int main(int argc, char** argv) {
  using Entry = int (*)(int, char**);
  struct Named {
    const char* name;
    Entry entry;
  };
  static const Named kScenarios[] = {
      {"driver_throws", scenario::driver_throws},
      {"driver_returns_3", scenario::driver_returns_3},
      {"driver_returns_with_runs_held", scenario::driver_returns_with_runs_held},
      {"shutdown_waits", scenario::shutdown_waits},
      {"shutdown_overdue", scenario::shutdown_overdue},
      {"master_limits", scenario::master_limits},
      {"process_shutdown", scenario::process_shutdown},
      {"large_at_shutdown", scenario::large_at_shutdown},
      {"single", scenario::single},
      {"explicit", scenario::explicit_runtime},
      {"user_mpi", scenario::user_mpi},
      {"output", scenario::output},
      {"terminal", scenario::terminal},
      {"lost", scenario::lost},
      {"lost_large", scenario::lost_large},
      {"die_default", scenario::die_default},
  };
  const std::string s = argc > 1 ? argv[1] : "";
  for (const Named& n : kScenarios)
    if (s == n.name) return n.entry(argc, argv);
  std::fprintf(stderr, "usage: cadre-scenario NAME (unknown scenario '%s')\n", s.c_str());
  return 2;
}
