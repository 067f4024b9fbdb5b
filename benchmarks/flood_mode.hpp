#pragma once
/// \file flood_mode.hpp
/// cadre-bench flood: -n 8-byte messages to a process on node 1 that waits for something
/// else, so that they pile up in its mailbox. Reports the receiving node's resident memory
/// when the whole flood is queued (and its peak), the bytes each queued message costs, the
/// sender's growth, and the longest stall seen by pings of node 1 during the flood. Beside raw
/// MPI: the same flood of MPI_Send to a rank that receives only afterwards (MPI queues it as
/// unexpected messages), measured after the cadre run in the same job.
///   --mailbox-limit N   the mailbox bound in messages (0: the default, which ends the sink
///                       with overflow; raise it above -n to queue the whole flood)
///   --from driver       flood from the driver's thread instead of a process on node 0

#include <vector>

#include "harness.hpp"

namespace cadre::bench {

/// The cadre side (the driver), appending rows.
void flood_mode(const Flags& f, std::vector<Row>& rows);
/// The raw-MPI flood (collective over MPI_COMM_WORLD, after the runtime); fills the ratios of
/// the rows flood_mode() appended.
void flood_baseline(const Flags& f, std::vector<Row>& rows);
/// Sets CADRE_MAILBOX_LIMIT_MESSAGES from --mailbox-limit (before the runtime starts).
void flood_environment(const Flags& f);

}  // namespace cadre::bench
