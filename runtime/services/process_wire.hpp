#pragma once
// Payloads of the process service's envelope classes (see processes.hpp).

#include <cstdint>
#include <optional>
#include <string>

#include "cadre/process.hpp"
#include "services/processes.hpp"

namespace cadre::services {

using node::kFutureWatchSerial;
using node::kNameServiceSerial;

struct SpawnAnswer {
  bool ok = false;
  std::uint64_t serial = 0;
  std::uint8_t error_kind = 0;  // 1 not registered
  std::string error;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& ok& serial& error_kind& error;
  }
};

struct NameAnswer {
  bool ok = false;
  std::optional<Pid> pid;
  std::string error;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& ok& pid& error;
  }
};

struct ExitSignal {
  Reason reason = Reason::normal;
  std::string detail;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& reason& detail;
  }
};

}  // namespace cadre::services
