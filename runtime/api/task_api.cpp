// The bodies of include/cadre/tasks.hpp (run, map): checks at the caller, then the task
// service on the node loop.

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>

#include "api/node_services.hpp"
#include "cadre/errors.hpp"
#include "cadre/tasks.hpp"

namespace cadre::detail {
namespace {

// A signature as named_signature() spells it: "R (*)(std::tuple<A...>)" -> {R, A...}.
std::pair<std::string, std::string> split_signature(const std::string& sig) {
  const std::size_t k = sig.find(" (*)(std::tuple<");
  if (k == std::string::npos || sig.size() < k + 18) return {sig, ""};
  return {sig.substr(0, k), sig.substr(k + 16, sig.size() - k - 18)};
}

// RegistryMismatch for task `name` registered as `registered` (on `where`) and called by
// name as `called`, naming the part that differs.
[[noreturn]] void throw_signature_mismatch(std::string_view name, const std::string& registered,
                                           const std::string& where, const std::string& called) {
  auto [r_result, r_args] = split_signature(registered);
  auto [c_result, c_args] = split_signature(called);
  std::string differs;
  if (r_result != c_result)
    differs = fmt::format("it returns {}, not {} (the R of run<R>/spawn<R>)", r_result, c_result);
  else if (r_args != c_args)
    differs = fmt::format("it takes ({}), not ({})", r_args, c_args);
  throw RegistryMismatch(fmt::format(
      "cadre: task '{}' is registered as '{}' (on {}) but called by name as '{}': {}; the "
      "result type and argument types of the call must match the registration",
      name, registered, where, called, differs.empty() ? "the signatures differ" : differs));
}

}  // namespace

const Entry* named_task(std::string_view name, std::string signature) {
  const std::uint64_t id = entry_id(name, signature);
  if (const Entry* e = find_id(id); e && e->kind == EntryKind::task) return e;
  auto* core = node::Core::try_get();
  // Every node that has `name` has it with one signature (checked at start-up): this binary's
  // registration answers at once, on any node.
  if (const Entry* mine = find_task_named(name))
    throw_signature_mismatch(name, mine->signature,
                             core ? core->describe(core->self_node()) : "this program", signature);
  if (core && core->is_master()) {
    auto known = core->registered_as(static_cast<std::uint8_t>(EntryKind::task), name);
    if (known.empty())
      throw NotRegistered(fmt::format(
          "cadre: no node of this job registered a task '{}' (called by name as '{}'); "
          "the program that serves it needs CADRE_TASK({}) (a native node: cadre_register)",
          name, signature, name));
    if (std::none_of(known.begin(), known.end(), [&](auto& k) { return k.first == signature; }))
      throw_signature_mismatch(name, known.front().first, known.front().second, signature);
  }
  // Interned: futures and requests keep the pointer.
  static std::mutex mu;
  static std::map<std::uint64_t, std::unique_ptr<Entry>> interned;
  std::lock_guard lock(mu);
  auto& slot = interned[id];
  if (!slot)
    slot = std::make_unique<Entry>(Entry{EntryKind::task, std::string(name), std::move(signature),
                                         id, nullptr, nullptr, "(called by name)"});
  return slot.get();
}

void submit_run(const Placement& where, const Entry* e, ByteBuffer&& args,
                std::shared_ptr<StateBase> state) {
  auto& core = node::Core::get();
  if (core.stopping())
    throw NotRunning(fmt::format("cadre::run(task '{}'): the runtime is shutting down", e->name));
  if (where.kind == Placement::Kind::node) core.check_node(where.node, "cadre::run");
  if (args.size() > core.options().payload_cap)
    throw PayloadTooLarge(fmt::format(
        "cadre::run(task '{}'): the arguments take {} bytes, above the payload cap of {} bytes "
        "(Options::payload_cap, CADRE_PAYLOAD_CAP)",
        e->name, args.size(), core.options().payload_cap));
  core.execute([&tasks = api::tasks(), where, e, args = std::move(args),
                state = std::move(state)]() mutable {
    tasks.submit(where, e, std::move(args), std::move(state));
  });
}

void submit_map(const Placement& where, const Entry* e, std::unique_ptr<MapInputs> inputs,
                const MapOptions& opts) {
  auto& core = node::Core::get();
  if (core.stopping())
    throw NotRunning(fmt::format("cadre::map(task '{}'): the runtime is shutting down", e->name));
  if (where.kind == Placement::Kind::node) core.check_node(where.node, "cadre::map");
  // The chunks are encoded on the loop as they leave (services/tasks.cpp): one over the
  // payload cap fails its own futures there.
  core.execute([&tasks = api::tasks(), where, e, inputs = std::move(inputs), opts]() mutable {
    tasks.submit_map(where, e, std::move(inputs), opts);
  });
}

std::size_t default_chunk(const Placement& where, std::size_t inputs) {
  return api::tasks().default_chunk(where, inputs);
}

}  // namespace cadre::detail
