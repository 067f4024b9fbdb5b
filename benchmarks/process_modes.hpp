#pragma once
/// \file process_modes.hpp
/// cadre-bench modes for processes and mailboxes, each beside raw MPI in the same job:
///   latency  ping-pong between processes on nodes 0 and 1: an 8-byte trivially copyable
///            message, and std::vector<char> payloads over -m MIN:MAX; beside MPI_Send/Recv.
///   msgrate  one process streams -n 8-byte messages to a process on another node; beside
///            raw MPI's windowed stream (window -w).
///   ring     a token around rings of 1 000 and 50 000 processes spread over the nodes:
///            messages per second (median of -r runs) and resident memory per parked
///            process; beside a raw-MPI ping-pong rate (every hop of the ring crosses ranks,
///            as every raw message does). Also processes spawned per second by a process on
///            its own node (spawn_rate_local).

#include <vector>

#include "harness.hpp"

namespace cadre::bench {

/// The raw-MPI figures of the mode (collective over MPI_COMM_WORLD; before the runtime).
std::vector<double> process_baselines(const Flags& f);
/// The cadre side (the driver), appending rows with ratios to `raw`.
void process_mode(const Flags& f, const std::vector<double>& raw, std::vector<Row>& rows);

}  // namespace cadre::bench
