// Host lists of the job (job_hosts.hpp): no MPI here, so they are unit-tested alone.

#include "node/job_hosts.hpp"

#include <algorithm>
#include <cstdlib>
#include <sstream>

namespace cadre::node {

std::vector<std::string> expand_host_list(const std::string& list) {
  std::vector<std::string> out;
  // Split at commas outside brackets.
  std::vector<std::string> items;
  std::string cur;
  int depth = 0;
  for (char c : list) {
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if ((c == ',' || c == ' ' || c == '\n') && depth == 0) {
      if (!cur.empty()) items.push_back(cur);
      cur.clear();
      continue;
    }
    cur += c;
  }
  if (!cur.empty()) items.push_back(cur);
  for (const std::string& item : items) {
    const auto open = item.find('['), close = item.find(']');
    if (open == std::string::npos || close == std::string::npos || close < open) {
      out.push_back(item);
      continue;
    }
    const std::string prefix = item.substr(0, open), suffix = item.substr(close + 1);
    std::stringstream ranges(item.substr(open + 1, close - open - 1));
    std::string r;
    while (std::getline(ranges, r, ',')) {
      const auto dash = r.find('-');
      if (dash == std::string::npos) {
        out.push_back(prefix + r + suffix);
        continue;
      }
      const std::string a = r.substr(0, dash), b = r.substr(dash + 1);
      char* end = nullptr;
      const long lo = std::strtol(a.c_str(), &end, 10), hi = std::strtol(b.c_str(), nullptr, 10);
      if (a.empty() || hi < lo || hi - lo > 100000) continue;
      for (long k = lo; k <= hi; ++k) {
        std::string num = std::to_string(k);
        if (num.size() < a.size()) num = std::string(a.size() - num.size(), '0') + num;
        out.push_back(prefix + num + suffix);
      }
    }
  }
  return out;
}

std::vector<std::string> allocation_hosts() {
  std::vector<std::string> out;
  if (const char* s = std::getenv("SLURM_JOB_NODELIST"))
    for (auto& h : expand_host_list(s)) out.push_back(h);
  if (const char* s = std::getenv("CADRE_HOSTS"))
    for (auto& h : expand_host_list(s)) {
      // hostfile style "name slots=2" or "name:2"
      std::string name = h.substr(0, h.find(':'));
      out.push_back(name);
    }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::string> known_hosts(const std::vector<std::string>& node_hosts) {
  std::vector<std::string> out = allocation_hosts();
  out.insert(out.end(), node_hosts.begin(), node_hosts.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace cadre::node
