// The bodies of include/cadre/termination.hpp: the names of the reasons.

#include "cadre/termination.hpp"

namespace cadre {

std::string_view to_string(Reason r) {
  switch (r) {
    case Reason::normal:
      return "normal";
    case Reason::exception:
      return "exception";
    case Reason::no_process:
      return "no_process";
    case Reason::unknown_node:
      return "unknown_node";
    case Reason::node_down:
      return "node_down";
    case Reason::killed:
      return "killed";
    case Reason::linked:
      return "linked";
    case Reason::shutdown:
      return "shutdown";
    case Reason::overflow:
      return "overflow";
  }
  return "?";
}

}  // namespace cadre
