#pragma once
// The node's own log lines, written straight to stderr (the output service forwards the
// program's log lines to the master; these are the runtime's, and work before and after it).

#include <string>

#include "cadre/options.hpp"

namespace cadre::node {

/// Writes a line to stderr: "cadre[<host>:<node>] level: message". Any thread.
void log_local(Level level, const std::string& message);

}  // namespace cadre::node
