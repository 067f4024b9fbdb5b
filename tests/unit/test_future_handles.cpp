// Futures count themselves on their state (detail/future_state.hpp): the state lives while
// any future on it does, whoever else dropped it first; copies, moves and assignments keep
// the count right, from several threads at once; map's chunk futures share one count.

#include <gtest/gtest.h>

#include <atomic>
#include <cadre/future.hpp>
#include <memory>
#include <thread>
#include <vector>

using cadre::Future;
using cadre::detail::ResultState;
using cadre::detail::StateBase;

namespace {

/// A ready state of `slots` longs, slot i holding 10 * i.
std::shared_ptr<ResultState<long>> ready_state(std::uint32_t slots) {
  auto st = std::make_shared<ResultState<long>>(slots);
  for (std::uint32_t i = 0; i < slots; ++i) st->set_value(i, 10L * i);
  st->complete();
  return st;
}

}  // namespace

TEST(FutureHandles, AFutureIsTwoWords) { EXPECT_EQ(sizeof(Future<long>), 16u); }

TEST(FutureHandles, TheStateLivesUntilTheLastFutureGoes) {
  auto st = ready_state(1);
  std::weak_ptr<ResultState<long>> watch = st;
  Future<long> f(std::move(st), 0);  // the runtime's own reference is gone too
  ASSERT_FALSE(watch.expired());
  {
    Future<long> copy = f;
    Future<long> assigned;
    assigned = copy;
    f = Future<long>();  // the first handle goes: two are left
    EXPECT_FALSE(watch.expired());
    EXPECT_EQ(assigned.get(), 0);
    EXPECT_EQ(copy.get(), 0);
  }
  EXPECT_TRUE(watch.expired()) << "the state outlived its last future";
}

TEST(FutureHandles, MovesLeaveTheSourceEmptyAndTheCountAlone) {
  auto st = ready_state(1);
  std::weak_ptr<ResultState<long>> watch = st;
  Future<long> a(std::move(st), 0);
  Future<long> b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): what a move leaves is defined
  EXPECT_TRUE(b.valid());
  Future<long> c;
  c = std::move(b);
  EXPECT_FALSE(b.valid());  // NOLINT(bugprone-use-after-move)
  c = c;                    // self-assignment keeps the handle
  EXPECT_EQ(c.get(), 0);
  EXPECT_FALSE(watch.expired());
  c = Future<long>();
  EXPECT_TRUE(watch.expired());
}

TEST(FutureHandles, AChunksFuturesShareOneCount) {
  // As map makes them: one attach for all the chunk's slots, then a future per slot.
  const std::uint32_t slots = 1000;
  auto st = ready_state(slots);
  std::weak_ptr<ResultState<long>> watch = st;
  ResultState<long>* s = st.get();
  StateBase::attach(std::move(st), slots);
  std::vector<Future<long>> fs;
  for (std::uint32_t i = 0; i < slots; ++i) fs.emplace_back(cadre::detail::attached, s, i);
  for (std::uint32_t i = 0; i < slots; ++i) EXPECT_EQ(fs[i].get(), 10L * i);
  fs.erase(fs.begin(), fs.begin() + slots / 2);  // moves the rest down: the count stays
  EXPECT_FALSE(watch.expired());
  EXPECT_EQ(fs.back().get(), 10L * (slots - 1));
  fs.clear();
  EXPECT_TRUE(watch.expired());
}

TEST(FutureHandles, CopiesAndDropsFromManyThreads) {
  auto st = ready_state(1);
  std::weak_ptr<ResultState<long>> watch = st;
  Future<long> f(std::move(st), 0);
  std::atomic<long> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 100000; ++i) {
        Future<long> copy = f;
        Future<long> moved = std::move(copy);
        bad += moved.get() != 0;
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_FALSE(watch.expired());
  f = Future<long>();
  EXPECT_TRUE(watch.expired());
}
