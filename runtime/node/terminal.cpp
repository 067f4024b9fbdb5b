// The master's terminal: whole lines of output and one live line below them.

#include "node/terminal.hpp"

#include <mutex>

namespace cadre::node {
namespace {

constexpr const char* kClear = "\r\033[K";

std::mutex g_mu;
std::string g_live;  // the live line shown on stderr, "" when none

void put(std::FILE* stream, const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stream);
  std::fflush(stream);
}

}  // namespace

void write_lines(std::FILE* stream, const std::string& text) {
  std::lock_guard lock(g_mu);
  if (g_live.empty()) {
    put(stream, text);
  } else if (stream == stderr) {
    put(stderr, kClear + text + g_live);  // one write: nothing can come in between
  } else {
    put(stderr, kClear);
    put(stream, text);
    put(stderr, g_live);
  }
}

void show_live_line(const std::string& text) {
  std::lock_guard lock(g_mu);
  g_live = text;
  put(stderr, kClear + g_live);
}

void end_live_line(bool keep) {
  std::lock_guard lock(g_mu);
  if (g_live.empty()) return;
  put(stderr, keep ? std::string("\n") : std::string(kClear));
  g_live.clear();
}

}  // namespace cadre::node
