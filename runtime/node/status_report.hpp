#pragma once
// The job's final status, as the master reports it at the end of shut-down.

#include <string>
#include <vector>

#include "node/node_table.hpp"

namespace cadre::node {

/// Writes "cadre: job finished with status <status>: <why>" to stderr, and the same as JSON
/// ({"status", "lost_nodes", "message"}) to $CADRE_STATUS_FILE when it is set. The reason
/// is, first found: the lost nodes, the job's failures, the driver's status, "clean".
void report_status(int status, int driver_status, const NodeDirectory& nodes,
                   const std::vector<std::string>& failures);

}  // namespace cadre::node
