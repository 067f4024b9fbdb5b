#pragma once
// The master's SIGTERM: how mpirun ends a job it gives up on (a host's daemon lost, an
// interrupt). The handler only records the signal; the master's loop then writes the final
// status (what it knows of the nodes, silent ones by host) and ends the process, within the
// second that Open MPI waits before SIGKILL.

#include <csignal>

namespace cadre::node {

/// Installs the recording handler for SIGTERM unless the program chose what SIGTERM does (a
/// handler of its own, or SIG_IGN). Master only; before the loop runs.
void catch_end_signal();

/// Set by the handler: the signal recorded, or 0.
extern volatile std::sig_atomic_t g_end_signal;

/// The signal recorded (SIGTERM), or 0: one load, for the loop's every pass. Any thread.
inline int end_signal_received() { return g_end_signal; }

}  // namespace cadre::node
