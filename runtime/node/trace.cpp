#include "node/trace.hpp"

#include <algorithm>
#include <ctime>
#include <map>
#include <utility>

namespace cadre::node::trace {
namespace {

struct Recorder {
  std::mutex mu;
  std::vector<Event> events;
  std::vector<std::string> texts;
  std::vector<Count> counts;
  std::uint64_t unrecorded = 0, sampled_out = 0;
  // Sampling: the end of the second under way, and the messages recorded in it.
  std::int64_t window_end = 0;
  std::uint32_t in_window = 0, skipped = 0;

  void add(const Event& e) {
    if (events.size() >= kMaxEvents) {
      ++unrecorded;
      return;
    }
    events.push_back(e);
  }
};

Recorder& recorder() {
  static Recorder r;
  return r;
}

}  // namespace

void enable(bool on) { g_on.store(on, std::memory_order_relaxed); }

void span(Kind k, std::int64_t t0, std::uint64_t id, std::uint64_t n, std::uint8_t cls) {
  const std::int64_t t1 = now_ns();
  Recorder& r = recorder();
  std::lock_guard lock(r.mu);
  r.add(Event{t0, t1 - t0, id, n, 0, k, cls, 0});
}

void instant(Kind k, std::uint32_t peer, std::string_view text) {
  const std::int64_t t = now_ns();
  Recorder& r = recorder();
  std::lock_guard lock(r.mu);
  std::uint16_t index = 0;
  if (!text.empty() && r.texts.size() < 60000) {
    r.texts.emplace_back(text);
    index = static_cast<std::uint16_t>(r.texts.size());
  }
  r.add(Event{t, -1, 0, 0, peer, k, 0, index});
}

void message(Kind k, std::uint32_t peer, std::uint8_t cls, std::uint64_t bytes) {
  // The counters and the sampling window need no better than the coarse clock (a few ms, and
  // a quarter of the cost); only a message that is recorded reads the precise one.
  timespec coarse{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &coarse);
  const std::int64_t t = std::int64_t{coarse.tv_sec} * 1'000'000'000 + coarse.tv_nsec;
  Recorder& r = recorder();
  std::lock_guard lock(r.mu);
  // Divisions only when an interval or a second ends (a flood pays for none of them).
  if (r.counts.empty() || t >= r.counts.back().t + kCounterNs)
    r.counts.push_back(Count{t / kCounterNs * kCounterNs, 0, 0});
  ++(k == Kind::send ? r.counts.back().sent : r.counts.back().received);
  if (t >= r.window_end) {
    r.window_end = (t / 1'000'000'000 + 1) * 1'000'000'000;
    r.in_window = 0;
    r.skipped = 0;
  }
  if (r.in_window < kMessagesPerSecond) {
    ++r.in_window;
  } else if (++r.skipped % kSampleAbove != 0) {
    ++r.sampled_out;
    return;
  }
  r.add(Event{now_ns(), -1, cls, bytes, peer, k, cls, 0});
}

Chunk take(const Names& names, bool last) {
  std::vector<Event> events;
  std::vector<std::string> texts;
  Chunk c;
  {
    Recorder& r = recorder();
    std::lock_guard lock(r.mu);
    events.swap(r.events);
    texts.swap(r.texts);
    c.counts.swap(r.counts);
    // The counter interval under way goes on: it is shipped when it is complete (or with the
    // last chunk, as nothing follows it).
    if (!last && !c.counts.empty() && c.counts.back().t + kCounterNs > now_ns()) {
      r.counts.push_back(c.counts.back());
      c.counts.pop_back();
    }
    c.unrecorded = std::exchange(r.unrecorded, 0);
    c.sampled_out = std::exchange(r.sampled_out, 0);
  }
  std::map<std::string, std::uint32_t> index;
  auto name = [&](std::string s) {
    auto [it, added] = index.emplace(std::move(s), static_cast<std::uint32_t>(c.names.size()));
    if (added) c.names.push_back(it->first);
    return it->second;
  };
  // Bodies and classes are named once per chunk, not once per event.
  std::map<std::pair<int, std::uint64_t>, std::uint32_t> known;
  c.events.reserve(events.size());
  for (const Event& e : events) {
    Record rec{e.t0, e.dur, e.n, e.peer, 0, 0, static_cast<std::uint8_t>(e.kind), e.cls};
    if (e.kind == Kind::process) {
      auto key = std::make_pair(2, std::uint64_t{e.cls});
      auto it = known.find(key);
      if (it == known.end()) it = known.emplace(key, name(names.reason(e.cls))).first;
      rec.detail = it->second;
    }
    if (e.text > 0 && e.text <= texts.size()) {
      rec.name = name(texts[e.text - 1]);
    } else if (e.kind == Kind::task || e.kind == Kind::process || e.kind == Kind::send ||
               e.kind == Kind::receive) {
      const bool message = e.kind == Kind::send || e.kind == Kind::receive;
      auto key = std::make_pair(message ? 1 : 0, e.id);
      auto it = known.find(key);
      if (it == known.end()) {
        std::string s =
            message ? names.envelope_class(static_cast<std::uint8_t>(e.id)) : names.body(e.id);
        it = known.emplace(key, name(std::move(s))).first;
      }
      rec.name = it->second;
    } else {
      rec.name = name("");
    }
    c.events.push_back(rec);
  }
  return c;
}

std::vector<Chunk> split(Chunk c, std::size_t max_events) {
  max_events = std::max<std::size_t>(1, max_events);
  std::vector<Chunk> out;
  if (c.events.size() <= max_events && c.counts.size() <= max_events) {
    out.push_back(std::move(c));
    return out;
  }
  // Counters are cut like events: a loop held up for minutes has many of them.
  const std::size_t n = std::max(c.events.size(), c.counts.size());
  for (std::size_t first = 0; first < n; first += max_events) {
    Chunk piece;
    piece.names = c.names;
    auto slice = [&](const auto& from, auto& to) {
      if (first >= from.size()) return;
      const std::size_t last = std::min(from.size(), first + max_events);
      to.assign(from.begin() + static_cast<std::ptrdiff_t>(first),
                from.begin() + static_cast<std::ptrdiff_t>(last));
    };
    slice(c.events, piece.events);
    slice(c.counts, piece.counts);
    if (first == 0) {
      piece.unrecorded = c.unrecorded;
      piece.sampled_out = c.sampled_out;
    }
    out.push_back(std::move(piece));
  }
  return out;
}

}  // namespace cadre::node::trace
