#pragma once
// What the process API's bodies share: the running node, the calling process, ids, waits.

#include <fmt/format.h>

#include <atomic>
#include <functional>
#include <memory>

#include "api/node_services.hpp"
#include "cadre/errors.hpp"

namespace cadre::api {

/// The running node (NotRunning when there is none).
inline node::Core& core() { return node::Core::get(); }

/// The calling process; WrongRole for a caller without a mailbox.
inline services::Process& require_process(const char* what) {
  auto* p = api::processes().current();
  if (!p)
    throw WrongRole(fmt::format(
        "{}: only processes and the driver have mailboxes; call it from a process (spawn) or "
        "the driver, not from a task or another thread",
        what));
  return *p;
}

/// An id unique in the job: this node's id in the top 16 bits.
inline std::uint64_t global_id() {
  static std::atomic<std::uint64_t> counter{1};
  return (std::uint64_t(core().self_node().value()) << 48) | counter.fetch_add(1);
}

/// Waits for a one-slot result; rethrows its error.
template <class T>
T wait_result(const std::shared_ptr<detail::ResultState<T>>& st) {
  detail::wait_state(st.get(), std::nullopt);
  if (auto e = st->error(0)) std::rethrow_exception(e);
  return st->value(0);
}

/// InvalidNode for the null pid or a pid on a node that is not part of the runtime.
inline void check_pid(Pid p, const char* what) {
  if (p.is_null()) throw InvalidNode(fmt::format("{}: the null pid names no process", what));
  core().check_node(p.node, what);
}

/// A spawn, checked at the caller (`what` names the call in errors), then placed and started
/// on the node loop, where `before_start(node)` runs first. Returns the new process's pid;
/// throws NotRunning, InvalidNode, PayloadTooLarge, or the spawn's error. Blocks.
Pid start_spawn(const char* what, const Placement& where, const detail::Entry* e,
                detail::ByteBuffer&& args, std::uint8_t flags, Pid requester, std::uint64_t mon,
                std::function<void(NodeId)> before_start);

}  // namespace cadre::api
