#pragma once
// The floor under an idle node's wake-up: what the kernel alone takes to wake a process on the
// other core that sleeps as an idle cadre node does (a futex wait of 1 ms at a time), measured
// between ranks 0 and 1 of the job with no MPI in the timed part.

#include <mpi.h>

namespace cadre::bench {

/// The median round trip, in µs, of a FUTEX_WAKE from rank 0 to rank 1 (waiting on a shared
/// word in 1 ms futex waits) and rank 1's answer (a store rank 0 spins on), each after rank 0
/// slept 60 ms; `wake_call_us` gets the median time of the FUTEX_WAKE call itself. Rank 0's
/// answer; 0 on other ranks, and when ranks 0 and 1 are on different hosts.
double futex_wake_rtt_us(MPI_Comm comm, double& wake_call_us);

}  // namespace cadre::bench
