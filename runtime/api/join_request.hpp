#pragma once
// What cadre::join() asked for, for the Runtime that is built next.

#include <string>

namespace cadre::api {

/// The port description given to cadre::join() (empty when none), cleared: only the next
/// Runtime joins with it.
std::string take_join_request();

}  // namespace cadre::api
