#pragma once
/// \file native_mode.hpp
/// `cadre-bench native`: one call's round trip to a spawned native node (a C handler,
/// examples/native_node.c's "reverse") and to a spawned C++ node (a task of the same
/// signature), at 8 B and 64 KiB, beside raw MPI ping-pong with a spawned child over its
/// inter-communicator (the path both use). The native program is CADRE_BENCH_NATIVE, else
/// examples/native_node beside the build's benchmarks/ directory.

#include <vector>

#include "harness.hpp"

namespace cadre::bench {

/// The argv[1] of a child started by the raw baseline: it echoes what its parent sends.
inline constexpr const char* kRawEchoChild = "spawn-raw-echo";
/// A child of the raw baseline. Call after MPI_Init.
int raw_echo_child();
/// Rank 0 of MPI_COMM_WORLD: µs per raw round trip of 8 B and of 64 KiB with a spawned child
/// of `program` (median of `repeat`). Other ranks return an empty vector. Not collective.
std::vector<double> raw_echo_baselines(const Flags& f, const char* program);
/// The driver's part, inside launch(): fills `rows`.
void native_mode(const Flags& f, const std::vector<double>& raw, std::vector<Row>& rows);

}  // namespace cadre::bench
