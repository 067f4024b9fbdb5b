// The master's view of progress: every sender's latest report, combined into one line.

#include "services/progress_board.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace cadre::services {
namespace {

std::string duration_text(double secs) {
  if (!(secs >= 0) || secs > 1e7) return "?";
  auto s = static_cast<long>(secs + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

}  // namespace

std::optional<ProgressBoard::Show> ProgressBoard::report(Pid sender, std::uint64_t done,
                                                         std::uint64_t total,
                                                         Clock::time_point now) {
  if (mode_ == ProgressMode::off || total == 0) return std::nullopt;
  done = std::min(done, total);
  if (senders_.empty()) {
    first_ = now;
    first_done_ = done;
    drawn_ = false;
    last_draw_ = {};
  }
  Sender& s = senders_[{sender.node.value(), sender.serial}];
  if (s.total != total) {
    s.total = total;  // new work for this sender
    s.done = done;
  } else {
    s.done = std::max(s.done, done);  // a late, lower report changes nothing
  }
  done_ = total_ = 0;
  bool finished = true;
  for (auto& [key, x] : senders_) {
    done_ += x.done;
    total_ += x.total;
    finished = finished && x.done >= x.total;
  }
  std::optional<Show> show;
  if (mode_ == ProgressMode::live) {
    // A live line only for work that lasts; once shown, redrawn at most every kLiveEvery.
    const bool due = now - first_ >= kLiveAfter && now - last_draw_ >= kLiveEvery;
    if ((due && !finished) || (finished && visible_)) show = Show{text(now), finished};
    if (show) visible_ = !finished;
  } else if (finished || !drawn_ || now - last_draw_ >= kLinesEvery) {
    show = Show{text(now), finished};
  }
  if (show) {
    drawn_ = true;
    last_draw_ = now;
  }
  if (finished) senders_.clear();
  return show;
}

std::string ProgressBoard::text(Clock::time_point now) const {
  const double pct = total_ ? 100.0 * double(done_) / double(total_) : 0;
  const double secs = std::chrono::duration<double>(now - first_).count();
  const double rate = secs > 0 && done_ >= first_done_ ? double(done_ - first_done_) / secs : 0;
  const double eta = rate > 0 ? double(total_ - done_) / rate : -1;
  std::string who;
  if (senders_.size() > 1) {
    std::size_t active = 0;
    for (auto& [key, x] : senders_) active += x.done < x.total;
    who = active == senders_.size() || active == 0
              ? fmt::format(" ({} senders)", senders_.size())
              : fmt::format(" ({} senders, {} active)", senders_.size(), active);
  }
  if (mode_ == ProgressMode::live) {
    const int width = 30;
    const int filled = static_cast<int>(pct / 100.0 * width + 0.5);
    return fmt::format("[{}{}] {:5.1f}% {}/{} {:.3g}/s ETA {}{}", std::string(filled, '#'),
                       std::string(width - filled, '-'), pct, done_, total_, rate,
                       duration_text(eta), who);
  }
  return fmt::format("progress: {:.1f}% ({}/{}) {:.3g}/s ETA {}{}", pct, done_, total_, rate,
                     duration_text(eta), who);
}

}  // namespace cadre::services
