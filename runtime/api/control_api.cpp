// The bodies of include/cadre/control.hpp: log lines, relays, statistics, progress (through
// the output service), and ping, terminate and check_termination (the node's own).

#include <fmt/format.h>

#include <chrono>
#include <cstdio>

#include "api/node_services.hpp"
#include "cadre/control.hpp"
#include "cadre/errors.hpp"

namespace cadre {
namespace {
node::Core& core() { return node::Core::get(); }
std::int64_t unix_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
// Runs `f` on the node loop and waits for its value. The calling thread blocks.
template <class R, class F>
R on_loop(F f) {
  auto& c = node::Core::get();
  auto st = std::make_shared<detail::ResultState<R>>(1);
  c.execute([st, f = std::move(f)]() mutable {
    st->set_value(0, f());
    st->complete();
  });
  detail::wait_state(st.get(), std::nullopt);
  return st->value(0);
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
    api::output().send_log(l, t, pid, std::move(message));
  });
}

void print_text(std::string text) {
  auto* c = node::Core::try_get();
  if (!c) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    return;
  }
  Pid pid = self();
  c->execute(
      [pid, text = std::move(text)]() mutable { api::output().send_print(pid, std::move(text)); });
}

void relay_encoded(std::uint64_t type_id, ByteBuffer&& payload) {
  auto& c = core();
  c.execute([&c, type_id, payload = std::string(payload.data(), payload.size())]() mutable {
    api::output().relay(type_id, std::move(payload));
  });
}

void subscribe_relay_id(std::uint64_t type_id, std::uint64_t deliver_id) {
  Pid me = self();
  if (me.is_null())
    throw WrongRole("cadre::subscribe_relay: only processes and the driver have mailboxes");
  on_loop<bool>([me, type_id, deliver_id] {
    api::output().subscribe(me.serial, type_id, deliver_id);
    return true;
  });
}

}  // namespace detail

void resend_relay(std::uint64_t number) {
  Pid me = self();
  if (me.is_null())
    throw WrongRole("cadre::resend_relay: only processes and the driver have mailboxes");
  std::string why =
      on_loop<std::string>([me, number] { return api::output().resend(me.serial, number); });
  if (why.empty()) return;
  if (why.find("did not subscribe") != std::string::npos)
    throw WrongRole(fmt::format("cadre::resend_relay({}): {}", number, why));
  throw Error(fmt::format("cadre::resend_relay({}): {}", number, why));
}

namespace {
void set_output_subscription(bool on, const char* call) {
  auto& c = core();
  if (!c.is_master())
    throw WrongRole(fmt::format(
        "cadre::{}: the output traffic arrives on the master; call it from a process there", call));
  Pid me = self();
  if (me.is_null())
    throw WrongRole(fmt::format("cadre::{}: only processes and the driver have mailboxes", call));
  on_loop<bool>([me, on] {
    api::output().subscribe_output(me.serial, on);
    return true;
  });
}
}  // namespace

void subscribe_output() { set_output_subscription(true, "subscribe_output"); }
void unsubscribe_output() { set_output_subscription(false, "unsubscribe_output"); }

void stat(std::string_view key, double value) {
  auto& c = core();
  c.execute([&c, k = std::string(key), value]() mutable {
    api::output().send_stat(std::move(k), value);
  });
}

std::map<std::string, double> stats() {
  auto& c = core();
  if (!c.is_master())
    throw WrongRole("cadre::stats: the statistics are summed on the master; call it there");
  return api::output().stats();
}

void progress(std::uint64_t done, std::uint64_t total) {
  auto& c = core();
  Pid sender = self();  // null on a thread that is not a process: the node's threads are one
  c.execute([sender, done, total] { api::output().send_progress(sender, done, total); });
}

std::uint64_t purge() {
  auto& c = core();
  if (!c.is_master())
    throw WrongRole("cadre::purge: only the master purges (it is where output arrives)");
  auto st = std::make_shared<detail::ResultState<std::uint64_t>>(1);
  c.execute([st] {
    api::output().purge([st](std::uint64_t dropped) {
      st->set_value(0, dropped);
      st->complete();
    });
  });
  detail::wait_state(st.get(), std::nullopt);
  return st->value(0);
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
