#pragma once
// Line-at-a-time exchanges over a TCP socket with deadlines: the join gate (api/join_gate.cpp)
// and the joiner's side of it (api/join_client.cpp) speak through these.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

namespace cadre::api {

/// The longest line either side accepts.
inline constexpr std::size_t kMaxLine = 4096;

/// Reads one line (without its '\n') before `deadline`; nullopt on time-out, EOF, an error,
/// a line longer than kMaxLine, or `wake` (a pipe; -1 for none) turning readable.
std::optional<std::string> read_line(int fd, std::chrono::steady_clock::time_point deadline,
                                     int wake = -1);
/// Writes all of `s` (no SIGPIPE); false when the peer is gone.
bool write_all(int fd, const std::string& s);
/// This machine's host name ("localhost" when it has none).
std::string this_host();

}  // namespace cadre::api
