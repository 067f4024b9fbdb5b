// What the whole-job scenarios share: a few tasks, the failure report, and each scenario's
// entry point (main.cpp picks one by name; tests/CMakeLists.txt runs each under mpiexec and
// checks the exit status and output).

#pragma once

namespace scenario {

/// Yields for `ms` milliseconds of busy time; returns `ms`.
int busy_ms(int ms);
/// x squared.
long square(long x);
/// Prints "scenario failed: WHAT" on stderr; returns 1 (the driver's status).
int fail(const char* what);

// -- start-up and shut-down (start_and_end.cpp) ------------------------------------------
int driver_throws(int argc, char** argv);
int driver_returns_3(int argc, char** argv);
int driver_returns_with_runs_held(int argc, char** argv);
int shutdown_waits(int argc, char** argv);
int shutdown_overdue(int argc, char** argv);
int master_limits(int argc, char** argv);
int process_shutdown(int argc, char** argv);
int large_at_shutdown(int argc, char** argv);
int single(int argc, char** argv);
int explicit_runtime(int argc, char** argv);
int user_mpi(int argc, char** argv);

// -- output (output.cpp) -------------------------------------------------------------------
int output(int argc, char** argv);
int terminal(int argc, char** argv);

// -- lost nodes (lost.cpp) -----------------------------------------------------------------
int lost(int argc, char** argv);
int lost_large(int argc, char** argv);
int die_default(int argc, char** argv);

}  // namespace scenario
