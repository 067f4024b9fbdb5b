#include "services/output.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <ctime>

#include "cadre/control.hpp"
#include "cadre/errors.hpp"
#include "node/core.hpp"
#include "services/processes.hpp"

namespace cadre::services {

using node::Cls;
using SteadyClock = std::chrono::steady_clock;

namespace {

struct LogRecord {
  std::uint8_t level = 0;
  std::int64_t unix_ns = 0;
  Pid pid;
  std::string text;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& level& unix_ns& pid& text;
  }
};

ProgressMode mode_from_env() {
  const char* v = std::getenv("CADRE_PROGRESS");
  std::string s = v ? v : "";
  if (s == "live") return ProgressMode::live;
  if (s == "off") return ProgressMode::off;
  return ProgressMode::lines;  // under mpirun stderr is a pipe: cadre-run says when it is not
}

std::string clock_text(std::int64_t unix_ns) {
  std::time_t secs = static_cast<std::time_t>(unix_ns / 1000000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unix_ns / 1000000) % 1000);
}

std::string duration_text(double secs) {
  if (!(secs >= 0) || secs > 1e7) return "?";
  auto s = static_cast<long>(secs + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

}  // namespace

OutputService::OutputService(node::Core& core) : core_(core), mode_(mode_from_env()) {}
OutputService::~OutputService() = default;

// -- master ---------------------------------------------------------------------------------

void OutputService::clear_progress_line() {
  if (mode_ == ProgressMode::live && shown_.visible) {
    std::fputs("\r\033[K", stderr);
    shown_.visible = false;
  }
}

void OutputService::print_line(Level level, std::int64_t unix_ns, NodeId node, Pid pid,
                               const std::string& text) {
  std::string name = fmt::format("node{}", node.value());
  auto t = core_.table();
  for (auto& i : *t)
    if (i.id == node) name = i.name;
  std::string line =
      fmt::format("{} {} {} {}: {}\n", clock_text(unix_ns), name, pid, to_string(level), text);
  clear_progress_line();
  std::fwrite(line.data(), 1, line.size(), stderr);
  if (mode_ == ProgressMode::live && shown_.total) draw_progress();
  std::fflush(stderr);
}

void OutputService::add_stat(const std::string& key, double value) {
  std::lock_guard lock(stats_mu_);
  stats_[key] += value;
}

std::map<std::string, double> OutputService::stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

void OutputService::draw_progress() {
  const auto now = SteadyClock::now();
  const double pct = shown_.total ? 100.0 * double(shown_.done) / double(shown_.total) : 0;
  const double secs = std::chrono::duration<double>(now - shown_.first).count();
  const double rate = secs > 0 ? double(shown_.done - shown_.first_done) / secs : 0;
  const double eta = rate > 0 ? double(shown_.total - shown_.done) / rate : -1;
  std::string text;
  if (mode_ == ProgressMode::live) {
    const int width = 30;
    int filled = static_cast<int>(pct / 100.0 * width + 0.5);
    text = fmt::format("\r\033[K[{}{}] {:5.1f}% {}/{} {:.3g}/s ETA {}", std::string(filled, '#'),
                       std::string(width - filled, '-'), pct, shown_.done, shown_.total, rate,
                       duration_text(eta));
    shown_.visible = true;
  } else {
    text = fmt::format("progress: {:.1f}% ({}/{}) {:.3g}/s ETA {}\n", pct, shown_.done,
                       shown_.total, rate, duration_text(eta));
  }
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
  shown_.last_draw = now;
}

void OutputService::show_progress(std::uint64_t done, std::uint64_t total, bool force) {
  if (mode_ == ProgressMode::off || total == 0) return;
  const auto now = SteadyClock::now();
  if (total != shown_.total || done < shown_.first_done) {
    shown_ = Shown{};
    shown_.first = now;
    shown_.first_done = done;
  }
  shown_.done = done;
  shown_.total = total;
  const auto every = mode_ == ProgressMode::live ? std::chrono::milliseconds(100)
                                                 : std::chrono::milliseconds(1000);
  if (force || done >= total || now - shown_.last_draw >= every) draw_progress();
  if (done >= total) {
    if (mode_ == ProgressMode::live && shown_.visible) std::fputs("\n", stderr);
    shown_ = Shown{};  // finished: log lines no longer redraw it
  }
}

void OutputService::finish() {
  clear_progress_line();
  auto s = stats();
  if (s.empty()) return;
  std::size_t w = 4;
  for (auto& [k, v] : s) w = std::max(w, k.size());
  std::string table = fmt::format("cadre: statistics\n  {:<{}}  {:>14}\n", "name", w, "sum");
  for (auto& [k, v] : s) table += fmt::format("  {:<{}}  {:>14.6g}\n", k, w, v);
  std::fwrite(table.data(), 1, table.size(), stderr);
  std::fflush(stderr);
}

// -- every node -----------------------------------------------------------------------------

void OutputService::send_log(Level level, std::int64_t unix_ns, Pid pid, std::string text) {
  if (core_.is_master()) {
    print_line(level, unix_ns, core_.self_node(), pid, text);
    return;
  }
  std::string payload = detail::encode_string(
      LogRecord{static_cast<std::uint8_t>(level), unix_ns, pid, std::move(text)});
  const wire::Envelope env =
      node::envelope({.cls = Cls::log, .src = pid, .dst = Pid{NodeId(0), 0}});
  core_.send(NodeId(0), env, payload.data(), payload.size());
}

void OutputService::send_stat(std::string key, double value) {
  if (core_.is_master()) {
    add_stat(key, value);
    return;
  }
  std::string payload = detail::encode_string(std::make_pair(std::move(key), value));
  const wire::Envelope env = node::envelope({.cls = Cls::stat, .dst = Pid{NodeId(0), 0}});
  core_.send(NodeId(0), env, payload.data(), payload.size());
}

void OutputService::send_progress(std::uint64_t done, std::uint64_t total) {
  // Rate limit at the sender: at most ten reports a second, and always the last one.
  const auto now = SteadyClock::now();
  if (done < total && now - last_sent_ < std::chrono::milliseconds(100)) return;
  last_sent_ = now;
  if (core_.is_master()) {
    show_progress(done, total, false);
    return;
  }
  std::string payload = detail::encode_string(std::make_pair(done, total));
  const wire::Envelope env = node::envelope({.cls = Cls::progress, .dst = Pid{NodeId(0), 0}});
  core_.send(NodeId(0), env, payload.data(), payload.size());
}

void OutputService::relay(std::uint64_t type_id, std::string payload) {
  if (core_.is_master()) {
    publish_relay(type_id, std::move(payload));
    return;
  }
  const wire::Envelope env =
      node::envelope({.cls = Cls::relay_request, .type_id = type_id, .dst = Pid{NodeId(0), 0}});
  core_.send(NodeId(0), env, payload.data(), payload.size());
}

void OutputService::publish_relay(std::uint64_t type_id, std::string payload) {
  RelayRecord r{next_seq_++, type_id, std::move(payload)};
  std::string wire_payload = detail::encode_string(r);
  for (auto n : *core_.table()) {
    if (n.id == core_.self_node() || n.state != NodeState::up) continue;
    const wire::Envelope env =
        node::envelope({.cls = Cls::relay, .type_id = type_id, .corr = r.seq, .dst = Pid{n.id, 0}});
    core_.send(n.id, env, wire_payload.data(), wire_payload.size());
  }
  take_relay(std::move(r));
}

void OutputService::take_relay(RelayRecord r) {
  auto it = subscribers_.find(r.type_id);
  if (it != subscribers_.end()) {
    for (auto s = it->second.begin(); s != it->second.end();) {
      Process* p = core_.processes().find(*s);
      if (!p) {
        s = it->second.erase(s);  // the subscriber ended
        continue;
      }
      detail::Mail m;
      m.type_id = r.type_id;
      m.set_from(Pid{NodeId(0), 0});
      m.payload = r.payload;
      core_.processes().deliver(*p, std::move(m));
      ++s;
    }
  }
  history_.push_back(std::move(r));
}

void OutputService::load_history(std::vector<RelayRecord> h) {
  for (auto& r : h) take_relay(std::move(r));
}

void OutputService::subscribe(std::uint64_t serial, std::uint64_t type_id) {
  Process* p = core_.processes().find(serial);
  if (!p) return;
  if (!subscribers_[type_id].insert(serial).second) return;  // already subscribed
  for (auto& r : history_) {
    if (r.type_id != type_id) continue;
    detail::Mail m;
    m.type_id = type_id;
    m.set_from(Pid{NodeId(0), 0});
    m.payload = r.payload;
    core_.processes().deliver(*p, std::move(m));
  }
}

void OutputService::on_envelope(NodeId src, const wire::Envelope& env, const char* p,
                                std::size_t n) {
  switch (static_cast<Cls>(env.cls)) {
    case Cls::log: {
      auto r = detail::decode_as<LogRecord>(p, n);
      if (!r.pid.is_null() && r.pid.node != src)
        throw DecodeError(fmt::format("a log line of {}, which is not on the sending node", r.pid));
      print_line(static_cast<Level>(std::min<std::uint8_t>(r.level, 5)), r.unix_ns, src, r.pid,
                 r.text);
      return;
    }
    case Cls::stat: {
      auto [k, v] = detail::decode_as<std::pair<std::string, double>>(p, n);
      add_stat(k, v);
      return;
    }
    case Cls::progress: {
      auto [d, t] = detail::decode_as<std::pair<std::uint64_t, std::uint64_t>>(p, n);
      if (d > t) throw DecodeError(fmt::format("impossible progress: {} done of {}", d, t));
      show_progress(d, t, false);
      return;
    }
    case Cls::relay_request:
      if (core_.is_master()) publish_relay(env.type_id, std::string(p, n));
      return;
    case Cls::relay:
      take_relay(detail::decode_as<RelayRecord>(p, n));
      return;
    default:
      return;
  }
}

}  // namespace cadre::services

// -- the public API -------------------------------------------------------------------------

namespace cadre {
namespace {
node::Core& core() { return node::Core::get(); }
std::int64_t unix_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

namespace detail {

bool log_enabled(Level l) {
  auto* c = node::Core::try_get();
  if (!c) return l >= Level::info && l != Level::off;
  return l != Level::off && l >= c->options().log_level;
}

void log_line(Level l, std::string message) {
  auto* c = node::Core::try_get();
  if (!c) {
    node::log_local(l, message);
    return;
  }
  Pid pid = self();
  std::int64_t t = unix_now_ns();
  c->execute([c, l, t, pid, message = std::move(message)]() mutable {
    c->output().send_log(l, t, pid, std::move(message));
  });
}

void relay_encoded(std::uint64_t type_id, ByteBuffer&& payload) {
  auto& c = core();
  c.execute([&c, type_id, payload = std::string(payload.data(), payload.size())]() mutable {
    c.output().relay(type_id, std::move(payload));
  });
}

void subscribe_relay_id(std::uint64_t type_id) {
  Pid me = self();
  if (me.is_null())
    throw WrongRole("cadre::subscribe_relay: only processes and the driver have mailboxes");
  auto& c = core();
  auto done = std::make_shared<ResultState<bool>>(1);
  c.execute([&c, me, type_id, done] {
    c.output().subscribe(me.serial, type_id);
    done->set_value(0, true);
    done->complete();
  });
  wait_state(done.get(), std::nullopt);
}

}  // namespace detail

void stat(std::string_view key, double value) {
  auto& c = core();
  c.execute(
      [&c, k = std::string(key), value]() mutable { c.output().send_stat(std::move(k), value); });
}

std::map<std::string, double> stats() {
  auto& c = core();
  if (!c.is_master())
    throw WrongRole("cadre::stats: the statistics are summed on the master; call it there");
  return c.output().stats();
}

void progress(std::uint64_t done, std::uint64_t total) {
  auto& c = core();
  c.execute([&c, done, total] { c.output().send_progress(done, total); });
}

std::chrono::nanoseconds ping(NodeId node, std::chrono::milliseconds timeout) {
  auto& c = core();
  c.check_node(node, "cadre::ping");
  auto st = std::make_shared<detail::ResultState<std::int64_t>>(1);
  c.execute([&c, node, st] { c.ping(node, st); });
  if (!detail::wait_state(st.get(), detail::deadline_after(timeout)))
    throw Timeout(fmt::format("cadre::ping: {} did not answer within {} ms", c.describe(node),
                              timeout.count()));
  return std::chrono::nanoseconds(st->value(0));
}

void terminate(NodeId node) {
  auto& c = core();
  c.check_node(node, "cadre::terminate");
  c.execute([&c, node] {
    if (node == c.self_node()) {
      c.request_termination();
      return;
    }
    const wire::Envelope env = node::envelope({.cls = node::Cls::terminate, .dst = Pid{node, 0}});
    c.send(node, env, nullptr, 0);
  });
}

bool check_termination() {
  auto* c = node::Core::try_get();
  return c && c->termination_requested();
}

}  // namespace cadre
