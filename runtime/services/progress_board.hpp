#pragma once
// The master's view of progress: every sender's latest report, combined into one line.
//
// Each sender (a process, or a node's threads and map jobs) reports {done, total} of its own
// work. The board sums them: done over total, with the number of senders when there are
// several. A sender's done never goes back while its total stays (a late, lower report is
// taken as the higher one), so the combined sum never goes back either; a new total starts
// that sender's work afresh. Once every sender has finished, the board empties.
//
// Pure (no I/O, no clock of its own): the output service gives it the time and prints what
// it returns. Thread rule: one thread (the master's loop).

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "cadre/ids.hpp"

namespace cadre::services {

enum class ProgressMode { live, lines, off };

class ProgressBoard {
 public:
  using Clock = std::chrono::steady_clock;
  /// A live line appears once work has lasted this long (short work shows none).
  static constexpr std::chrono::milliseconds kLiveAfter{500};
  /// Live lines are redrawn at most this often; plain lines are printed at most this often.
  static constexpr std::chrono::milliseconds kLiveEvery{100}, kLinesEvery{1000};

  /// What to show after a report.
  struct Show {
    std::string text;       // live: the line without "\r" or newline; lines: a line without newline
    bool finished = false;  // every sender has finished: a live line ends here
  };

  explicit ProgressBoard(ProgressMode mode) : mode_(mode) {}

  /// Takes `sender`'s report; returns the line to show now, if it is time to show one.
  std::optional<Show> report(Pid sender, std::uint64_t done, std::uint64_t total,
                             Clock::time_point now);
  /// Forgets every sender (what is shown stays as it is).
  void clear() { senders_.clear(); }
  /// True while a live line is on the terminal.
  bool live_visible() const { return visible_; }
  /// The senders reporting now.
  std::size_t senders() const { return senders_.size(); }

 private:
  std::string text(Clock::time_point now) const;

  struct Sender {
    std::uint64_t done = 0, total = 0;
  };
  ProgressMode mode_;
  std::map<std::pair<std::uint32_t, std::uint64_t>, Sender> senders_;
  std::uint64_t done_ = 0, total_ = 0;  // the sums
  Clock::time_point first_{}, last_draw_{};
  std::uint64_t first_done_ = 0;
  bool drawn_ = false;    // a line was shown for the present work
  bool visible_ = false;  // a live line is on the terminal
};

}  // namespace cadre::services
