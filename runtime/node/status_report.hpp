#pragma once
// The job's final status, as the master reports it at the end of shut-down.

#include <string>
#include <vector>

#include "node/node_table.hpp"
#include "node/protocol.hpp"

namespace cadre::node {

/// Writes "cadre: job finished with status <status>: <why>" to stderr, and the same as JSON
/// ({"status", "lost_nodes", "lost_hosts", "message"}, and "dropped" when `dropped` is given)
/// to $CADRE_STATUS_FILE when it is set. The reason is `headline` (when given), then the lost
/// nodes by host and the job's failures; without any of these, the driver's status or "clean".
void report_status(int status, int driver_status, const NodeDirectory& nodes,
                   const std::vector<std::string>& failures, const std::string& headline = "",
                   const DropCounts* dropped = nullptr);

}  // namespace cadre::node
