#include "services/output.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <ctime>

#include "cadre/control.hpp"
#include "cadre/errors.hpp"
#include "node/log.hpp"
#include "node/terminal.hpp"
#include "services/processes.hpp"

namespace cadre::services {

using SteadyClock = std::chrono::steady_clock;

namespace {

struct LogWire {
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

// cadre::print goes to stdout, unless stdout and the live line's stderr end in one terminal:
// two pipes through mpirun keep no order between them, so the printed lines then travel on
// stderr, in order with the live line (cadre-run sets CADRE_PRINT=stderr).
std::FILE* print_stream_from_env() {
  const char* v = std::getenv("CADRE_PRINT");
  return v && std::string_view(v) == "stderr" ? stderr : stdout;
}

std::string clock_text(std::int64_t unix_ns) {
  std::time_t secs = static_cast<std::time_t>(unix_ns / 1000000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unix_ns / 1000000) % 1000);
}

}  // namespace

OutputService::OutputService(node::NodeContext& node, ProcessService& processes)
    : core_(node),
      processes_(processes),
      mode_(mode_from_env()),
      print_stream_(print_stream_from_env()),
      board_(mode_) {}
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
      T::entry<&S::on_print>(cls::print, "print", node::kToMaster),
  };
  return table;
}

std::vector<node::ClassSpec> OutputService::classes() const { return handlers().specs(); }

// -- master ---------------------------------------------------------------------------------

void OutputService::print_line(Level level, std::int64_t unix_ns, NodeId node, Pid pid,
                               const std::string& text) {
  std::string name = fmt::format("node{}", node.value());
  auto t = core_.table();
  for (auto& i : *t)
    if (i.id == node) name = i.name;
  node::write_lines(stderr, fmt::format("{} {} {} {}: {}\n", clock_text(unix_ns), name, pid,
                                        to_string(level), text));
  if (!output_subscribers_.empty())
    to_output_subscribers(detail::message_type_id<LogRecord>(),
                          detail::encode_string(LogRecord{node, pid, level, unix_ns, text}));
}

void OutputService::print_text(const std::string& text) {
  node::write_lines(print_stream_, text + "\n");
}

void OutputService::add_stat(NodeId node, const std::string& key, double value) {
  {
    std::lock_guard lock(stats_mu_);
    stats_[key] += value;
  }
  if (!output_subscribers_.empty())
    to_output_subscribers(detail::message_type_id<StatRecord>(),
                          detail::encode_string(StatRecord{node, key, value}));
}

std::map<std::string, double> OutputService::stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

void OutputService::show_progress(NodeId node, Pid sender, std::uint64_t done,
                                  std::uint64_t total) {
  if (!output_subscribers_.empty())
    to_output_subscribers(detail::message_type_id<ProgressRecord>(),
                          detail::encode_string(ProgressRecord{node, sender, done, total}));
  // A node's threads and map jobs report as one sender, named by the node.
  const Pid key = sender.is_null() ? Pid{node, 0} : sender;
  auto show = board_.report(key, done, total, SteadyClock::now());
  if (!show) return;
  if (mode_ == ProgressMode::live) {
    node::show_live_line(show->text);
    if (show->finished) node::end_live_line(true);  // the 100% line stays
  } else {
    node::write_lines(stderr, show->text + "\n");
  }
}

void OutputService::subscribe_output(std::uint64_t serial, bool on) {
  if (on)
    output_subscribers_.insert(serial);
  else
    output_subscribers_.erase(serial);
}

void OutputService::to_output_subscribers(std::uint64_t type_id, const std::string& payload) {
  for (auto s = output_subscribers_.begin(); s != output_subscribers_.end();) {
    Process* p = processes_.find(*s);
    if (!p) {
      s = output_subscribers_.erase(s);  // the subscriber ended
      continue;
    }
    detail::Mail m;
    m.type_id = type_id;
    m.set_from(Pid{NodeId(0), 0});
    m.payload.assign(payload.data(), payload.size());
    processes_.deliver(*p, std::move(m));
    ++s;
  }
}

void OutputService::finish() {
  node::end_live_line(false);
  auto s = stats();
  if (s.empty()) return;
  std::size_t w = 4;
  for (auto& [k, v] : s) w = std::max(w, k.size());
  std::string table = fmt::format("cadre: statistics\n  {:<{}}  {:>14}\n", "name", w, "sum");
  for (auto& [k, v] : s) table += fmt::format("  {:<{}}  {:>14.6g}\n", k, w, v);
  node::write_lines(stderr, table);
}

// -- every node -----------------------------------------------------------------------------

void OutputService::send_log(Level level, std::int64_t unix_ns, Pid pid, std::string text) {
  if (core_.is_master()) {
    print_line(level, unix_ns, core_.self_node(), pid, text);
    return;
  }
  std::string payload = detail::encode_string(
      LogWire{static_cast<std::uint8_t>(level), unix_ns, pid, std::move(text)});
  const wire::Envelope env =
      node::envelope({.cls = cls::log, .src = pid, .dst = Pid{NodeId(0), 0}});
  core_.send(NodeId(0), env, payload.data(), payload.size());
}

void OutputService::send_print(Pid pid, std::string text) {
  if (core_.is_master()) {
    print_text(text);
    return;
  }
  const wire::Envelope env =
      node::envelope({.cls = cls::print, .src = pid, .dst = Pid{NodeId(0), 0}});
  core_.send(NodeId(0), env, text.data(), text.size());
}

void OutputService::send_stat(std::string key, double value) {
  if (core_.is_master()) {
    add_stat(core_.self_node(), key, value);
    return;
  }
  std::string payload = detail::encode_string(std::make_pair(std::move(key), value));
  const wire::Envelope env = node::envelope({.cls = cls::stat, .dst = Pid{NodeId(0), 0}});
  core_.send(NodeId(0), env, payload.data(), payload.size());
}

void OutputService::send_progress(Pid sender, std::uint64_t done, std::uint64_t total) {
  // Rate limit at the sender, per sender: at most ten reports a second, and always the last.
  const auto now = SteadyClock::now();
  auto& last = last_sent_[sender.serial];
  if (done < total && now - last < std::chrono::milliseconds(100)) return;
  last = now;
  if (done >= total) last_sent_.erase(sender.serial);
  if (core_.is_master()) {
    show_progress(core_.self_node(), sender, done, total);
    return;
  }
  std::string payload = detail::encode_string(std::make_pair(done, total));
  const wire::Envelope env =
      node::envelope({.cls = cls::progress, .src = sender, .dst = Pid{NodeId(0), 0}});
  core_.send(NodeId(0), env, payload.data(), payload.size());
}

void OutputService::on_envelope(NodeId src, const wire::Envelope& env, const char* p,
                                std::size_t n) {
  handlers().dispatch(*this, src, env, p, n);
}

void OutputService::on_log(NodeId src, const wire::Envelope&, const char* p, std::size_t n) {
  if (purged(src)) return;
  auto r = detail::decode_as<LogWire>(p, n);
  if (!r.pid.is_null() && r.pid.node != src)
    throw DecodeError(fmt::format("a log line of {}, which is not on the sending node", r.pid));
  print_line(static_cast<Level>(std::min<std::uint8_t>(r.level, 5)), r.unix_ns, src, r.pid, r.text);
}

void OutputService::on_print(NodeId src, const wire::Envelope&, const char* p, std::size_t n) {
  if (purged(src)) return;
  print_text(std::string(p, n));
}

void OutputService::on_stat(NodeId src, const wire::Envelope&, const char* p, std::size_t n) {
  if (purged(src)) return;
  auto [k, v] = detail::decode_as<std::pair<std::string, double>>(p, n);
  add_stat(src, k, v);
}

void OutputService::on_progress(NodeId src, const wire::Envelope& env, const char* p,
                                std::size_t n) {
  if (purged(src)) return;
  auto [d, t] = detail::decode_as<std::pair<std::uint64_t, std::uint64_t>>(p, n);
  if (d > t) throw DecodeError(fmt::format("impossible progress: {} done of {}", d, t));
  if (!env.src.is_null() && env.src.node != src)
    throw DecodeError(fmt::format("progress of {}, which is not on the sending node", env.src));
  show_progress(src, env.src, d, t);
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
