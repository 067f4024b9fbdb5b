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

// -- names of message types by id (reports and errors) ----------------------------------------

namespace cadre::detail {
namespace {

struct StdNames {
  std::mutex mu;
  std::unordered_map<std::uint64_t, std::string> by_id;
};

template <class T>
void add_std_name(StdNames& s) {
  s.by_id.emplace(fnv1a64(type_name(typeid(T))), type_name<T>());
}

template <class... T>
void add_std_names(StdNames& s) {
  (add_std_name<T>(s), ...);
  (add_std_name<std::vector<T>>(s), ...);
}

// The standard types a program sends most, named before any of them is used here: a message
// of a type this binary never sent nor matched can still be named.
StdNames& std_names() {
  static StdNames* s = [] {
    auto* n = new StdNames;
    add_std_names<bool, char, signed char, unsigned char, short, unsigned short, int, unsigned,
                  long, unsigned long, long long, unsigned long long, float, double, long double,
                  std::string>(*n);
    return n;
  }();
  return *s;
}

}  // namespace

std::uint64_t note_std_message(std::uint64_t id, std::string name) {
  StdNames& s = std_names();
  std::lock_guard lock(s.mu);
  s.by_id.emplace(id, std::move(name));
  return id;
}

std::string message_type_name(std::uint64_t id) {
  if (const Entry* e = find_id(id); e && e->kind == EntryKind::message) return e->name;
  StdNames& s = std_names();
  std::lock_guard lock(s.mu);
  if (auto it = s.by_id.find(id); it != s.by_id.end()) return it->second;
  return fmt::format("an unknown type (id {:#018x})", id);
}

const Entry* find_task_named(std::string_view name) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  auto& names = r.by_name[static_cast<int>(EntryKind::task)];
  auto it = names.find(std::string(name));
  return it == names.end() ? nullptr : it->second;
}

std::string with_article(const std::string& name) {
  if (name.rfind("an unknown type", 0) == 0) return name;
  const bool vowel =
      !name.empty() && std::string_view("aeiouAEIOU").find(name[0]) != std::string_view::npos;
  return (vowel ? "an " : "a ") + name;
}

}  // namespace cadre::detail
