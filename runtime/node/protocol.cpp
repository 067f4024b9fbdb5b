// Names of the envelope classes, and the drop counts' description.

#include "node/protocol.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cadre/detail/mail.hpp"
#include "cadre/detail/registry.hpp"

namespace cadre::node {
namespace {

// The name of message type `id`: a registered type's name, a standard type's, or its id.
std::string type_name_of(std::uint64_t id) {
  if (id == kDownNotice) return "Down notice";
  if (id == kExitNotice) return "Exit notice";
  return detail::message_type_name(id);
}

}  // namespace

std::string_view to_string(Cls c) {
  switch (c) {  // a service's classes: unknown here (Core::class_name knows them)
    case Cls::hello:
      return "hello";
    case Cls::welcome:
      return "welcome";
    case Cls::abort_start:
      return "abort_start";
    case Cls::shutdown:
      return "shutdown";
    case Cls::shutdown_ack:
      return "shutdown_ack";
    case Cls::final_status:
      return "final_status";
    case Cls::node_down:
      return "node_down";
    case Cls::terminate:
      return "terminate";
    case Cls::link_fin:
      return "link_fin";
    case Cls::node_joined:
      return "node_joined";
    case Cls::node_stopped:
      return "node_stopped";
    case Cls::leave_request:
      return "leave_request";
    case Cls::node_left:
      return "node_left";
    case Cls::trace_events:
      return "trace_events";
  }
  return "unknown";
}

std::string DropCounts::describe() const {
  std::string out;
  auto add = [&](std::uint64_t n, const char* what) {
    if (n == 0) return;
    out += fmt::format("{}{} {}", out.empty() ? "" : ", ", n, what);
  };
  add(ended, "to processes that had ended");
  add(unread, "unread when their process ended");
  add(overflow, "to mailboxes past their bound");
  add(late_reply, "late replies");
  add(node_down, "to lost nodes");
  add(malformed, "malformed");
  add(after_close, "sent after shut-down closed the link");
  return out;
}

}  // namespace cadre::node

namespace cadre::node {

std::string DropCounts::describe_types() const {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> v(by_type.begin(), by_type.end());
  std::stable_sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.second > b.second; });
  std::string out;
  std::uint64_t known = 0;
  for (auto& [id, n] : v) {
    out += fmt::format("{}{} {}", out.empty() ? "" : ", ", n, type_name_of(id));
    known += n;
  }
  if (total() > known)
    out += fmt::format("{}{} of no known type", out.empty() ? "" : ", ", total() - known);
  return out;
}

}  // namespace cadre::node
