/// \file test_archive_malformed.cpp
/// Unit tests of cadre's bounded archives against malformed input: truncation at every byte,
/// huge counts, bad flags, duplicate keys, trailing bytes, claimed sizes that must not be
/// allocated, deep nesting and random mutations. Each must end in a DecodeError, never a
/// crash or a huge allocation.

#include <atomic>
#include <cstdlib>
#include <new>

#include "archive_testing.hpp"

// ---- allocation watch: the largest single allocation made while armed ------------------------

namespace {
std::atomic<bool> g_watch{false};
std::atomic<std::size_t> g_largest{0};

void note_allocation(std::size_t n) {
  if (!g_watch.load(std::memory_order_relaxed)) return;
  std::size_t cur = g_largest.load(std::memory_order_relaxed);
  while (n > cur && !g_largest.compare_exchange_weak(cur, n)) {
  }
}
}  // namespace

// GCC cannot tell that these replacements pair malloc with free consistently.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t n) {
  note_allocation(n);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace archive_testing {
namespace {

// ---- malformed input ----------------------------------------------------------------------------

template <class T>
void expect_every_truncation_throws(const T& v) {
  auto bytes = bytes_of(v);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    std::vector<char> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_THROW((void)decode_as<T>(cut.data(), cut.size()), DecodeError)
        << cadre::detail::type_name<T>() << " cut to " << n << " of " << bytes.size();
  }
  auto longer = bytes;
  longer.push_back(0);
  EXPECT_THAT(decode_error<T>(longer), HasSubstr("1 trailing bytes"));
}

TEST(ArchiveMalformed, TruncatedAtEveryByte) {
  expect_every_truncation_throws(std::int64_t{-1});
  expect_every_truncation_throws(true);
  expect_every_truncation_throws(std::string("truncate me"));
  expect_every_truncation_throws(std::vector<int>{1, 2, 3});
  expect_every_truncation_throws(std::vector<bool>{true, false});
  expect_every_truncation_throws(std::vector<std::string>{"a", "bc"});
  expect_every_truncation_throws(std::array<std::uint16_t, 3>{1, 2, 3});
  expect_every_truncation_throws(std::map<std::string, std::vector<int>>{{"k", {1, 2}}});
  expect_every_truncation_throws(std::unordered_set<int>{1, 2, 3});
  expect_every_truncation_throws(std::tuple<int, std::string, std::vector<double>>{1, "s", {2}});
  expect_every_truncation_throws(std::optional<std::string>{"opt"});
  expect_every_truncation_throws(std::variant<int, std::string>{std::string("var")});
  expect_every_truncation_throws(app::Point{1, 2, "pt"});
  expect_every_truncation_throws(app::Derived{});
  expect_every_truncation_throws(app::Vec3{1, 2, 3, 4});
  expect_every_truncation_throws(std::chrono::seconds(5));
  expect_every_truncation_throws(app::Mode::on);
  expect_every_truncation_throws(cadre::Pid{cadre::NodeId(1), 2});
}

TEST(ArchiveMalformed, HugeCountsAndLengths) {
  const std::uint32_t big = 0xFFFFFFFFu;
  EXPECT_THAT(decode_error<std::vector<int>>(cat({le32(1u << 27), std::vector<char>(12)})),
              HasSubstr("std::vector<int>: count 134217728 needs 536870912 bytes, 12 left"));
  EXPECT_THAT(decode_error<std::string>(cat({le32(big), std::vector<char>(3, 'a')})),
              HasSubstr("std::string: count 4294967295 needs 4294967295 bytes, 3 left"));
  EXPECT_THAT(decode_error<std::vector<std::string>>(cat({le32(3), std::vector<char>(8)})),
              HasSubstr("count 3 needs 12 bytes, 8 left"));
  EXPECT_THAT(decode_error<std::vector<bool>>(le32(big)), HasSubstr("count 4294967295"));
  EXPECT_THAT((decode_error<std::map<int, double>>(cat({le32(2), std::vector<char>(23)}))),
              HasSubstr("std::map<int, double>: count 2 needs 24 bytes, 23 left"));
  EXPECT_THAT(decode_error<std::set<std::string>>(le32(big)), HasSubstr("std::set"));
  EXPECT_THAT((decode_error<std::unordered_map<int, int>>(le32(big))),
              HasSubstr("std::unordered_map<int, int>: count"));
  EXPECT_THAT(decode_error<std::unordered_set<std::string>>(le32(big)), HasSubstr("count"));
  EXPECT_THAT(decode_error<std::deque<int>>(le32(big)), HasSubstr("std::deque<int>"));
  EXPECT_THAT(decode_error<std::list<app::Point>>(le32(big)), HasSubstr("count 4294967295"));
  EXPECT_THAT(decode_error<std::vector<app::Vec3>>(cat({le32(2), std::vector<char>(16)})),
              HasSubstr("count 2 needs 32 bytes, 16 left"));
  // A count nested inside a valid outer structure.
  EXPECT_THAT(decode_error<std::vector<std::vector<int>>>(cat({le32(1), le32(big)})),
              HasSubstr("std::vector<int>: count 4294967295"));
  EXPECT_THAT(decode_error<std::u16string>(cat({le32(3), std::vector<char>(5)})),
              HasSubstr("count 3 needs 6 bytes, 5 left"));
}

TEST(ArchiveMalformed, BadFlagsAndIndices) {
  EXPECT_THAT(decode_error<bool>({2}), HasSubstr("bool: byte value 2 is not 0 or 1"));
  EXPECT_THAT(decode_error<bool>({char(0xFF)}), HasSubstr("255"));
  EXPECT_THAT(decode_error<std::vector<bool>>(cat({le32(2), {1, 3}})),
              HasSubstr("std::vector<bool>: element byte value 3"));
  EXPECT_THAT(decode_error<std::optional<int>>({2, 0, 0, 0, 0}),
              HasSubstr("std::optional<int>: presence byte 2 is not 0 or 1"));
  using V = std::variant<int, std::string>;
  EXPECT_THAT(decode_error<V>({2, 0, 0, 0, 0}),
              HasSubstr("std::variant<int, std::string>: alternative index 2 out of range"));
  EXPECT_THAT(decode_error<V>({char(255)}), HasSubstr("index 255"));
  EXPECT_THAT((decode_error<std::tuple<bool, bool>>({1, 5})), HasSubstr("byte value 5"));
  EXPECT_THROW((void)(decode_as<std::pair<int, bool>>("\1\0\0\0\2", 5)), DecodeError);
}

TEST(ArchiveMalformed, DuplicateKeys) {
  auto two_ones = cat({le32(2), le32(1), le32(10), le32(1), le32(11)});
  EXPECT_THAT((decode_error<std::map<int, int>>(two_ones)),
              HasSubstr("std::map<int, int>: element 1 repeats a key"));
  EXPECT_THROW((void)(decode_as<std::unordered_map<int, int>>(two_ones.data(), two_ones.size())),
               DecodeError);
  auto multi = decode_as<std::multimap<int, int>>(two_ones.data(), two_ones.size());
  EXPECT_EQ(multi.size(), 2u);
  auto set_dup = cat({le32(2), le32(7), le32(7)});
  EXPECT_THAT(decode_error<std::set<int>>(set_dup), HasSubstr("repeats a key"));
  EXPECT_THROW((void)decode_as<std::unordered_set<int>>(set_dup.data(), set_dup.size()),
               DecodeError);
  EXPECT_EQ((decode_as<std::multiset<int>>(set_dup.data(), set_dup.size()).size()), 2u);
}

TEST(ArchiveMalformed, TrailingBytes) {
  auto bytes = cat({le32(5), {0}});
  EXPECT_THAT(decode_error<int>(bytes), HasSubstr("1 trailing bytes after the value"));
  InArchive ar(bytes.data(), bytes.size());
  EXPECT_EQ(ar.read<int>(), 5);
  EXPECT_THROW(ar.expect_end(), DecodeError);
  std::uint8_t last = 1;
  ar >> last;
  EXPECT_EQ(last, 0);
  EXPECT_NO_THROW(ar.expect_end());
}

TEST(ArchiveMalformed, ReadsPastEndThrowWithContext) {
  InArchive ar("\1\2", 2);
  char out[4];
  EXPECT_THAT(
      [&] {
        try {
          ar.read_bytes(out, 4);
        } catch (const DecodeError& e) {
          return std::string(e.what());
        }
        return std::string();
      }(),
      HasSubstr("needs 4 bytes, 2 left"));
  EXPECT_THAT(decode_error<double>({1, 2, 3}), HasSubstr("double: needs 8 bytes, 3 left"));
  EXPECT_THAT(decode_error<std::vector<int>>({1, 0}),
              HasSubstr("std::vector<int>: count needs 4 bytes, 2 left"));
  EXPECT_THAT(decode_error<app::Point>(le32(1)), HasSubstr("double: needs 8 bytes, 0 left"));
}

TEST(ArchiveMalformed, ClaimedHugeVectorThrowsFastWithoutAllocating) {
  // 20 bytes that claim a vector of 2^27 ints.
  auto bytes = cat({le32(1u << 27), std::vector<char>(16, 1)});
  ASSERT_EQ(bytes.size(), 20u);
  g_largest = 0;
  g_watch = true;
  auto t0 = std::chrono::steady_clock::now();
  bool threw = false;
  try {
    (void)decode_as<std::vector<int>>(bytes.data(), bytes.size());
  } catch (const DecodeError&) {
    threw = true;
  }
  auto elapsed = std::chrono::steady_clock::now() - t0;
  g_watch = false;
  EXPECT_TRUE(threw);
  EXPECT_LT(elapsed, std::chrono::milliseconds(100));
  EXPECT_LT(g_largest.load(), 4096u) << "largest allocation while decoding";
  // Same for nested and associative containers: nothing sized from the claimed count.
  g_largest = 0;
  g_watch = true;
  EXPECT_THROW((void)(decode_as<std::vector<std::vector<std::string>>>(bytes.data(), 20)),
               DecodeError);
  EXPECT_THROW((void)(decode_as<std::unordered_map<std::string, int>>(bytes.data(), 20)),
               DecodeError);
  EXPECT_THROW((void)(decode_as<std::string>(bytes.data(), 20)), DecodeError);
  g_watch = false;
  EXPECT_LT(g_largest.load(), 4096u);
}

TEST(ArchiveMalformed, ReserveIsBoundedByInputSize) {
  // A count that fits the bytes left (4 bytes per string) but strings are 32 bytes in memory:
  // the decoder must not reserve count * sizeof(std::string) up front.
  std::vector<char> bytes = le32(50000);
  bytes.resize(4 + 50000 * 4 - 1, 0);  // one byte short: fails on the last element
  g_largest = 0;
  g_watch = true;
  EXPECT_THROW((void)decode_as<std::vector<std::string>>(bytes.data(), bytes.size()), DecodeError);
  g_watch = false;
  EXPECT_LE(g_largest.load(), 2 * bytes.size() + 4096);
}

TEST(ArchiveMalformed, DeepNestingIsRefused) {
  // Encoded Tree nodes: value (4 bytes), kids count = 1, repeated.
  std::vector<char> hostile;
  for (int i = 0; i < 100000; ++i) {
    auto v = le32(static_cast<std::uint32_t>(i));
    hostile.insert(hostile.end(), v.begin(), v.end());
    auto c = le32(1);
    hostile.insert(hostile.end(), c.begin(), c.end());
  }
  EXPECT_THAT(decode_error<app::Tree>(hostile), HasSubstr("nested deeper than 64"));

  app::Tree deep{0, {}};
  app::Tree* cur = &deep;
  for (int i = 1; i < 300; ++i) {
    cur->kids.push_back(app::Tree{i, {}});
    cur = &cur->kids.back();
  }
  auto bytes = bytes_of(deep);
  EXPECT_THROW((void)decode_as<app::Tree>(bytes.data(), bytes.size()), DecodeError);
  InArchive ar(bytes.data(), bytes.size());
  ar.set_max_depth(1000);
  EXPECT_EQ(ar.max_depth(), 1000u);
  app::Tree back;
  ar >> back;
  ar.expect_end();
  EXPECT_EQ(back, deep);
}

TEST(ArchiveMalformed, RandomMutationsOnlyEverThrowDecodeError) {
  app::Everything e;
  e.p = {1, 2, "three"};
  e.index["k"] = {std::nullopt, std::pair<int, std::string>{9, "nine"}};
  e.var = std::string("variant");
  e.groups[1] = {"x", "y"};
  auto bytes = bytes_of(e);
  std::uint64_t state = 12345;
  auto rnd = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::uint32_t>(state >> 33);
  };
  int decoded = 0, rejected = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    auto m = bytes;
    int flips = 1 + static_cast<int>(rnd() % 4);
    for (int f = 0; f < flips; ++f) m[rnd() % m.size()] = static_cast<char>(rnd());
    try {
      (void)decode_as<app::Everything>(m.data(), m.size());
      ++decoded;
    } catch (const DecodeError&) {
      ++rejected;
    }
  }
  EXPECT_EQ(decoded + rejected, 20000);
  EXPECT_GT(rejected, 0);
}

}  // namespace
}  // namespace archive_testing
