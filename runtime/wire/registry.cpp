#include <cxxabi.h>
#include <fmt/format.h>

#include <boost/core/demangle.hpp>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <typeindex>
#include <unordered_map>

#include "cadre/errors.hpp"
#include "wire/registry_internal.hpp"
#include "wire/symbol_name.hpp"

namespace cadre::detail {
namespace {

struct Registry {
  std::mutex mu;
  std::deque<Entry> entries;  // stable addresses
  std::unordered_map<const void*, const Entry*> by_key;
  std::unordered_map<std::uint64_t, const Entry*> by_id;
  std::unordered_map<std::string, const Entry*> by_name[3];
  std::string errors;
};

Registry& registry() {
  static Registry r;  // constructed on first registration, during static initialisation
  return r;
}

}  // namespace

std::string type_name(const std::type_info& t) { return boost::core::demangle(t.name()); }

namespace {

/// What keeps `e` out of the registry, or "" (the caller holds the lock).
std::string problem_with(Registry& r, const Entry& e) {
  auto& names = r.by_name[static_cast<int>(e.kind)];
  if (auto it = names.find(e.name); it != names.end())
    return fmt::format("'{}' is registered twice in one binary: at {} and at {}", e.name,
                       it->second->where, e.where);
  if (auto it = r.by_id.find(e.id); it != r.by_id.end())
    return fmt::format("the ids of '{}' ({}) and '{}' ({}) collide; rename one", it->second->name,
                       it->second->where, e.name, e.where);
  return {};
}

void store(Registry& r, Entry e) {
  const Entry& stored = r.entries.emplace_back(std::move(e));
  r.by_key.emplace(stored.key, &stored);
  r.by_id.emplace(stored.id, &stored);
  r.by_name[static_cast<int>(stored.kind)].emplace(stored.name, &stored);
}

}  // namespace

bool add_entry(Entry e) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  if (std::string problem = problem_with(r, e); !problem.empty()) {
    r.errors += (r.errors.empty() ? "" : "; ") + problem;
    return false;
  }
  store(r, std::move(e));
  return true;
}

std::string try_add_entry(Entry e) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  std::string problem = problem_with(r, e);
  if (problem.empty()) store(r, std::move(e));
  return problem;
}

const Entry* find_task(const void* fn) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  auto it = r.by_key.find(fn);
  return it == r.by_key.end() || it->second->kind != EntryKind::task ? nullptr : it->second;
}

const Entry* find_id(std::uint64_t id) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  auto it = r.by_id.find(id);
  return it == r.by_id.end() ? nullptr : it->second;
}

const Entry* find_message(const std::type_info& t) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  auto it = r.by_key.find(&t);
  return it == r.by_key.end() || it->second->kind != EntryKind::message ? nullptr : it->second;
}

void throw_task_not_registered(const void* fn) {
  // Named from the symbol tables of the file that holds it: a static function, or any
  // function of an executable built without -rdynamic, has no dynamic symbol for dladdr.
  const std::string name = describe_function(fn);
  throw NotRegistered(fmt::format(
      "cadre: the function {} is not a registered task; add CADRE_TASK(<its name>) at namespace "
      "scope in the program",
      name));
}

std::string c_string_message(const char* s, const char* what) {
  if (!s) throw Error(std::string(what) + ": a null C string cannot be sent (send a std::string)");
  return s;
}

void throw_message_not_registered(const std::type_info& t) {
  throw NotRegistered(fmt::format(
      "cadre: the message type {} is not registered; add CADRE_MESSAGE({}) at namespace scope",
      type_name(t), type_name(t)));
}

std::vector<const Entry*> all_entries() {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  std::vector<const Entry*> v;
  for (auto& e : r.entries) v.push_back(&e);
  return v;
}

std::string registry_errors() {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  return r.errors;
}

std::string build_id() { return fmt::format("g++ {} {}", __VERSION__, __DATE__); }

}  // namespace cadre::detail
