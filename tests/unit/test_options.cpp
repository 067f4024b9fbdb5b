/// \file test_options.cpp
/// Unit tests of the CADRE_* environment variables and the bounds of Options
/// (runtime/node/options_env.hpp).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "cadre/errors.hpp"
#include "cadre/options.hpp"
#include "node/options_env.hpp"

namespace {

using cadre::Error;
using cadre::Level;
using cadre::Options;
using cadre::node::apply_environment;
using cadre::node::check_environment_words;
using cadre::node::clamp_durations;
using cadre::node::kMaxDuration;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using ::testing::HasSubstr;

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

// Every variable the tests set: cleared before and after each test, so that neither the
// caller's environment nor an earlier test changes what a test sees.
const char* const kVariables[] = {
    "CADRE_HEARTBEAT_INTERVAL_MS",
    "CADRE_HEARTBEAT_TIMEOUT_MS",
    "CADRE_READY_TIMEOUT_MS",
    "CADRE_SHUTDOWN_TIMEOUT_MS",
    "CADRE_IDLE_SPIN_US",
    "CADRE_IDLE_SLEEP_US",
    "CADRE_LOG_LEVEL",
    "CADRE_COALESCE_BYTES",
    "CADRE_PAYLOAD_CAP",
    "CADRE_STACK_SIZE",
    "CADRE_KEEP_FREED_MEMORY",
    "CADRE_DOORBELL",
    "CADRE_LINK_CREDIT",
    "CADRE_MAP_WINDOW",
    "CADRE_MAILBOX_LIMIT_MESSAGES",
    "CADRE_MAILBOX_LIMIT_BYTES",
    "CADRE_PROGRESS",
};

class EnvironmentTest : public ::testing::Test {
 protected:
  void SetUp() override { clear(); }
  void TearDown() override { clear(); }

  static void clear() {
    for (const char* name : kVariables) unsetenv(name);
  }
  static void set(const char* name, const std::string& value) {
    ASSERT_EQ(setenv(name, value.c_str(), 1), 0) << name;
  }

  // apply_environment on default options with `name` set to `value` alone must throw an Error
  // naming the variable and quoting the value.
  static void expect_refused(const char* name, const std::string& value) {
    clear();
    set(name, value);
    Options o;
    try {
      apply_environment(o);
      ADD_FAILURE() << name << "=\"" << value << "\" was accepted";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr(name)) << "value \"" << value << "\"";
    }
    unsetenv(name);
  }
};

TEST_F(EnvironmentTest, NothingSetLeavesTheDefaults) {
  Options o;
  apply_environment(o);
  const Options d;
  EXPECT_EQ(o.heartbeat_interval, d.heartbeat_interval);
  EXPECT_EQ(o.heartbeat_timeout, d.heartbeat_timeout);
  EXPECT_EQ(o.payload_cap, d.payload_cap);
  EXPECT_EQ(o.link_credit, d.link_credit);
  EXPECT_EQ(o.mailbox_limit.messages, d.mailbox_limit.messages);
  EXPECT_EQ(o.mailbox_limit.bytes, d.mailbox_limit.bytes);
  EXPECT_EQ(o.log_level, d.log_level);
}

TEST_F(EnvironmentTest, EmptyValueCountsAsUnset) {
  set("CADRE_PAYLOAD_CAP", "");
  set("CADRE_LOG_LEVEL", "");
  set("CADRE_PROGRESS", "");
  Options o;
  apply_environment(o);
  EXPECT_EQ(o.payload_cap, Options{}.payload_cap);
  EXPECT_EQ(o.log_level, Options{}.log_level);
}

TEST_F(EnvironmentTest, AcceptsValuesWithSurroundingBlanks) {
  set("CADRE_HEARTBEAT_INTERVAL_MS", " 250");
  set("CADRE_HEARTBEAT_TIMEOUT_MS", "3000 ");
  set("CADRE_READY_TIMEOUT_MS", "\t7000\t");
  set("CADRE_SHUTDOWN_TIMEOUT_MS", "0");
  set("CADRE_IDLE_SPIN_US", " \t0 \t");
  set("CADRE_IDLE_SLEEP_US", "  500  ");
  set("CADRE_LOG_LEVEL", " debug\t");
  set("CADRE_COALESCE_BYTES", " 256 ");
  set("CADRE_PAYLOAD_CAP", " 2147483647 ");
  set("CADRE_STACK_SIZE", "16384");
  set("CADRE_KEEP_FREED_MEMORY", " 0 ");
  set("CADRE_DOORBELL", "0");
  set("CADRE_LINK_CREDIT", " 1099511627776");
  set("CADRE_MAP_WINDOW", "1048576 ");
  set("CADRE_MAILBOX_LIMIT_MESSAGES", " 1 ");
  set("CADRE_MAILBOX_LIMIT_BYTES", "\t1024");
  set("CADRE_PROGRESS", "live");
  Options o;
  apply_environment(o);
  EXPECT_EQ(o.heartbeat_interval, milliseconds(250));
  EXPECT_EQ(o.heartbeat_timeout, milliseconds(3000));
  EXPECT_EQ(o.ready_timeout, milliseconds(7000));
  EXPECT_EQ(o.shutdown_timeout, milliseconds(0));
  EXPECT_EQ(o.idle_spin, microseconds(0));
  EXPECT_EQ(o.idle_sleep, microseconds(500));
  EXPECT_EQ(o.log_level, Level::debug);
  EXPECT_EQ(o.coalesce_bytes, 256u);
  EXPECT_EQ(o.payload_cap, 2147483647u);
  EXPECT_EQ(o.stack_size, 16384u);
  EXPECT_FALSE(o.keep_freed_memory);
  EXPECT_FALSE(o.doorbell);
  EXPECT_EQ(o.link_credit, std::size_t(1) << 40);
  EXPECT_EQ(o.map_window, 1 << 20);
  EXPECT_EQ(o.mailbox_limit.messages, 1u);
  EXPECT_EQ(o.mailbox_limit.bytes, 1024u);
}

TEST_F(EnvironmentTest, AcceptsEveryLevelAndProgressWord) {
  for (const char* level : {"trace", "debug", "info", "warn", "error", "off"}) {
    set("CADRE_LOG_LEVEL", level);
    Options o;
    apply_environment(o);
    EXPECT_EQ(cadre::to_string(o.log_level), level);
  }
  for (const char* mode : {"live", "lines", "off"}) {
    set("CADRE_PROGRESS", mode);
    EXPECT_NO_THROW(check_environment_words()) << mode;
  }
}

TEST_F(EnvironmentTest, LargeSizesAreKept) {
  set("CADRE_STACK_SIZE", "1048576");
  set("CADRE_MAILBOX_LIMIT_MESSAGES", "9223372036854775807");
  set("CADRE_MAILBOX_LIMIT_BYTES", " 4294967296 ");
  Options o;
  apply_environment(o);
  EXPECT_EQ(o.stack_size, 1048576u);
  EXPECT_EQ(o.mailbox_limit.messages, static_cast<std::size_t>(kInt64Max));
  EXPECT_EQ(o.mailbox_limit.bytes, std::size_t(1) << 32);
}

TEST_F(EnvironmentTest, HugeDurationsSaturate) {
  const char* names[] = {"CADRE_HEARTBEAT_INTERVAL_MS", "CADRE_HEARTBEAT_TIMEOUT_MS",
                         "CADRE_READY_TIMEOUT_MS",      "CADRE_SHUTDOWN_TIMEOUT_MS",
                         "CADRE_IDLE_SPIN_US",          "CADRE_IDLE_SLEEP_US"};
  for (const char* name : names) set(name, " 9223372036854775807 ");
  Options o;
  apply_environment(o);
  EXPECT_EQ(o.heartbeat_interval, kMaxDuration);
  EXPECT_EQ(o.heartbeat_timeout, kMaxDuration);
  EXPECT_EQ(o.ready_timeout, kMaxDuration);
  EXPECT_EQ(o.shutdown_timeout, kMaxDuration);
  EXPECT_EQ(o.idle_spin, kMaxDuration);
  EXPECT_EQ(o.idle_sleep, kMaxDuration);
  // Just above the ceiling saturates too; just below is kept.
  set("CADRE_HEARTBEAT_TIMEOUT_MS", std::to_string(kMaxDuration.count() + 1));
  set("CADRE_READY_TIMEOUT_MS", std::to_string(kMaxDuration.count() - 1));
  apply_environment(o);
  EXPECT_EQ(o.heartbeat_timeout, kMaxDuration);
  EXPECT_EQ(o.ready_timeout, kMaxDuration - milliseconds(1));
}

// What the runtime computes from a saturated duration must not wrap around: the deadline lies
// in the future and the multiples it uses stay ordered.
TEST_F(EnvironmentTest, SaturatedDurationsLeaveDeadlineArithmeticSound) {
  using Clock = std::chrono::steady_clock;
  const auto now = Clock::now();
  EXPECT_GT(now + kMaxDuration, now);
  EXPECT_GT(now + 3 * kMaxDuration, now + kMaxDuration);
  EXPECT_GT(now + 2 * kMaxDuration + std::chrono::seconds(5), now);
  const auto spin = std::chrono::duration_cast<Clock::duration>(kMaxDuration);
  EXPECT_GT(20 * spin, spin);
  EXPECT_GT(now + 32 * spin, now);
  // "Practically never": years, not hours.
  EXPECT_GT(kMaxDuration, std::chrono::hours(24 * 365 * 5));
}

TEST_F(EnvironmentTest, ClampDurationsSaturatesOptionsGivenInCode) {
  Options o;
  o.heartbeat_interval = milliseconds(kInt64Max);
  o.heartbeat_timeout = milliseconds(kInt64Max);
  o.ready_timeout = milliseconds(kInt64Max);
  o.shutdown_timeout = milliseconds(kInt64Max);
  o.idle_spin = microseconds(kInt64Max);
  o.idle_sleep = microseconds(kInt64Max);
  clamp_durations(o);
  EXPECT_EQ(o.heartbeat_interval, kMaxDuration);
  EXPECT_EQ(o.heartbeat_timeout, kMaxDuration);
  EXPECT_EQ(o.ready_timeout, kMaxDuration);
  EXPECT_EQ(o.shutdown_timeout, kMaxDuration);
  EXPECT_EQ(o.idle_spin, kMaxDuration);
  EXPECT_EQ(o.idle_sleep, kMaxDuration);
}

TEST_F(EnvironmentTest, ClampDurationsKeepsOrdinaryValuesAndRaisesNegativeOnes) {
  Options o;
  o.heartbeat_interval = milliseconds(100);
  o.shutdown_timeout = milliseconds(0);
  o.idle_spin = microseconds(0);
  o.heartbeat_timeout = milliseconds(-5);
  o.ready_timeout = milliseconds(std::numeric_limits<std::int64_t>::min());
  o.idle_sleep = microseconds(-1);
  clamp_durations(o);
  EXPECT_EQ(o.heartbeat_interval, milliseconds(100));
  EXPECT_EQ(o.shutdown_timeout, milliseconds(0));
  EXPECT_EQ(o.idle_spin, microseconds(0));
  EXPECT_EQ(o.heartbeat_timeout, milliseconds(1));
  EXPECT_EQ(o.ready_timeout, milliseconds(1));
  EXPECT_EQ(o.idle_sleep, microseconds(1));
}

TEST_F(EnvironmentTest, RefusesMalformedDurations) {
  const char* names[] = {"CADRE_HEARTBEAT_INTERVAL_MS", "CADRE_HEARTBEAT_TIMEOUT_MS",
                         "CADRE_READY_TIMEOUT_MS",      "CADRE_SHUTDOWN_TIMEOUT_MS",
                         "CADRE_IDLE_SPIN_US",          "CADRE_IDLE_SLEEP_US"};
  const std::vector<std::string> bad = {"ten",
                                        "10ms",
                                        "10 ms",
                                        "1e3",
                                        "0x10",
                                        "+5",
                                        "-5",
                                        "-0",
                                        " ",
                                        "\t \t",
                                        "1 2",
                                        "5.0",
                                        "9223372036854775808",
                                        "18446744073709551616",
                                        "99999999999999999999999"};
  for (const char* name : names)
    for (const auto& v : bad) expect_refused(name, v);
  // Zero is refused where it would make the loop spin or give up at once.
  for (const char* name : {"CADRE_HEARTBEAT_INTERVAL_MS", "CADRE_HEARTBEAT_TIMEOUT_MS",
                           "CADRE_READY_TIMEOUT_MS", "CADRE_IDLE_SLEEP_US"})
    expect_refused(name, "0");
}

TEST_F(EnvironmentTest, RefusesSizesOutOfRange) {
  struct Case {
    const char* name;
    std::vector<std::string> values;
  };
  const Case cases[] = {
      {"CADRE_PAYLOAD_CAP", {"5", "1023", "2147483648", "1k", "-1024"}},
      {"CADRE_COALESCE_BYTES", {"255", "67108865", "0", "abc"}},
      {"CADRE_STACK_SIZE", {"16383", "0", "128K", "9223372036854775808"}},
      {"CADRE_LINK_CREDIT", {"100", "4095", "1099511627777", "4 MiB"}},
      {"CADRE_MAP_WINDOW", {"0", "1048577", "-1", "four"}},
      {"CADRE_MAILBOX_LIMIT_MESSAGES", {"0", "-1", "1e6", "18446744073709551615"}},
      {"CADRE_MAILBOX_LIMIT_BYTES", {"1023", "0", "256MiB", " "}},
  };
  for (const auto& c : cases)
    for (const auto& v : c.values) expect_refused(c.name, v);
}

TEST_F(EnvironmentTest, RefusesUnknownWords) {
  expect_refused("CADRE_LOG_LEVEL", "loud");
  expect_refused("CADRE_LOG_LEVEL", "INFO");
  expect_refused("CADRE_LOG_LEVEL", "  ");
  expect_refused("CADRE_KEEP_FREED_MEMORY", "yes");
  expect_refused("CADRE_KEEP_FREED_MEMORY", "2");
  expect_refused("CADRE_KEEP_FREED_MEMORY", "\t");
  expect_refused("CADRE_DOORBELL", "on");
  expect_refused("CADRE_PROGRESS", "blink");
  // services/output.cpp compares the exact words: a padded one would silently mean `lines`.
  expect_refused("CADRE_PROGRESS", " live");
}

TEST_F(EnvironmentTest, CheckEnvironmentWordsRefusesABadProgressMode) {
  set("CADRE_PROGRESS", "blink");
  try {
    check_environment_words();
    ADD_FAILURE() << "CADRE_PROGRESS=blink was accepted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "cadre: environment variable CADRE_PROGRESS=\"blink\" is not one of live, "
                 "lines, off");
  }
}

// The exact forms of the messages: the MPI tests and users' scripts look for them.
TEST_F(EnvironmentTest, MessagesNameTheVariableAndItsValue) {
  auto message = [](const char* name, const char* value) -> std::string {
    clear();
    set(name, value);
    Options o;
    try {
      apply_environment(o);
    } catch (const Error& e) {
      return e.what();
    }
    return "(accepted)";
  };
  EXPECT_EQ(message("CADRE_PAYLOAD_CAP", "5"),
            "cadre: environment variable CADRE_PAYLOAD_CAP=\"5\" is not an integer >= 1024 and "
            "<= 2147483647");
  EXPECT_THAT(message("CADRE_LINK_CREDIT", "100"),
              HasSubstr("CADRE_LINK_CREDIT=\"100\" is not an integer >= 4096"));
  EXPECT_THAT(message("CADRE_KEEP_FREED_MEMORY", "yes"),
              HasSubstr("CADRE_KEEP_FREED_MEMORY=\"yes\" is not 0 or 1"));
  EXPECT_EQ(message("CADRE_HEARTBEAT_TIMEOUT_MS", "10ms"),
            "cadre: environment variable CADRE_HEARTBEAT_TIMEOUT_MS=\"10ms\" is not an integer "
            ">= 1");
  EXPECT_EQ(message("CADRE_LOG_LEVEL", "loud"),
            "cadre: environment variable CADRE_LOG_LEVEL=\"loud\" is not one of trace, debug, "
            "info, warn, error, off");
  // The value is quoted as set, blanks included.
  EXPECT_EQ(message("CADRE_MAP_WINDOW", " 0\t"),
            "cadre: environment variable CADRE_MAP_WINDOW=\" 0\\t\" is not an integer >= 1 and "
            "<= 1048576");
}

}  // namespace
