#include "node/trace_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>

#include "cadre/errors.hpp"

namespace cadre::node::trace {
namespace {

// `s` as the inside of a JSON string: quotes, backslashes and control characters escaped,
// bytes that are not UTF-8 replaced by U+FFFD (a host name or a reason may hold anything).
std::string json_text(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
    } else if (c < 0x20) {
      out += fmt::format("\\u{:04x}", c);
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else {
      const std::size_t len = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
      bool ok = len > 0 && c < 0xf5 && i + len <= s.size();
      for (std::size_t k = 1; ok && k < len; ++k)
        ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
      if (ok) {
        out.append(s.substr(i, len));
        i += len;
      } else {
        out += "\\ufffd";
        ++i;
      }
    }
  }
  return out;
}

// Lanes for spans that may overlap (tasks whose fibers wait, processes that live together):
// each span takes the first lane free at its start.
std::vector<int> lanes(const std::vector<std::pair<std::int64_t, std::int64_t>>& spans) {
  std::vector<int> lane(spans.size(), 0);
  std::vector<std::int64_t> ends;
  for (std::size_t i = 0; i < spans.size(); ++i) {
    auto [t0, t1] = spans[i];
    std::size_t l = 0;
    while (l < ends.size() && ends[l] > t0) ++l;
    if (l == ends.size()) ends.push_back(0);
    ends[l] = t1;
    lane[i] = static_cast<int>(l);
  }
  return lane;
}

constexpr const char* kind_name(std::uint8_t k) {
  switch (static_cast<Kind>(k)) {
    case Kind::task:
      return "task";
    case Kind::process:
      return "process";
    case Kind::driver:
      return "driver";
    case Kind::send:
      return "send";
    case Kind::receive:
      return "receive";
    case Kind::spawn:
      return "spawn";
    case Kind::node_joined:
      return "node_joined";
    case Kind::node_lost:
      return "node_lost";
    case Kind::node_stopped:
      return "node_stopped";
    case Kind::shutdown:
      return "shutdown";
  }
  return "other";
}

}  // namespace

Collector::Collector(std::string path) : path_(std::move(path)) {}

std::uint32_t Collector::intern(const std::string& s) {
  auto it = name_ids_.find(s);
  if (it != name_ids_.end()) return it->second;
  // A node may send many names (each chunk's own): past the cap they all read "?".
  if (name_bytes_ + s.size() > kMaxNameBytes && s != "?") return intern("?");
  name_bytes_ += s.size();
  it = name_ids_.emplace(s, static_cast<std::uint32_t>(names_.size())).first;
  names_.push_back(s);
  return it->second;
}

namespace {

// Why no node records this event (node/trace.cpp's take() writes none such), or "".
std::string bad_event(const Record& r, std::size_t names) {
  const auto k = static_cast<Kind>(r.kind);
  const bool instant = k == Kind::send || k == Kind::receive || k == Kind::node_joined ||
                       k == Kind::node_lost || k == Kind::node_stopped;
  const bool span = k == Kind::task || k == Kind::process || k == Kind::driver ||
                    k == Kind::spawn || k == Kind::shutdown;
  if (!instant && !span) return fmt::format("an unknown kind {}", unsigned(r.kind));
  if (r.name >= names || r.detail >= names)
    return fmt::format("name index {} or {} past its {} names", r.name, r.detail, names);
  if (r.t0 < 0 || r.t0 > kMaxTime) return fmt::format("a time of {} ns", r.t0);
  if (span && (r.dur < 0 || r.dur > kMaxTime)) return fmt::format("a span of {} ns", r.dur);
  if (instant && r.dur != -1) return fmt::format("an instant with a length ({} ns)", r.dur);
  return {};
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  return a > std::numeric_limits<std::uint64_t>::max() - b
             ? std::numeric_limits<std::uint64_t>::max()
             : a + b;
}

}  // namespace

void Collector::add(std::uint32_t node, const Chunk& c) {
  // All checked before anything is kept: a chunk is taken whole or not at all.
  for (std::size_t i = 0; i < c.events.size(); ++i)
    if (std::string why = bad_event(c.events[i], c.names.size()); !why.empty())
      throw DecodeError(
          fmt::format("trace events: event {} of {} has {}", i, c.events.size(), why));
  for (std::size_t i = 0; i < c.counts.size(); ++i)
    if (c.counts[i].t < 0 || c.counts[i].t > kMaxTime)
      throw DecodeError(
          fmt::format("trace events: message counter {} has a time of {} ns", i, c.counts[i].t));
  PerNode& pn = nodes_[node];
  pn.unrecorded = saturating_add(pn.unrecorded, c.unrecorded);
  pn.sampled_out = saturating_add(pn.sampled_out, c.sampled_out);
  // Names are interned when an event kept uses them.
  std::vector<std::uint32_t> ids(c.names.size(), UINT32_MAX);
  auto id = [&](std::uint32_t i) {
    if (ids[i] == UINT32_MAX) ids[i] = intern(c.names[i]);
    return ids[i];
  };
  for (const Record& r : c.events) {
    if (held_ >= kMaxHeld) {
      pn.unrecorded = saturating_add(pn.unrecorded, 1);
      continue;
    }
    pn.events.push_back(Held{r.t0, r.dur, r.n, r.peer, id(r.name), id(r.detail), r.kind, r.cls});
    ++held_;
  }
  // Counter entries count against the same bound (a busy day holds millions of them).
  for (const Count& k : c.counts) {
    if (held_ >= kMaxHeld) {
      pn.unrecorded = saturating_add(pn.unrecorded, 1);
      continue;
    }
    pn.counts.push_back(k);
    ++held_;
  }
}

void Collector::new_round(std::uint32_t node) { nodes_[node].rounds.emplace_back(); }

bool Collector::wants_probe(std::uint32_t node) const {
  auto it = nodes_.find(node);
  return it != nodes_.end() && !it->second.rounds.empty() &&
         it->second.rounds.back().samples < kProbesPerRound;
}

bool Collector::clock_sample(std::uint32_t node, std::int64_t t0, std::int64_t remote,
                             std::int64_t t1) {
  PerNode& pn = nodes_[node];
  if (pn.rounds.empty()) pn.rounds.emplace_back();
  Round& r = pn.rounds.back();
  ++r.samples;
  // The round's count goes on either way: an answer that is no clock's ends no round early
  // and starts no endless probing.
  if (remote < 0 || remote > kMaxTime || t1 < t0 || t0 < 0 || t1 > kMaxTime) return false;
  const std::int64_t rtt = t1 - t0;
  if (r.rtt >= 0 && rtt >= r.rtt) return true;
  r.rtt = rtt;
  r.at = remote;
  r.offset = remote - (t0 + rtt / 2);
  return true;
}

std::int64_t Collector::offset(std::uint32_t node, std::int64_t t) const {
  auto it = nodes_.find(node);
  if (it == nodes_.end() || it->second.same_host) return 0;
  const Round* before = nullptr;
  const Round* after = nullptr;
  for (const Round& r : it->second.rounds) {
    if (r.rtt < 0) continue;
    if (r.at <= t && (!before || r.at > before->at)) before = &r;
    if (r.at > t && (!after || r.at < after->at)) after = &r;
  }
  if (!before) return after ? after->offset : 0;
  if (!after || after->at == before->at) return before->offset;
  const long double f =
      static_cast<long double>(t - before->at) / static_cast<long double>(after->at - before->at);
  return before->offset + static_cast<std::int64_t>(f * (after->offset - before->offset));
}

std::string Collector::write(const std::vector<NodeLabel>& labels) const {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path_.c_str(), "w"), &std::fclose);
  if (!f) return fmt::format("cannot open it for writing: {}", std::strerror(errno));
  std::FILE* out = f.get();
  // On the master's clock (times and offsets within kMaxTime: no overflow).
  auto master_time = [&](std::uint32_t node, std::int64_t t) { return t - offset(node, t); };
  // The run is the master's own first to last moment, give or take kRunMargin: another
  // node's event outside it was placed by a clock no probe measured, or by a forged one.
  std::int64_t run_first = std::numeric_limits<std::int64_t>::max(), run_last = 0;
  if (auto m = nodes_.find(0); m != nodes_.end()) {
    for (const Held& e : m->second.events) {
      run_first = std::min(run_first, e.t0);
      run_last = std::max(run_last, e.t0 + std::max<std::int64_t>(e.dur, 0));
    }
    for (const Count& c : m->second.counts) {
      run_first = std::min(run_first, c.t);
      run_last = std::max(run_last, c.t + kCounterNs);
    }
  }
  const bool bounded = run_first <= run_last;
  auto inside = [&](std::uint32_t node, std::int64_t t0, std::int64_t t1) {
    return !bounded || node == 0 ||
           (master_time(node, t0) >= run_first - kRunMargin &&
            master_time(node, t1) <= run_last + kRunMargin);
  };
  auto end_of = [](const Held& e) { return e.t0 + std::max<std::int64_t>(e.dur, 0); };
  // The earliest moment of the run, on the master's clock, is time 0.
  std::int64_t origin = std::numeric_limits<std::int64_t>::max();
  std::uint64_t outside = 0;
  for (auto& [node, pn] : nodes_) {
    for (const Held& e : pn.events) {
      if (inside(node, e.t0, end_of(e)))
        origin = std::min(origin, master_time(node, e.t0));
      else
        ++outside;
    }
    for (const Count& c : pn.counts) {
      if (inside(node, c.t, c.t + kCounterNs))
        origin = std::min(origin, master_time(node, c.t));
      else
        ++outside;
    }
  }
  if (origin == std::numeric_limits<std::int64_t>::max()) origin = 0;
  auto ts = [&](std::uint32_t node, std::int64_t t) {
    return static_cast<double>(master_time(node, t) - origin) / 1000.0;
  };
  std::uint64_t unrecorded = dropped_, sampled_out = 0;
  std::string clocks;
  for (auto& [node, pn] : nodes_) {
    unrecorded = saturating_add(unrecorded, pn.unrecorded);
    sampled_out = saturating_add(sampled_out, pn.sampled_out);
    const Round* best = nullptr;
    for (const Round& r : pn.rounds)
      if (r.rtt >= 0 && (!best || r.rtt < best->rtt)) best = &r;
    if (node != 0)
      clocks += fmt::format(
          "{}\"{}\":{{\"offset_us\":{:.3f},\"uncertainty_us\":{:.3f},\"rounds\":{},"
          "\"same_host_as_master\":{}}}",
          clocks.empty() ? "" : ",", node, best ? static_cast<double>(best->offset) / 1000.0 : 0.0,
          best ? static_cast<double>(best->rtt) / 2000.0 : -1.0, pn.rounds.size(),
          pn.same_host ? "true" : "false");
  }
  fmt::print(out,
             "{{\"displayTimeUnit\":\"ms\",\"otherData\":{{\"producer\":\"cadre\","
             "\"clock_offsets\":{{{}}},\"unrecorded_events\":{},\"sampled_out_messages\":{},"
             "\"events_outside_the_run\":{},"
             "\"message_sampling\":\"the first {} messages a second on each node, then 1 in {}; "
             "the messages counter counts all\"}},\n\"traceEvents\":[\n",
             clocks, unrecorded, sampled_out, outside, kMessagesPerSecond, kSampleAbove);
  bool first = true;
  auto line = [&](const std::string& s) {
    fmt::print(out, "{}{}", first ? "" : ",\n", s);
    first = false;
  };
  for (const NodeLabel& l : labels) {
    line(fmt::format(R"({{"ph":"M","name":"process_name","pid":{},"args":{{"name":"{}"}}}})", l.id,
                     json_text(l.name)));
    line(fmt::format(
        R"({{"ph":"M","name":"process_sort_index","pid":{},"args":{{"sort_index":{}}}}})", l.id,
        l.id));
  }
  for (auto& [node, pn] : nodes_) {
    std::vector<const Held*> evs;
    evs.reserve(pn.events.size());
    for (const Held& e : pn.events)
      if (inside(node, e.t0, end_of(e))) evs.push_back(&e);
    // By time, then in the order they came (the pointers run along one vector).
    std::sort(evs.begin(), evs.end(),
              [](const Held* a, const Held* b) { return a->t0 != b->t0 ? a->t0 < b->t0 : a < b; });
    // Tasks and processes get lanes of their own kind; the rest share lane 0.
    std::vector<std::pair<std::int64_t, std::int64_t>> task_spans, proc_spans;
    for (const Held* e : evs) {
      if (e->kind == static_cast<std::uint8_t>(Kind::task))
        task_spans.emplace_back(e->t0, e->t0 + e->dur);
      if (e->kind == static_cast<std::uint8_t>(Kind::process))
        proc_spans.emplace_back(e->t0, e->t0 + e->dur);
    }
    const std::vector<int> task_lane = lanes(task_spans), proc_lane = lanes(proc_spans);
    int task_lanes = 0, proc_lanes = 0;
    for (int l : task_lane) task_lanes = std::max(task_lanes, l + 1);
    for (int l : proc_lane) proc_lanes = std::max(proc_lanes, l + 1);
    line(fmt::format(
        R"({{"ph":"M","name":"thread_name","pid":{},"tid":0,"args":{{"name":"node"}}}})", node));
    for (int l = 0; l < task_lanes; ++l)
      line(fmt::format(
          R"({{"ph":"M","name":"thread_name","pid":{},"tid":{},"args":{{"name":"tasks {}"}}}})",
          node, 10 + l, l + 1));
    for (int l = 0; l < proc_lanes; ++l)
      line(fmt::format(
          R"({{"ph":"M","name":"thread_name","pid":{},"tid":{},"args":{{"name":"processes {}"}}}})",
          node, 100000 + l, l + 1));
    std::size_t ti = 0, pi = 0;
    for (const Held* e : evs) {
      const auto k = static_cast<Kind>(e->kind);
      const std::string name = json_text(names_[e->name]);
      const double t = ts(node, e->t0);
      const double dur = static_cast<double>(std::max<std::int64_t>(e->dur, 0)) / 1000.0;
      switch (k) {
        case Kind::task:
          line(fmt::format(
              R"({{"ph":"X","cat":"task","name":"{}","pid":{},"tid":{},"ts":{:.3f},"dur":{:.3f},"args":{{"inputs":{}}}}})",
              name, node, 10 + task_lane[ti++], t, dur, e->n));
          break;
        case Kind::process:
          line(fmt::format(
              R"({{"ph":"X","cat":"process","name":"{}","pid":{},"tid":{},"ts":{:.3f},"dur":{:.3f},"args":{{"pid":"<{}.{}>","reason":"{}"}}}})",
              name, node, 100000 + proc_lane[pi++], t, dur, node, e->n,
              json_text(names_[e->detail])));
          break;
        case Kind::driver:
        case Kind::spawn:
        case Kind::shutdown:
          line(fmt::format(
              R"({{"ph":"X","cat":"{}","name":"{}","pid":{},"tid":0,"ts":{:.3f},"dur":{:.3f},"args":{{"count":{}}}}})",
              kind_name(e->kind), k == Kind::spawn ? "spawn_nodes" : kind_name(e->kind), node, t,
              dur, e->n));
          break;
        case Kind::send:
        case Kind::receive:
          line(fmt::format(
              R"({{"ph":"i","s":"t","cat":"message","name":"{} {}","pid":{},"tid":0,"ts":{:.3f},"args":{{"{}":{},"bytes":{}}}}})",
              kind_name(e->kind), name, node, t, k == Kind::send ? "to" : "from", e->peer, e->n));
          break;
        case Kind::node_joined:
        case Kind::node_lost:
        case Kind::node_stopped:
          line(fmt::format(
              R"({{"ph":"i","s":"g","cat":"node","name":"node {} {}","pid":{},"tid":0,"ts":{:.3f},"args":{{"node":{},"why":"{}"}}}})",
              e->peer,
              k == Kind::node_lost     ? "lost"
              : k == Kind::node_joined ? "joined"
                                       : "stopped",
              node, t, e->peer, name));
          break;
      }
    }
    // The message counters, with a zero after each quiet gap so the graph falls back.
    for (std::size_t i = 0; i < pn.counts.size(); ++i) {
      const Count& c = pn.counts[i];
      if (!inside(node, c.t, c.t + kCounterNs)) continue;
      line(fmt::format(
          R"({{"ph":"C","cat":"message","name":"messages","pid":{},"ts":{:.3f},"args":{{"sent":{},"received":{}}}}})",
          node, ts(node, c.t), c.sent, c.received));
      if (i + 1 == pn.counts.size() || pn.counts[i + 1].t != c.t + kCounterNs)
        line(fmt::format(
            R"({{"ph":"C","cat":"message","name":"messages","pid":{},"ts":{:.3f},"args":{{"sent":0,"received":0}}}})",
            node, ts(node, c.t + kCounterNs)));
    }
  }
  fmt::print(out, "\n]}}\n");
  if (std::ferror(out)) return fmt::format("writing it failed: {}", std::strerror(errno));
  std::FILE* raw = f.release();
  if (std::fclose(raw) != 0) return fmt::format("closing it failed: {}", std::strerror(errno));
  return {};
}

}  // namespace cadre::node::trace
