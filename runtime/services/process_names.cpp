// Global names: the master keeps them, monitors every named pid, and answers requests.

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

// -- names (the service runs on the master) ------------------------------------------------

void ProcessService::name_request(node::Cls kind, Pid requester, std::string name, Pid pid,
                                  std::shared_ptr<detail::ResultState<std::optional<Pid>>> result) {
  std::uint64_t corr = next_id_++;
  name_waits_[corr] = std::move(result);
  std::string payload = detail::encode_string(std::make_pair(name, pid));
  if (core_.is_master()) {
    name_service(kind, requester, corr, payload.data(), payload.size());
    return;
  }
  const wire::Envelope env =
      node::envelope({.cls = kind, .corr = corr, .src = requester, .dst = Pid{NodeId(0), 0}});
  send_env(NodeId(0), env, payload.data(), payload.size());
}

void ProcessService::name_service(node::Cls kind, Pid requester, std::uint64_t corr, const char* p,
                                  std::size_t n) {
  auto [name, pid] = detail::decode_as<std::pair<std::string, Pid>>(p, n);
  NameAnswer a;
  if (kind == cls::name_lookup) {
    a.ok = true;
    if (auto it = names_.find(name); it != names_.end()) a.pid = it->second;
  } else if (auto it = names_.find(name); it != names_.end() && it->second != pid) {
    a.error = fmt::format("cadre::register_name: the name '{}' is taken by {}", name, it->second);
  } else {
    a.ok = true;
    names_[name] = pid;
    // Watch the named process: its name goes when it ends.
    std::uint64_t id = (std::uint64_t(core_.self_node().value()) << 48) | next_id_++;
    name_monitors_[id] = pid;
    monitor(Pid{NodeId(0), kNameServiceSerial}, pid, id);
  }
  std::string payload = detail::encode_string(a);
  const wire::Envelope env =
      node::envelope({.cls = cls::name_reply, .corr = corr, .dst = requester});
  if (requester.node == core_.self_node()) {
    on_envelope(core_.self_node(), env, payload.data(), payload.size());
  } else {
    send_env(requester.node, env, payload.data(), payload.size());
  }
}

// The master's answer to a name request.
void ProcessService::on_name_reply(NodeId, const wire::Envelope& env, const char* p,
                                   std::size_t n) {
  auto it = name_waits_.find(env.corr);
  if (it == name_waits_.end()) return;
  auto result = std::move(it->second);
  name_waits_.erase(it);
  auto a = detail::decode_as<NameAnswer>(p, n);
  if (a.ok)
    result->set_value(0, a.pid);
  else
    result->set_all_errors(std::make_exception_ptr(Error(a.error)));
  result->complete();
}

}  // namespace cadre::services
