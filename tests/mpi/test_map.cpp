// map() and its inputs, as a whole job (the master's driver runs the cases, the workers
// serve): map keeps its own copy of the inputs (or the vector moved in) and encodes chunks as
// they leave, so the caller may change or drop its inputs at once; a huge map answers every
// input, errors per input; an input that cannot be encoded, or a chunk above the payload cap,
// fails its own futures and nothing else.

#include <gtest/gtest.h>

#include <atomic>
#include <cadre/cadre.hpp>
#include <chrono>
#include <list>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

long square(long x) { return x * x; }
CADRE_TASK(square);

std::string shout(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
CADRE_TASK(shout);

std::size_t length_of(std::string s) { return s.size(); }
CADRE_TASK(length_of);

constexpr long kOdd = 9973;  // checked_square throws for its multiples
long checked_square(long x) {
  if (x % kOdd == 0) throw std::domain_error("a multiple of 9973: " + std::to_string(x));
  return x * x;
}
CADRE_TASK(checked_square);

/// Counts the copies made on one thread (the driver's), so a copy the runtime makes elsewhere
/// (a task run on the master) does not count.
struct Counted {
  long v = 0;
  static inline std::atomic<long> copies{0};
  static inline std::thread::id counting{};
  Counted() = default;
  explicit Counted(long x) : v(x) {}
  Counted(const Counted& o) : v(o.v) {
    if (std::this_thread::get_id() == counting) ++copies;
  }
  Counted(Counted&&) = default;
  Counted& operator=(const Counted&) = default;
  Counted& operator=(Counted&&) = default;
  template <class A>
  void serialize(A& a, unsigned) {
    a& v;
  }
};
long value_of(Counted c) { return c.v; }
CADRE_TASK(value_of);

/// Refuses to be encoded when negative (decoding is never refused).
struct Picky {
  int v = 0;
  template <class A>
  void serialize(A& a, unsigned) {
    if constexpr (A::is_saving::value)
      if (v < 0) throw std::invalid_argument("a negative Picky: " + std::to_string(v));
    a& v;
  }
};
int picky_value(Picky p) { return p.v; }
CADRE_TASK(picky_value);

std::string error_of(const cadre::Future<int>& f) {
  try {
    f.get();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Map, KeepsItsOwnCopyOfTheInputs) {
  // Small chunks: most of them have not left when map returns.
  std::vector<long> xs(20000);
  std::iota(xs.begin(), xs.end(), 0L);
  auto fs = cadre::map(cadre::any, square, xs, {.chunk = 16});
  for (auto& x : xs) x = -1;
  xs.clear();
  xs.shrink_to_fit();
  ASSERT_EQ(fs.size(), 20000u);
  long bad = 0;
  for (long i = 0; i < 20000; ++i) bad += fs[static_cast<std::size_t>(i)].get() != i * i;
  EXPECT_EQ(bad, 0);

  // Inputs destroyed as map returns; non-trivial values; a range that is not a vector, of
  // another type than the parameter.
  std::vector<cadre::Future<std::string>> gs;
  {
    std::vector<std::string> words;
    for (int i = 0; i < 3000; ++i) words.push_back("word" + std::to_string(i));
    gs = cadre::map(cadre::any, shout, words, {.chunk = 8});
    for (auto& w : words) w = "changed";
  }
  for (int i = 0; i < 3000; ++i)
    EXPECT_EQ(gs[static_cast<std::size_t>(i)].get(), "WORD" + std::to_string(i));
  std::list<int> ints(500, 0);
  std::iota(ints.begin(), ints.end(), 1);
  auto hs = cadre::map(cadre::any, square, ints, {.chunk = 3});
  ints.assign(500, 0);
  for (long i = 0; i < 500; ++i)
    EXPECT_EQ(hs[static_cast<std::size_t>(i)].get(), (i + 1) * (i + 1));
}

TEST(Map, TakesAMovedInVectorWithoutCopying) {
  Counted::counting = std::this_thread::get_id();
  std::vector<Counted> cs;
  for (long i = 0; i < 5000; ++i) cs.emplace_back(i);
  Counted::copies = 0;
  auto fs = cadre::map(cadre::any, value_of, std::move(cs), {.chunk = 10});
  EXPECT_EQ(Counted::copies.load(), 0) << "the moved-in inputs were copied";
  EXPECT_TRUE(cs.empty()) << "the caller's vector was not moved from";
  cs.assign(3, Counted(-1));  // the moved-from vector is the caller's to reuse
  for (long i = 0; i < 5000; ++i) EXPECT_EQ(fs[static_cast<std::size_t>(i)].get(), i);

  // The same inputs by reference: one copy each, taken before map returns.
  std::vector<Counted> again;
  for (long i = 0; i < 100; ++i) again.emplace_back(i);
  Counted::copies = 0;
  auto gs = cadre::map(cadre::any, value_of, again);
  EXPECT_EQ(Counted::copies.load(), 100);
  Counted::counting = {};
  for (long i = 0; i < 100; ++i) EXPECT_EQ(gs[static_cast<std::size_t>(i)].get(), i);

  // A braced list is moved in too.
  auto ls = cadre::map(cadre::any, square, {1L, 2L, 3L});
  ASSERT_EQ(ls.size(), 3u);
  EXPECT_EQ(cadre::when_all(ls), (std::vector<long>{1, 4, 9}));
}

TEST(Map, TwoMillionInputsEachGetTheirResultOrTheirError) {
  constexpr long n = 2'000'000;
  std::vector<long> xs(n);
  std::iota(xs.begin(), xs.end(), 0L);
  auto fs = cadre::map(cadre::any, checked_square, std::move(xs));
  ASSERT_EQ(fs.size(), static_cast<std::size_t>(n));
  long bad = 0, errors = 0;
  for (long i = 0; i < n; ++i) {
    const auto& f = fs[static_cast<std::size_t>(i)];
    if (i % kOdd != 0) {
      bad += f.get() != i * i;
      continue;
    }
    try {
      f.get();
      ++bad;
    } catch (const cadre::RemoteError& e) {
      ++errors;
      const std::string w = e.what();
      if (w.find("std::domain_error") == std::string::npos ||
          w.find("a multiple of 9973: " + std::to_string(i)) == std::string::npos) {
        ADD_FAILURE() << "input " << i << ": " << w;
        ++bad;
      }
    }
  }
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(errors, (n - 1) / kOdd + 1);
}

TEST(Map, AnInputThatCannotBeEncodedFailsItsChunkAlone) {
  std::vector<Picky> ps(100);
  for (int i = 0; i < 100; ++i) ps[static_cast<std::size_t>(i)].v = i == 37 ? -1 : i;
  std::vector<cadre::Future<int>> fs;
  ASSERT_NO_THROW(fs = cadre::map(cadre::any, picky_value, ps, {.chunk = 10}));
  for (int i = 0; i < 100; ++i) {
    const auto& f = fs[static_cast<std::size_t>(i)];
    if (i < 30 || i >= 40) {
      EXPECT_EQ(f.get(), i);
      continue;
    }
    EXPECT_THROW(f.get(), cadre::Error);
    const std::string w = error_of(f);
    EXPECT_NE(w.find("cadre::map(task 'picky_value'): input 37 could not be encoded"),
              std::string::npos)
        << w;
    EXPECT_NE(w.find("a negative Picky: -1"), std::string::npos) << w;
    EXPECT_NE(w.find("its chunk of 10 inputs (30..39) was not sent"), std::string::npos) << w;
  }
  // Alone in its chunk, it fails alone.
  fs = cadre::map(cadre::any, picky_value, ps, {.chunk = 1});
  for (int i = 0; i < 100; ++i) {
    if (i == 37)
      EXPECT_NE(error_of(fs[37]).find("its chunk (input 37) was not sent"), std::string::npos)
          << error_of(fs[37]);
    else
      EXPECT_EQ(fs[static_cast<std::size_t>(i)].get(), i);
  }
}

TEST(Map, AChunkAboveThePayloadCapFailsItsOwnFutures) {
  // The job runs with a payload cap of 1 MiB (see main): 4 inputs of 300 KB are above it,
  // 2 are not.
  std::vector<std::string> big(8, std::string(300000, 'x'));
  big[5] = "short";
  auto fs = cadre::map(cadre::any, length_of, big, {.chunk = 4});
  for (std::size_t i = 0; i < 4; ++i) {
    try {
      fs[i].get();
      ADD_FAILURE() << "no error for input " << i;
    } catch (const cadre::PayloadTooLarge& e) {
      const std::string w = e.what();
      EXPECT_NE(w.find("its chunk of 4 inputs (0..3) takes"), std::string::npos) << w;
      EXPECT_NE(w.find("use a smaller .chunk"), std::string::npos) << w;
    }
  }
  // The second chunk fits (one input is short).
  for (std::size_t i = 4; i < 8; ++i) EXPECT_EQ(fs[i].get(), i == 5 ? 5u : 300000u);
  auto gs = cadre::map(cadre::any, length_of, big, {.chunk = 2});
  for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(gs[i].get(), i == 5 ? 5u : 300000u);
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  cadre::Options o;
  o.payload_cap = 1 << 20;
  o.shutdown_timeout = 5s;
  return cadre::launch(
      argc, argv, [] { return RUN_ALL_TESTS(); }, o);
}
