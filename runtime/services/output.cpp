#include "services/output.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <ctime>

#include "cadre/errors.hpp"
#include "node/log.hpp"
#include "services/processes.hpp"

namespace cadre::services {

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

OutputService::OutputService(node::NodeContext& node, ProcessService& processes)
    : core_(node), processes_(processes), mode_(mode_from_env()) {}
OutputService::~OutputService() = default;

// The output classes, each to its handler.
const node::HandlerTable<OutputService>& OutputService::handlers() {
  using S = OutputService;
  using T = node::HandlerTable<S>;
  static const T table{
      T::entry<&S::on_log>(cls::log, "log", node::kToMaster),
      T::entry<&S::on_stat>(cls::stat, "stat", node::kToMaster),
      T::entry<&S::on_progress>(cls::progress, "progress", node::kToMaster),
      T::entry<&S::on_relay>(cls::relay, "relay", node::kFromMaster),
      T::entry<&S::on_relay_request>(cls::relay_request, "relay_request", node::kToMaster),
      T::entry<&S::on_purge>(cls::purge, "purge", node::kFromMaster),
      T::entry<&S::on_purge_ack>(cls::purge_ack, "purge_ack", node::kToMaster),
  };
  return table;
}

std::vector<node::ClassSpec> OutputService::classes() const { return handlers().specs(); }

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
      node::envelope({.cls = cls::log, .src = pid, .dst = Pid{NodeId(0), 0}});
  core_.send(NodeId(0), env, payload.data(), payload.size());
}

void OutputService::send_stat(std::string key, double value) {
  if (core_.is_master()) {
    add_stat(key, value);
    return;
  }
  std::string payload = detail::encode_string(std::make_pair(std::move(key), value));
  const wire::Envelope env = node::envelope({.cls = cls::stat, .dst = Pid{NodeId(0), 0}});
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
  const wire::Envelope env = node::envelope({.cls = cls::progress, .dst = Pid{NodeId(0), 0}});
  core_.send(NodeId(0), env, payload.data(), payload.size());
}

void OutputService::relay(std::uint64_t type_id, std::string payload) {
  if (core_.is_master()) {
    publish_relay(type_id, std::move(payload));
    return;
  }
  const wire::Envelope env =
      node::envelope({.cls = cls::relay_request, .type_id = type_id, .dst = Pid{NodeId(0), 0}});
  core_.send(NodeId(0), env, payload.data(), payload.size());
}

void OutputService::publish_relay(std::uint64_t type_id, std::string payload) {
  RelayRecord r{next_seq_++, type_id, std::move(payload)};
  std::string wire_payload = detail::encode_string(r);
  for (auto n : *core_.table()) {
    if (n.id == core_.self_node() || n.state != NodeState::up) continue;
    const wire::Envelope env =
        node::envelope({.cls = cls::relay, .type_id = type_id, .corr = r.seq, .dst = Pid{n.id, 0}});
    core_.send(n.id, env, wire_payload.data(), wire_payload.size());
  }
  take_relay(std::move(r));
}

void OutputService::take_relay(RelayRecord r) {
  auto it = subscribers_.find(r.type_id);
  if (it != subscribers_.end()) {
    for (auto s = it->second.begin(); s != it->second.end();) {
      Process* p = processes_.find(*s);
      if (!p) {
        s = it->second.erase(s);  // the subscriber ended
        continue;
      }
      detail::Mail m;
      m.type_id = r.type_id;
      m.set_from(Pid{NodeId(0), 0});
      m.payload = r.payload;
      processes_.deliver(*p, std::move(m));
      ++s;
    }
  }
  history_.push_back(std::move(r));
}

void OutputService::load_history(std::vector<RelayRecord> h) {
  for (auto& r : h) take_relay(std::move(r));
}

void OutputService::subscribe(std::uint64_t serial, std::uint64_t type_id) {
  Process* p = processes_.find(serial);
  if (!p) return;
  if (!subscribers_[type_id].insert(serial).second) return;  // already subscribed
  for (auto& r : history_) {
    if (r.type_id != type_id) continue;
    detail::Mail m;
    m.type_id = type_id;
    m.set_from(Pid{NodeId(0), 0});
    m.payload = r.payload;
    processes_.deliver(*p, std::move(m));
  }
}

void OutputService::on_envelope(NodeId src, const wire::Envelope& env, const char* p,
                                std::size_t n) {
  handlers().dispatch(*this, src, env, p, n);
}

void OutputService::on_log(NodeId src, const wire::Envelope&, const char* p, std::size_t n) {
  if (purged(src)) return;
  auto r = detail::decode_as<LogRecord>(p, n);
  if (!r.pid.is_null() && r.pid.node != src)
    throw DecodeError(fmt::format("a log line of {}, which is not on the sending node", r.pid));
  print_line(static_cast<Level>(std::min<std::uint8_t>(r.level, 5)), r.unix_ns, src, r.pid, r.text);
}

void OutputService::on_stat(NodeId src, const wire::Envelope&, const char* p, std::size_t n) {
  if (purged(src)) return;
  auto [k, v] = detail::decode_as<std::pair<std::string, double>>(p, n);
  add_stat(k, v);
}

void OutputService::on_progress(NodeId src, const wire::Envelope&, const char* p, std::size_t n) {
  if (purged(src)) return;
  auto [d, t] = detail::decode_as<std::pair<std::uint64_t, std::uint64_t>>(p, n);
  if (d > t) throw DecodeError(fmt::format("impossible progress: {} done of {}", d, t));
  show_progress(d, t, false);
}

void OutputService::on_relay_request(NodeId, const wire::Envelope& env, const char* p,
                                     std::size_t n) {
  if (core_.is_master()) publish_relay(env.type_id, std::string(p, n));
}

void OutputService::on_relay(NodeId, const wire::Envelope&, const char* p, std::size_t n) {
  take_relay(detail::decode_as<RelayRecord>(p, n));
}

// -- purge (Kind2): output of an earlier phase is dropped -----------------------------------
// Links keep order, so what a node sent before it answers the purge arrives before its answer:
// the master drops a node's output until that answer comes.

void OutputService::purge(std::function<void(std::uint64_t)> done) {
  ++purge_number_;
  purging_.clear();
  purge_dropped_ = 0;
  purge_done_ = std::move(done);
  for (const NodeInfo& i : *core_.table()) {
    if (i.id == core_.self_node() || i.state != NodeState::up) continue;
    purging_.insert(i.id.value());
    const wire::Envelope env = node::envelope({.cls = cls::purge, .corr = purge_number_});
    core_.send(i.id, env, nullptr, 0);
  }
  if (purging_.empty()) purge_answered(NodeId(UINT32_MAX));
}

bool OutputService::purged(NodeId src) {
  if (!purging_.count(src.value())) return false;
  ++purge_dropped_;
  return true;
}

void OutputService::on_purge(NodeId src, const wire::Envelope& env, const char*, std::size_t) {
  const wire::Envelope ack = node::envelope({.cls = cls::purge_ack, .corr = env.corr});
  core_.send(src, ack, nullptr, 0);
}

void OutputService::on_purge_ack(NodeId src, const wire::Envelope& env, const char*, std::size_t) {
  if (env.corr == purge_number_) purge_answered(src);
}

void OutputService::on_node_down(NodeId n) {
  if (purging_.count(n.value())) purge_answered(n);
}

void OutputService::purge_answered(NodeId src) {
  purging_.erase(src.value());
  if (!purging_.empty() || !purge_done_) return;
  auto done = std::move(purge_done_);
  purge_done_ = nullptr;
  done(purge_dropped_);
}

}  // namespace cadre::services
