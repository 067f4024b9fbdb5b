#pragma once
// The CADRE_* environment variables that override Options.

#include <string_view>

#include "cadre/options.hpp"

namespace cadre::node {

/// Applies every CADRE_* variable that is set; throws Error naming a malformed one.
void apply_environment(Options& o);
/// "info" -> Level::info; throws Error for other words.
Level parse_level(std::string_view s);

}  // namespace cadre::node
