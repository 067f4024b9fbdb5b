// Names of the envelope classes, and the drop counts' description.

#include "node/protocol.hpp"

#include <fmt/format.h>

namespace cadre::node {

std::string_view to_string(Cls c) {
  switch (c) {
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
    case Cls::task_request:
      return "task_request";
    case Cls::task_result:
      return "task_result";
    case Cls::message:
      return "message";
    case Cls::reply:
      return "reply";
    case Cls::spawn:
      return "spawn";
    case Cls::spawn_reply:
      return "spawn_reply";
    case Cls::monitor:
      return "monitor";
    case Cls::demonitor:
      return "demonitor";
    case Cls::down:
      return "down";
    case Cls::link:
      return "link";
    case Cls::unlink:
      return "unlink";
    case Cls::exit_signal:
      return "exit_signal";
    case Cls::kill:
      return "kill";
    case Cls::broadcast:
      return "broadcast";
    case Cls::name_register:
      return "name_register";
    case Cls::name_lookup:
      return "name_lookup";
    case Cls::name_reply:
      return "name_reply";
    case Cls::log:
      return "log";
    case Cls::stat:
      return "stat";
    case Cls::progress:
      return "progress";
    case Cls::relay:
      return "relay";
    case Cls::relay_request:
      return "relay_request";
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
