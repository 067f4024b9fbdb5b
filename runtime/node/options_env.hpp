#pragma once
// The CADRE_* environment variables that override Options.

#include <string_view>

#include "cadre/options.hpp"

namespace cadre::node {

/// Applies every CADRE_* variable that is set; throws Error naming a malformed one.
void apply_environment(Options& o);
/// Options::keep_freed_memory: glibc keeps freed memory (up to 256 MiB above what is in use)
/// and serves allocations up to 32 MiB from its heap, instead of mapping and unmapping them.
/// Elsewhere a no-op.
void keep_freed_memory();
/// "info" -> Level::info; throws Error for other words.
Level parse_level(std::string_view s);

}  // namespace cadre::node
