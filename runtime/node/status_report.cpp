// The job's final status: one line on stderr, and $CADRE_STATUS_FILE as JSON.

#include "node/status_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "node/log.hpp"
#include "node/terminal.hpp"

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

// The hosts of the lost nodes, in order of first loss, each with "(every node there)" when no
// node of the job on that host survived.
std::vector<std::string> lost_hosts(const NodeDirectory& nodes, std::vector<bool>* whole) {
  auto t = nodes.table();
  std::vector<std::string> hosts;
  for (NodeId n : nodes.lost())
    for (const NodeInfo& i : *t)
      if (i.id == n && std::find(hosts.begin(), hosts.end(), i.host) == hosts.end())
        hosts.push_back(i.host);
  for (const std::string& h : hosts) {
    bool any_up = false;
    for (const NodeInfo& i : *t) any_up = any_up || (i.host == h && i.state == NodeState::up);
    whole->push_back(!any_up);
  }
  return hosts;
}

}  // namespace

void report_status(int status, int driver_status, const NodeDirectory& nodes,
                   const std::vector<std::string>& failures, const std::string& headline,
                   const DropCounts* dropped) {
  std::vector<bool> whole;
  const std::vector<std::string> hosts = lost_hosts(nodes, &whole);
  std::vector<std::string> parts;
  if (!headline.empty()) parts.push_back(headline);
  if (!nodes.lost().empty()) {
    std::string where;
    for (std::size_t i = 0; i < hosts.size(); ++i)
      where +=
          fmt::format("{}{}{}", i ? ", " : "", hosts[i], whole[i] ? " (every node there)" : "");
    std::string lost = fmt::format("{} node(s) lost on host(s) {}:", nodes.lost().size(), where);
    for (auto& w : nodes.lost_why()) lost += " " + w + ";";
    lost.pop_back();
    parts.push_back(lost);
  }
  for (auto& f : failures) parts.push_back(f);
  std::string message;
  for (auto& p : parts) message += (message.empty() ? "" : "; ") + p;
  if (message.empty()) {
    if (driver_status != 0)
      message = fmt::format("the driver returned {}", driver_status);
    else if (status != 0)
      message = "a node did not finish cleanly (see above)";
    else
      message = "clean";
  }
  // The file first: stderr is a pipe to mpirun, which may have stopped reading it (it ends
  // the job), and the file is what cadre-run reads.
  if (const char* path = std::getenv("CADRE_STATUS_FILE"); path && *path) {
    std::string ids;
    for (auto n : nodes.lost()) ids += fmt::format("{}{}", ids.empty() ? "" : ", ", n.value());
    std::string host_list;
    for (auto& h : hosts)
      host_list += fmt::format("{}\"{}\"", host_list.empty() ? "" : ", ", json_escape(h));
    // The job's drop counts by reason, final once every surviving node's last frame is in.
    std::string drops;
    if (dropped)
      drops = fmt::format(
          ", \"dropped\": {{\"total\": {}, \"ended\": {}, \"unread\": {}, \"overflow\": {}, "
          "\"late_reply\": {}, \"node_down\": {}, \"malformed\": {}, \"after_close\": {}, "
          "\"undrained_links\": {}}}",
          dropped->total(), dropped->ended, dropped->unread, dropped->overflow, dropped->late_reply,
          dropped->node_down, dropped->malformed, dropped->after_close, dropped->undrained);
    std::string json = fmt::format(
        "{{\"status\": {}, \"lost_nodes\": [{}], \"lost_hosts\": [{}], \"message\": \"{}\"{}}}\n",
        status, ids, host_list, json_escape(message), drops);
    if (std::FILE* f = std::fopen(path, "w")) {
      std::fwrite(json.data(), 1, json.size(), f);
      std::fclose(f);
    } else {
      log_local(Level::error, fmt::format("cannot write CADRE_STATUS_FILE {}", path));
    }
  }
  std::string line = fmt::format("cadre: job finished with status {}: {}\n", status, message);
  write_lines(stderr, line);
  std::fflush(nullptr);
}

}  // namespace cadre::node
