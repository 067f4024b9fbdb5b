// The job's final status: one line on stderr, and $CADRE_STATUS_FILE as JSON.

#include "node/status_report.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

#include "node/log.hpp"

namespace cadre::node {
namespace {

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        else
          out += c;
    }
  }
  return out;
}

}  // namespace

void report_status(int status, int driver_status, const NodeDirectory& nodes,
                   const std::vector<std::string>& failures) {
  std::string message;
  if (!nodes.lost().empty()) {
    message = fmt::format("{} node(s) lost:", nodes.lost().size());
    for (auto& w : nodes.lost_why()) message += " " + w + ";";
    message.pop_back();
  } else if (!failures.empty()) {
    for (auto& f : failures) message += (message.empty() ? "" : "; ") + f;
  } else if (driver_status != 0) {
    message = fmt::format("the driver returned {}", driver_status);
  } else if (status != 0) {
    message = "a node did not finish cleanly (see above)";
  } else {
    message = "clean";
  }
  std::string line = fmt::format("cadre: job finished with status {}: {}\n", status, message);
  std::fwrite(line.data(), 1, line.size(), stderr);
  if (const char* path = std::getenv("CADRE_STATUS_FILE"); path && *path) {
    std::string ids;
    for (auto n : nodes.lost()) ids += fmt::format("{}{}", ids.empty() ? "" : ", ", n.value());
    std::string json =
        fmt::format("{{\"status\": {}, \"lost_nodes\": [{}], \"message\": \"{}\"}}\n", status, ids,
                    json_escape(message));
    if (std::FILE* f = std::fopen(path, "w")) {
      std::fwrite(json.data(), 1, json.size(), f);
      std::fclose(f);
    } else {
      log_local(Level::error, fmt::format("cannot write CADRE_STATUS_FILE {}", path));
    }
  }
  std::fflush(nullptr);
}

}  // namespace cadre::node
