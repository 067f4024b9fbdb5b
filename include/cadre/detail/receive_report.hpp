#pragma once
/// \file receive_report.hpp
/// What a receive that ran out of time reports: the names of the types its matchers wait
/// for, and its timeout (part of cadre/receive.hpp).

#include <chrono>
#include <string>

#include "cadre/detail/mail.hpp"
#include "cadre/detail/registry.hpp"

namespace cadre::detail {

/// The name of what a matcher waits for, in reports: a message type, Down or Exit.
template <class M>
std::string matcher_name() {
  if constexpr (M::kind == MailKind::user)
    return message_type_name(message_type_id<typename M::value_type>());
  else if constexpr (M::kind == MailKind::down)
    return "Down";
  else
    return "Exit";
}

/// "A or B or Down": what a receive with matchers M waits for.
template <class... M>
std::string matcher_names() {
  std::string s;
  ((s += (s.empty() ? "" : " or "), s += matcher_name<M>()), ...);
  return s;
}

/// A receive's timeout as it is reported when it runs out: 0 (no report) for a poll and for
/// a timeout too long to ever run out.
template <class Rep, class Per>
std::chrono::nanoseconds timeout_to_report(std::chrono::duration<Rep, Per> d) {
  using namespace std::chrono;
  if (d <= duration<Rep, Per>::zero()) return nanoseconds(0);
  if (duration_cast<duration<double>>(d) > duration_cast<duration<double>>(hours(24 * 365 * 100)))
    return nanoseconds(0);
  return duration_cast<nanoseconds>(d);
}

}  // namespace cadre::detail
