#pragma once
/// \file raw_mpi.hpp
/// Raw-MPI baselines (C API only) that run in the same job as the cadre measurements, so that
/// a ratio to raw survives a noisy machine.
///
/// Common rules: every function is collective over `comm` (every rank calls it with the same
/// arguments) and blocks until the measurement is over; the result is valid on rank 0 and 0 is
/// returned on every other rank. NaN on rank 0 means the figure cannot be measured with that
/// many ranks. The functions use their own tags (0x6a00 to 0x6aff) on `comm` without
/// duplicating it, so no other traffic on `comm` may be in flight meanwhile; none allocates in
/// its timed loop and none leaves a request pending. Arguments out of range throw
/// std::invalid_argument on every rank; an MPI error throws std::runtime_error (under the
/// default MPI_ERRORS_ARE_FATAL, MPI aborts first).

#include <mpi.h>

#include <cstddef>

namespace cadre::bench::raw {

/// The raw-MPI task farm; returns tasks/s measured on rank 0 from the first send to the last
/// result. Rank 0 is the master and ranks 1..n-1 are workers; a task squares an int64. One
/// message carries `batch` inputs (the last may carry fewer) and its reply the same number of
/// results; the master keeps up to `window` messages outstanding per worker, refills as
/// results arrive until all `ntasks` are back, checks the sum of the results, then stops the
/// workers. On one rank the master squares the inputs itself, one at a time. Throws
/// std::runtime_error on every rank if the sum is wrong.
double farm_tasks_per_sec(MPI_Comm comm, long ntasks, int window, int batch);

/// One-way latency in µs between ranks 0 and 1 for `bytes`-byte messages (half the ping-pong
/// round trip, averaged over `iterations` after `warmup` untimed ones). Other ranks wait in a
/// barrier at the end. NaN on one rank.
double pingpong_latency_us(MPI_Comm comm, std::size_t bytes, int iterations, int warmup);

/// Messages/s that rank 0 streams to rank 1, OSU osu_mbw_mr style: windows of `window`
/// MPI_Isend against pre-posted MPI_Irecv, with a zero-byte acknowledgement per window, until
/// `messages` messages are through (after 16 untimed windows). Other ranks wait in a barrier.
/// NaN on one rank.
double message_rate(MPI_Comm comm, std::size_t bytes, int window, long messages);

/// µs per broadcast of `bytes` bytes from rank 0 down a binomial tree of point-to-point
/// messages (no MPI_Bcast), each including a zero-byte acknowledgement back up the tree so
/// that rank 0 knows every rank has the data; averaged over `iterations` after
/// max(1, iterations / 10) untimed ones. On one rank it measures the empty tree.
double tree_bcast_us(MPI_Comm comm, std::size_t bytes, int iterations);

}  // namespace cadre::bench::raw
