#pragma once
/// \file termination.hpp
/// How processes end, and the notices that say so: Reason, MonitorRef, Down, Exit.

#include <cstdint>
#include <string>
#include <string_view>

#include "cadre/ids.hpp"

namespace cadre {

// -- termination vocabulary ---------------------------------------------------------------

/// Why a process ended.
enum class Reason : std::uint8_t {
  normal,        ///< its body returned
  exception,     ///< its body threw (detail: type and what())
  no_process,    ///< it never existed or had already ended
  unknown_node,  ///< it died of an InvalidNode
  node_down,     ///< its node was lost
  killed,        ///< kill() ended it
  linked,        ///< a linked process ended abnormally
  shutdown,      ///< the runtime shut down while it ran
  overflow,      ///< its mailbox passed the bound
};
/// "normal", "exception", ...
std::string_view to_string(Reason);

/// A monitor: identifies one watch of `target` by `watcher`.
struct MonitorRef {
  Pid watcher;          ///< the process that watches
  Pid target;           ///< the process watched
  std::uint64_t id = 0;  ///< which watch, among several of the same pair
  /// Ordered field by field.
  friend auto operator<=>(const MonitorRef&, const MonitorRef&) = default;
  /// Reads or writes the fields (cadre's archives and Boost.Serialization's alike).
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& watcher& target& id;
  }
};

/// Delivered once to the watcher's mailbox when a monitored process ends.
struct Down {
  Pid pid;                         ///< the process that ended
  Reason reason = Reason::normal;  ///< why it ended
  std::string detail;              ///< more: an exception's type and what(), a kill's reason
  MonitorRef ref;                  ///< the monitor that fired
  /// Reads or writes the fields (cadre's archives and Boost.Serialization's alike).
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& pid& reason& detail& ref;
  }
};

/// Delivered to a process that traps exits when a linked process ends.
struct Exit {
  Pid pid;                         ///< the linked process that ended
  Reason reason = Reason::normal;  ///< why it ended
  std::string detail;              ///< more: an exception's type and what(), a kill's reason
  /// Reads or writes the fields (cadre's archives and Boost.Serialization's alike).
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& pid& reason& detail;
  }
};

}  // namespace cadre
