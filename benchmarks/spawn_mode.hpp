#pragma once
/// \file spawn_mode.hpp
/// `cadre-bench spawn`: the time from spawn_nodes() to ready for 1 and 3 nodes, beside raw
/// MPI_Comm_spawn plus one message from each child; and process round trips over each path a
/// spawned node uses (master<->spawned direct, spawned<->world and spawned<->spawned through
/// the master) beside world<->world.

#include <vector>

#include "harness.hpp"

namespace cadre::bench {

/// The argv[1] of a child started by the raw baseline.
inline constexpr const char* kRawSpawnChild = "spawn-raw-child";
/// A child of the raw baseline: says one int to its parent and ends. Call after MPI_Init.
int raw_spawn_child();
/// Rank 0 of MPI_COMM_WORLD: the raw baselines (ms per spawn of 1 and of 3, median of
/// `repeat`). Other ranks return an empty vector. Not collective.
std::vector<double> raw_spawn_baselines(const Flags& f, const char* program);
/// The driver's part, inside launch(): fills `rows`.
void spawn_mode(const Flags& f, const std::vector<double>& raw, std::vector<Row>& rows);

}  // namespace cadre::bench
