#pragma once
// The registry as the node layer sees it: every entry, and the problems found while static
// initialisation filled it (reported at start-up, since nothing may throw before main).

#include <string>
#include <vector>

#include "cadre/detail/registry.hpp"

namespace cadre::detail {

/// Every registered entry, in registration order.
std::vector<const Entry*> all_entries();
/// Names registered twice, ids that collide: one line each, or "" when all is well.
std::string registry_errors();
/// Identifies this binary's build (compiler, date) for the start-up log.
std::string build_id();

}  // namespace cadre::detail
