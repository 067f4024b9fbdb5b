// The run timeline's recorder (sampling, counters, chunks) and the master's collector (clock
// offsets, the JSON file, hostile names and indexes).

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cadre/errors.hpp"
#include "node/trace.hpp"
#include "node/trace_file.hpp"

using namespace cadre::node::trace;

namespace {

Names test_names() {
  Names n;
  n.envelope_class = [](std::uint8_t c) { return "class" + std::to_string(c); };
  n.body = [](std::uint64_t id) { return "body" + std::to_string(id); };
  n.reason = [](std::uint8_t r) { return "reason" + std::to_string(r); };
  return n;
}

std::string temp_path(const char* name) {
  return std::string(::testing::TempDir()) + name + std::to_string(::getpid()) + ".json";
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);  // throws on anything that is not JSON
}

}  // namespace

TEST(Trace, MessagesAboveTheRateAreSampledAndAllCounted) {
  enable(true);
  // Within one second of the clock: retried when the loop straddles a second's boundary.
  for (int attempt = 0; attempt < 5; ++attempt) {
    (void)take(test_names());
    // Away from a second's edge: the sampling window follows the coarse clock, which lags the
    // precise one by a few milliseconds.
    while (now_ns() % 1'000'000'000 < 50'000'000 || now_ns() % 1'000'000'000 > 800'000'000)
      ::usleep(10'000);
    const std::int64_t second = now_ns() / 1'000'000'000;
    const std::uint32_t total = kMessagesPerSecond + 20 * kSampleAbove;
    for (std::uint32_t i = 0; i < total; ++i) message(Kind::send, 1, 20, 8);
    if (now_ns() / 1'000'000'000 != second) continue;
    // Counters of the interval under way stay behind: wait for it to end.
    ::usleep(static_cast<useconds_t>(kCounterNs / 1000 + 1000));
    Chunk c = take(test_names());
    EXPECT_EQ(c.events.size(), kMessagesPerSecond + 20);
    EXPECT_EQ(c.sampled_out, 20u * (kSampleAbove - 1));
    std::uint64_t counted = 0;
    for (const Count& k : c.counts) counted += k.sent;
    EXPECT_EQ(counted, total);
    ASSERT_FALSE(c.events.empty());
    EXPECT_EQ(c.names[c.events.front().name], "class20");
    enable(false);
    return;
  }
  enable(false);
  FAIL() << "five attempts straddled a second's boundary";
}

TEST(Trace, SpansAndInstantsCarryTheirNames) {
  enable(true);
  (void)take(test_names());
  span(Kind::task, now_ns() - 1000, 7, 3);
  span(Kind::process, now_ns() - 500, 9, 42, 2);
  instant(Kind::node_lost, 2, "silent for \"ever\"");
  Chunk c = take(test_names());
  enable(false);
  ASSERT_EQ(c.events.size(), 3u);
  EXPECT_EQ(c.names[c.events[0].name], "body7");
  EXPECT_EQ(c.events[0].n, 3u);
  EXPECT_GE(c.events[0].dur, 1000);
  EXPECT_EQ(c.names[c.events[1].name], "body9");
  EXPECT_EQ(c.names[c.events[1].detail], "reason2");
  EXPECT_EQ(c.names[c.events[2].name], "silent for \"ever\"");
  EXPECT_EQ(c.events[2].peer, 2u);
  EXPECT_LT(c.events[2].dur, 0);
}

TEST(Trace, SplitKeepsEveryEventAndNamesEachPiece) {
  Chunk c;
  c.names = {"a", "b"};
  for (int i = 0; i < 10; ++i)
    c.events.push_back(Record{i, 1, 0, 0, std::uint32_t(i % 2), 0, 1, 0});
  c.counts.push_back(Count{0, 5, 6});
  c.sampled_out = 3;
  auto pieces = split(c, 4);
  ASSERT_EQ(pieces.size(), 3u);
  std::size_t total = 0;
  for (auto& p : pieces) {
    total += p.events.size();
    EXPECT_EQ(p.names, c.names);
  }
  EXPECT_EQ(total, 10u);
  EXPECT_EQ(pieces[0].counts.size(), 1u);
  EXPECT_TRUE(pieces[1].counts.empty());
  EXPECT_EQ(pieces[0].sampled_out + pieces[1].sampled_out + pieces[2].sampled_out, 3u);
}

TEST(TraceCollector, TheFastestProbeSetsTheOffsetAndRoundsAreInterpolated) {
  Collector col("unused");
  col.new_round(1);
  EXPECT_TRUE(col.wants_probe(1));
  // Node 1's clock is 5 ms ahead. A slow probe (queued 400 us on the way back) says 5.2 ms.
  col.clock_sample(1, 1'000'000, 1'000'000 + 5'000'000 + 50'000, 1'500'000);
  col.clock_sample(1, 2'000'000, 2'000'000 + 5'000'000 + 10'000, 2'020'000);
  EXPECT_EQ(col.offset(1, 7'000'000), 5'000'000);
  for (int i = 2; i < Collector::kProbesPerRound; ++i)
    col.clock_sample(1, 3'000'000, 3'000'000 + 5'000'000 + 10'000 + 5'000'000, 3'200'000);
  EXPECT_FALSE(col.wants_probe(1));
  EXPECT_EQ(col.offset(1, 7'000'000), 5'000'000);
  // A later round, 1 s on, finds the node's clock 1 ms further ahead (drift).
  col.new_round(1);
  col.clock_sample(1, 1'002'000'000, 1'002'000'000 + 6'000'000 + 10'000, 1'002'020'000);
  EXPECT_EQ(col.offset(1, 507'510'000), 5'500'000);    // half-way: interpolated
  EXPECT_EQ(col.offset(1, 5'000'000'000), 6'000'000);  // past the last round
  EXPECT_EQ(col.offset(2, 1'000), 0);                  // never probed
}

TEST(TraceCollector, WritesJsonThatHostileNamesAndIndexesCannotBreak) {
  Collector col(temp_path("trace_hostile"));
  Chunk c;
  c.names = {std::string("quote\" backslash\\ newline\n tab\t bell\x07 bad utf8 \xff\xfe end"),
             "caf\xc3\xa9"};
  c.events.push_back(Record{1'000'000, 2'000, 4, 0, 0, 0, std::uint8_t(Kind::task), 0});
  c.events.push_back(Record{1'100'000, 500, 1, 0, 2, 2, std::uint8_t(Kind::process), 0});
  c.events.push_back(Record{1'300'000, -1, 8, 3, 1, 0, std::uint8_t(Kind::send), 20});
  c.names.push_back("?");
  c.counts.push_back(Count{1'000'000, 1, 0});
  col.add(1, c);
  col.new_round(1);
  col.clock_sample(1, 0, 100, 200);
  const std::string error =
      col.write({{0, "node 0 (m:0 on host m)"}, {1, "node 1 \"odd\" \xff host"}});
  ASSERT_EQ(error, "");
  nlohmann::json doc;
  ASSERT_NO_THROW(doc = read_json(col.path()));
  ASSERT_TRUE(doc["traceEvents"].is_array());
  int tasks = 0, procs = 0, sends = 0;
  for (auto& e : doc["traceEvents"]) {
    if (e.value("cat", "") == "task") {
      ++tasks;
      EXPECT_NE(e["name"].get<std::string>().find("quote\" backslash\\ newline\n"),
                std::string::npos);
      EXPECT_EQ(e["tid"], 10);
    }
    if (e.value("cat", "") == "process") {
      ++procs;
      EXPECT_EQ(e["name"], "?");
      EXPECT_EQ(e["args"]["pid"], "<1.1>");
    }
    if (e.value("cat", "") == "message" && e["ph"] == "i") {
      ++sends;
      EXPECT_EQ(e["name"], "send café");
    }
  }
  EXPECT_EQ(tasks, 1);
  EXPECT_EQ(procs, 1);
  EXPECT_EQ(sends, 1);
  EXPECT_EQ(doc["otherData"]["clock_offsets"]["1"]["rounds"], 1);
  std::remove(col.path().c_str());
}

TEST(TraceCollector, AnUnwritablePathIsNamedNotThrown) {
  Collector col("/nonexistent-dir-for-cadre/trace.json");
  const std::string error = col.write({});
  EXPECT_NE(error.find("cannot open it for writing"), std::string::npos) << error;
}

TEST(TraceCollector, AChunkNoNodeRecordsIsRefusedWhole) {
  const auto task = std::uint8_t(Kind::task), send = std::uint8_t(Kind::send);
  const std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  const std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  struct Case {
    const char* what;
    Record bad;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"unknown kind", Record{1000, -1, 0, 0, 0, 0, 250, 0}, "an unknown kind 250"},
      {"kind 0", Record{1000, -1, 0, 0, 0, 0, 0, 0}, "an unknown kind 0"},
      {"name past the names", Record{1000, 5, 0, 0, 7, 0, task, 0}, "name index 7"},
      {"detail past the names", Record{1000, 5, 0, 0, 0, 99, task, 0},
       "name index 0 or 99 past its 1 names"},
      {"negative time", Record{-1, 5, 0, 0, 0, 0, task, 0}, "a time of -1 ns"},
      {"INT64_MIN time", Record{kMin, 5, 0, 0, 0, 0, task, 0}, "a time of"},
      {"INT64_MAX time", Record{kMax, 5, 0, 0, 0, 0, task, 0}, "a time of"},
      {"negative span", Record{1000, -5, 0, 0, 0, 0, task, 0}, "a span of -5 ns"},
      {"instant-like span", Record{1000, -1, 0, 0, 0, 0, task, 0}, "a span of -1 ns"},
      {"endless span", Record{1000, kMax, 0, 0, 0, 0, task, 0}, "a span of"},
      {"instant with a length", Record{1000, 7, 0, 0, 0, 0, send, 20}, "an instant with"},
  };
  for (const Case& k : cases) {
    Collector col("unused");
    Chunk c;
    c.names = {"ok"};
    c.events.push_back(Record{1000, 5, 0, 0, 0, 0, task, 0});  // a good one first
    c.events.push_back(k.bad);
    c.counts.push_back(Count{1000, 1, 1});
    try {
      col.add(1, c);
      ADD_FAILURE() << k.what << ": accepted";
    } catch (const cadre::DecodeError& e) {
      EXPECT_NE(std::string(e.what()).find("event 1 of 2 has " + k.says), std::string::npos)
          << k.what << ": " << e.what();
    }
    EXPECT_EQ(col.events(), 0u) << k.what << ": part of a refused chunk was kept";
  }
  Collector col("unused");
  Chunk c;
  c.counts.push_back(Count{kMin, 1, 1});
  EXPECT_THROW(col.add(1, c), cadre::DecodeError);
}

TEST(TraceCollector, ForgedClockRepliesNeitherSetTheOffsetNorEndlesslyProbe) {
  Collector col("unused");
  col.new_round(1);
  const std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  EXPECT_FALSE(col.clock_sample(1, 1000, kMax, 2000));
  EXPECT_FALSE(col.clock_sample(1, 1000, std::numeric_limits<std::int64_t>::min(), 2000));
  EXPECT_FALSE(col.clock_sample(1, 1000, -1, 2000));
  EXPECT_FALSE(col.clock_sample(1, 2000, 1500, 1000));  // back before it was sent
  EXPECT_EQ(col.offset(1, 5000), 0);
  // They count for the round: a node answering garbage is not probed for ever.
  for (int i = 4; i < Collector::kProbesPerRound; ++i) EXPECT_FALSE(col.clock_sample(1, 0, -9, 1));
  EXPECT_FALSE(col.wants_probe(1));
  // The extreme answers a clock can give are taken, and nothing overflows.
  col.new_round(1);
  EXPECT_TRUE(col.clock_sample(1, 0, kMaxTime, 0));
  EXPECT_EQ(col.offset(1, kMaxTime), kMaxTime);
}

TEST(TraceCollector, EventsOutsideTheRunAreLeftOutAndTimesStayFinite) {
  Collector col(temp_path("trace_outside"));
  const std::int64_t t = 1'000'000'000'000;  // the master's clock: 1000 s after boot
  const auto task = std::uint8_t(Kind::task), shut = std::uint8_t(Kind::shutdown);
  Chunk m;
  m.names = {"", "square"};
  m.events.push_back(Record{t, 2'000'000'000, 0, 0, 0, 0, shut, 0});
  col.add(0, m);
  Chunk w;  // node 1: inside the run, and at the extremes a clock can read
  w.names = {"square"};
  w.events.push_back(Record{t + 1'000'000, 5'000, 1, 0, 0, 0, task, 0});
  w.events.push_back(Record{0, 5'000, 1, 0, 0, 0, task, 0});
  w.events.push_back(Record{kMaxTime, 0, 1, 0, 0, 0, task, 0});
  w.events.push_back(Record{t, kMaxTime, 1, 0, 0, 0, task, 0});
  w.counts.push_back(Count{kMaxTime, 3, 3});
  col.add(1, w);
  // Node 2 claims a clock 2^60 ns ahead: its events land far outside the run.
  col.new_round(2);
  col.clock_sample(2, t, kMaxTime, t + 1000);
  Chunk r;
  r.names = {"forged"};
  r.events.push_back(Record{t, 10, 1, 0, 0, 0, task, 0});
  col.add(2, r);
  ASSERT_EQ(col.write({{0, "m"}, {1, "w"}, {2, "r"}}), "");
  std::ifstream in(col.path());
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.find("inf"), std::string::npos);
  EXPECT_EQ(text.find("nan"), std::string::npos);
  nlohmann::json doc;
  ASSERT_NO_THROW(doc = nlohmann::json::parse(text));
  EXPECT_EQ(doc["otherData"]["events_outside_the_run"], 5);
  int tasks = 0;
  for (auto& e : doc["traceEvents"]) {
    if (!e.contains("ts")) continue;
    EXPECT_GE(e["ts"].get<double>(), 0.0) << e;
    EXPECT_LE(e["ts"].get<double>() + e.value("dur", 0.0), 3e6) << e;  // within the run
    if (e.value("cat", "") == "task") {
      ++tasks;
      EXPECT_EQ(e["pid"], 1);
    }
  }
  EXPECT_EQ(tasks, 1);
  std::remove(col.path().c_str());
}

TEST(Trace, TheLastTakeShipsTheCounterUnderWay) {
  enable(true);
  (void)take(test_names(), true);
  message(Kind::receive, 1, 20, 8);
  Chunk c = take(test_names(), true);
  enable(false);
  std::uint64_t received = 0;
  for (const Count& k : c.counts) received += k.received;
  EXPECT_EQ(received, 1u);
}

TEST(Trace, SplitCutsCountersToo) {
  Chunk c;
  c.names = {"a"};
  c.events.push_back(Record{0, 1, 0, 0, 0, 0, 1, 0});
  for (int i = 0; i < 10; ++i) c.counts.push_back(Count{i * kCounterNs, 1, 0});
  auto pieces = split(c, 4);
  ASSERT_EQ(pieces.size(), 3u);
  std::size_t counts = 0, events = 0;
  for (auto& p : pieces) {
    EXPECT_LE(p.counts.size(), 4u);
    counts += p.counts.size();
    events += p.events.size();
  }
  EXPECT_EQ(counts, 10u);
  EXPECT_EQ(events, 1u);
}
