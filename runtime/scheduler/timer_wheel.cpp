#include "scheduler/timer_wheel.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace cadre::sched {
namespace {
constexpr int kDigitBits = 6;
}  // namespace

TimerWheel::TimerWheel() {
  for (auto& level : heads_) level.fill(kNone);
  now_tick_ = tick_of(Clock::now());
}

std::uint64_t TimerWheel::tick_of(Clock::time_point t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  return ns <= 0 ? 0 : static_cast<std::uint64_t>(ns) >> kTickShift;
}

std::uint64_t TimerWheel::add(Clock::time_point at, std::function<void()> fn) {
  if (!fn) throw std::invalid_argument("TimerWheel::add: empty callback");
  std::uint32_t i;
  if (!free_.empty()) {
    i = free_.back();
    free_.pop_back();
  } else {
    i = static_cast<std::uint32_t>(entries_.size());
    entries_.emplace_back();
  }
  Entry& e = entries_[i];
  e.at = at;
  e.fn = std::move(fn);
  e.seq = next_seq_++;
  place(i);
  ++live_;
  if (cache_ok_ && (!cached_ || at < *cached_)) cached_ = at;
  return (static_cast<std::uint64_t>(e.gen) << 32) | i;
}

void TimerWheel::cancel(std::uint64_t id) {
  auto i = static_cast<std::uint32_t>(id);
  if (i >= entries_.size()) return;
  Entry& e = entries_[i];
  if (e.gen != static_cast<std::uint32_t>(id >> 32)) return;
  if (e.state == State::slotted) {
    unlink(i);
    if (cache_ok_ && cached_ == e.at) cache_ok_ = false;
    --live_;
    release(i);
  } else if (e.state == State::due) {
    // In the batch being fired: the batch frees it.
    e.state = State::cancelled;
    e.fn = nullptr;
    --live_;
  }
}

void TimerWheel::place(std::uint32_t i) {
  Entry& e = entries_[i];
  std::uint64_t d = tick_of(e.at);
  int level = 0;
  int slot;
  if (d <= now_tick_) {
    slot = static_cast<int>(now_tick_ % kSlots);
  } else {
    int high = 63 - __builtin_clzll(d ^ now_tick_);
    level = std::min(high / kDigitBits, kLevels - 1);
    slot = static_cast<int>((d >> (kDigitBits * level)) % kSlots);
  }
  e.level = static_cast<std::uint8_t>(level);
  e.slot = static_cast<std::uint8_t>(slot);
  e.state = State::slotted;
  std::uint32_t& head = heads_[level][slot];
  e.prev = kNone;
  e.next = head;
  if (head != kNone) entries_[head].prev = i;
  head = i;
  occupied_[level] |= std::uint64_t(1) << slot;
}

void TimerWheel::unlink(std::uint32_t i) {
  Entry& e = entries_[i];
  if (e.prev != kNone)
    entries_[e.prev].next = e.next;
  else
    heads_[e.level][e.slot] = e.next;
  if (e.next != kNone) entries_[e.next].prev = e.prev;
  if (heads_[e.level][e.slot] == kNone) occupied_[e.level] &= ~(std::uint64_t(1) << e.slot);
  e.prev = e.next = kNone;
}

void TimerWheel::release(std::uint32_t i) {
  Entry& e = entries_[i];
  e.fn = nullptr;
  e.state = State::free;
  ++e.gen;
  if (e.gen == 0) e.gen = 1;  // ids are never 0
  free_.push_back(i);
}

void TimerWheel::take_slot(int level, int slot, bool all_due) {
  std::uint32_t i = heads_[level][slot];
  while (i != kNone) {
    Entry& e = entries_[i];
    std::uint32_t next = e.next;
    e.prev = e.next = kNone;
    if (all_due) {
      e.state = State::due;
      due_.push_back(i);
    } else {
      spill_.push_back(i);
    }
    i = next;
  }
  heads_[level][slot] = kNone;
  occupied_[level] &= ~(std::uint64_t(1) << slot);
}

void TimerWheel::advance(std::uint64_t target) {
  int top = std::min((63 - __builtin_clzll(target ^ now_tick_)) / kDigitBits, kLevels - 1);
  // Every timer of the levels below `top` is earlier than target's tick.
  for (int l = 0; l < top; ++l)
    for (std::uint64_t m = occupied_[l]; m != 0; m &= m - 1) take_slot(l, __builtin_ctzll(m), true);
  int from = static_cast<int>((now_tick_ >> (kDigitBits * top)) % kSlots);
  int to = static_cast<int>((target >> (kDigitBits * top)) % kSlots);
  std::uint64_t range = (~std::uint64_t(0) << from) & ~(~std::uint64_t(0) << to);
  for (std::uint64_t m = occupied_[top] & range; m != 0; m &= m - 1)
    take_slot(top, __builtin_ctzll(m), true);
  take_slot(top, to, false);
  now_tick_ = target;
  for (std::uint32_t i : spill_) place(i);
  spill_.clear();
}

void TimerWheel::collect_current(Clock::time_point now) {
  int slot = static_cast<int>(now_tick_ % kSlots);
  std::uint32_t i = heads_[0][slot];
  while (i != kNone) {
    std::uint32_t next = entries_[i].next;
    if (entries_[i].at <= now) {
      unlink(i);
      entries_[i].state = State::due;
      due_.push_back(i);
    }
    i = next;
  }
}

std::size_t TimerWheel::fire(Clock::time_point now) {
  std::size_t fired = 0;
  std::vector<std::uint32_t> batch;
  for (;;) {
    cache_ok_ = false;
    std::uint64_t t = tick_of(now);
    if (t > now_tick_) advance(t);
    collect_current(now);
    if (due_.empty()) break;
    batch.swap(due_);
    std::sort(batch.begin(), batch.end(), [this](std::uint32_t a, std::uint32_t b) {
      const Entry &x = entries_[a], &y = entries_[b];
      return x.at != y.at ? x.at < y.at : x.seq < y.seq;
    });
    std::size_t k = 0;
    try {
      for (; k < batch.size(); ++k) {
        std::uint32_t i = batch[k];
        if (entries_[i].state == State::cancelled) {
          release(i);
          continue;
        }
        auto fn = std::move(entries_[i].fn);
        --live_;
        release(i);
        ++fired;
        fn();
      }
    } catch (...) {
      // The timers after the one that threw stay pending.
      for (++k; k < batch.size(); ++k) {
        if (entries_[batch[k]].state == State::cancelled)
          release(batch[k]);
        else
          place(batch[k]);
      }
      cache_ok_ = false;
      throw;
    }
    batch.clear();
  }
  return fired;
}

std::optional<TimerWheel::Clock::time_point> TimerWheel::next_deadline() const {
  if (cache_ok_) return cached_;
  cache_ok_ = true;
  cached_.reset();
  if (live_ == 0) return cached_;
  if (occupied_[0] != 0) {
    // The earliest slot of level 0 holds one tick's timers: exact.
    int s = __builtin_ctzll(occupied_[0]);
    for (std::uint32_t i = heads_[0][s]; i != kNone; i = entries_[i].next)
      if (!cached_ || entries_[i].at < *cached_) cached_ = entries_[i].at;
    return cached_;
  }
  for (int l = 1; l < kLevels; ++l) {
    if (occupied_[l] == 0) continue;
    // The start of the first occupied slot: no timer of this level or above is earlier.
    int s = __builtin_ctzll(occupied_[l]);
    int width = kDigitBits * (l + 1);
    std::uint64_t base = width >= 64 ? 0 : (now_tick_ >> width) << width;
    std::uint64_t tick = base | (static_cast<std::uint64_t>(s) << (kDigitBits * l));
    cached_ = Clock::time_point(std::chrono::duration_cast<Clock::duration>(
        std::chrono::nanoseconds(static_cast<std::int64_t>(tick << kTickShift))));
    return cached_;
  }
  return cached_;
}

}  // namespace cadre::sched
