// The master's combined progress line: several senders, sums that never go back, the live
// line only for work that lasts.

#include <gtest/gtest.h>

#include "services/progress_board.hpp"

using cadre::NodeId;
using cadre::Pid;
using cadre::services::ProgressBoard;
using cadre::services::ProgressMode;
using namespace std::chrono_literals;

namespace {
const Pid a{NodeId(1), 0}, b{NodeId(2), 7};
}

TEST(ProgressBoard, CombinesSendersIntoOneLineThatNeverGoesBack) {
  ProgressBoard board(ProgressMode::lines);
  auto t = ProgressBoard::Clock::now();
  auto s = board.report(a, 20, 20, t);  // the first sender finishes alone: its line, then empty
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->finished);
  EXPECT_NE(s->text.find("(20/20)"), std::string::npos) << s->text;
  s = board.report(a, 5, 20, t += 1s);
  ASSERT_TRUE(s);
  EXPECT_NE(s->text.find("progress: 25.0% (5/20)"), std::string::npos) << s->text;
  s = board.report(b, 1, 20, t += 1s);
  ASSERT_TRUE(s);
  EXPECT_NE(s->text.find("(6/40)"), std::string::npos) << s->text;
  EXPECT_NE(s->text.find("(2 senders)"), std::string::npos) << s->text;
  s = board.report(a, 3, 20, t += 1s);  // late and lower: the sum stays
  ASSERT_TRUE(s);
  EXPECT_NE(s->text.find("(6/40)"), std::string::npos) << s->text;
  s = board.report(a, 20, 20, t += 1s);
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->finished);
  EXPECT_NE(s->text.find("(21/40)"), std::string::npos) << s->text;
  EXPECT_NE(s->text.find("(2 senders, 1 active)"), std::string::npos) << s->text;
  s = board.report(b, 20, 20, t += 10ms);  // the last one: always shown
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->finished);
  EXPECT_NE(s->text.find("progress: 100.0% (40/40)"), std::string::npos) << s->text;
  EXPECT_EQ(board.senders(), 0u);
}

TEST(ProgressBoard, PlainLinesAtMostEverySecond) {
  ProgressBoard board(ProgressMode::lines);
  auto t = ProgressBoard::Clock::now();
  EXPECT_TRUE(board.report(a, 0, 100, t));
  EXPECT_FALSE(board.report(a, 1, 100, t += 500ms));
  EXPECT_TRUE(board.report(a, 2, 100, t += 600ms));
}

TEST(ProgressBoard, LiveLineOnlyForWorkThatLasts) {
  ProgressBoard board(ProgressMode::live);
  auto t = ProgressBoard::Clock::now();
  EXPECT_FALSE(board.report(a, 0, 10, t));
  EXPECT_FALSE(board.report(a, 5, 10, t += 200ms));
  EXPECT_FALSE(board.report(a, 10, 10, t += 200ms)) << "short work shows no line at all";
  EXPECT_FALSE(board.live_visible());
  EXPECT_FALSE(board.report(a, 0, 10, t += 1s));
  auto s = board.report(a, 5, 10, t += 600ms);
  ASSERT_TRUE(s);
  EXPECT_TRUE(board.live_visible());
  EXPECT_EQ(s->text.rfind("[###############---------------]  50.0% 5/10", 0), 0u) << s->text;
  EXPECT_FALSE(board.report(a, 6, 10, t += 50ms)) << "redrawn at most every 100 ms";
  s = board.report(a, 10, 10, t += 10ms);
  ASSERT_TRUE(s) << "a live line that shows ends with its 100% line";
  EXPECT_TRUE(s->finished);
  EXPECT_FALSE(board.live_visible());
}

TEST(ProgressBoard, OffShowsNothing) {
  ProgressBoard board(ProgressMode::off);
  EXPECT_FALSE(board.report(a, 10, 10, ProgressBoard::Clock::now()));
}
