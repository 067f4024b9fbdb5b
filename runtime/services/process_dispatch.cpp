// The process service's envelope classes, each to its named handler; the handlers that only
// unpack an envelope are here, the others with their concept (spawn, signals, names,
// broadcast).

#include <fmt/format.h>

#include <algorithm>

#include "cadre/errors.hpp"
#include "node/log.hpp"
#include "services/process_wire.hpp"
#include "services/processes.hpp"

namespace cadre::services {

using detail::ByteBuffer;
using detail::Mail;
using detail::MailKind;

// The process classes, each to its handler.
const node::HandlerTable<ProcessService>& ProcessService::handlers() {
  using S = ProcessService;
  using T = node::HandlerTable<S>;
  static const T table{
      T::entry<&S::on_message>(cls::message, "message", node::kAnyNode),
      T::entry<&S::on_message>(cls::reply, "reply", node::kAnyNode),
      T::entry<&S::on_spawn>(cls::spawn, "spawn", node::kAnyNode),
      T::entry<&S::on_spawn_reply>(cls::spawn_reply, "spawn_reply", node::kAnyNode),
      T::entry<&S::on_monitor>(cls::monitor, "monitor", node::kAnyNode),
      T::entry<&S::on_demonitor>(cls::demonitor, "demonitor", node::kAnyNode),
      T::entry<&S::on_down>(cls::down, "down", node::kAnyNode),
      T::entry<&S::on_link>(cls::link, "link", node::kAnyNode),
      T::entry<&S::on_unlink>(cls::unlink, "unlink", node::kAnyNode),
      T::entry<&S::on_exit_envelope>(cls::exit_signal, "exit_signal", node::kAnyNode),
      T::entry<&S::on_kill>(cls::kill, "kill", node::kAnyNode),
      // A broadcast travels down a tree: its source is the process that broadcast.
      T::entry<&S::on_broadcast>(cls::broadcast, "broadcast", node::kForwarded),
      T::entry<&S::on_name_request>(cls::name_register, "name_register", node::kAnyNode),
      T::entry<&S::on_name_request>(cls::name_lookup, "name_lookup", node::kAnyNode),
      T::entry<&S::on_name_reply>(cls::name_reply, "name_reply", node::kAnyNode),
  };
  return table;
}

std::vector<node::ClassSpec> ProcessService::classes() const { return handlers().specs(); }

void ProcessService::on_envelope(NodeId src, const wire::Envelope& env, const char* p,
                                 std::size_t n) {
  handlers().dispatch(*this, src, env, p, n);
}

void ProcessService::on_monitor(NodeId, const wire::Envelope& env, const char*, std::size_t) {
  monitor(env.src, env.dst, env.corr);
}

void ProcessService::on_demonitor(NodeId, const wire::Envelope& env, const char*, std::size_t) {
  demonitor(env.src, env.dst, env.corr);
}

void ProcessService::on_link(NodeId, const wire::Envelope& env, const char*, std::size_t) {
  link(env.src, env.dst);
}

void ProcessService::on_unlink(NodeId, const wire::Envelope& env, const char*, std::size_t) {
  unlink(env.src, env.dst);
}

void ProcessService::on_kill(NodeId, const wire::Envelope& env, const char* p, std::size_t n) {
  kill(env.dst, detail::decode_as<std::string>(p, n));
}

void ProcessService::on_name_request(NodeId, const wire::Envelope& env, const char* p,
                                     std::size_t n) {
  name_service(static_cast<node::Cls>(env.cls), env.src, env.corr, p, n);
}

}  // namespace cadre::services
