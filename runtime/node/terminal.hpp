#pragma once
// The master's terminal: whole lines of output and one live line below them.
//
// A live line (a progress bar) sits on stderr without a newline. Anything else written while
// it shows goes through write_lines, which clears the live line first ("\r\033[K") and draws
// it again after, so that no line of output shares a terminal line with it. When the lines go
// to stderr too, the clear, the lines and the redraw leave in one write.
//
// Thread rule: any thread (one mutex).

#include <cstdio>
#include <string>

namespace cadre::node {

/// Writes `text` (whole lines, each ending in '\n') to `stream`, with the live line cleared
/// before and drawn again after. Any thread.
void write_lines(std::FILE* stream, const std::string& text);
/// Shows `text` (no newline) as the live line on stderr, in place of the one shown. Any thread.
void show_live_line(const std::string& text);
/// Removes the live line from the terminal; `keep` leaves its last text as a line of its own
/// instead. Any thread.
void end_live_line(bool keep);

}  // namespace cadre::node
