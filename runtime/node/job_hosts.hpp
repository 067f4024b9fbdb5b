#pragma once
// The hosts a job may use beyond those of its live nodes: the batch allocation's
// (SLURM_JOB_NODELIST) and the launcher's list (CADRE_HOSTS), in Slurm's compact notation.

#include <string>
#include <vector>

namespace cadre::node {

/// "node[01-03],login" -> node01, node02, node03, login (Slurm's compact host lists).
std::vector<std::string> expand_host_list(const std::string& list);

/// The hosts of the allocation (SLURM_JOB_NODELIST) and of CADRE_HOSTS (a list the launcher
/// passes: ranks cannot see the hostfile), sorted, without repeats.
std::vector<std::string> allocation_hosts();

/// The hosts the job knows: `node_hosts` (those of live nodes) and allocation_hosts().
std::vector<std::string> known_hosts(const std::vector<std::string>& node_hosts);

}  // namespace cadre::node
