// The C API (include/cadre/cadre.h): a native node is a Runtime that serves, with each C
// handler registered at run time as a task std::vector<char>(std::vector<char>) whose entry
// points at the handler's record.

#include <fmt/format.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "cadre/cadre.h"
#include "cadre/cadre.hpp"
#include "cadre/detail/registry.hpp"

namespace {

/// A registered C handler; its address is the task entry's key.
struct NativeHandler {
  cadre_handler fn;
  void* user;
};

enum class Phase { fresh, started, serving, served, stopped };

struct NativeNode {
  std::mutex mu;
  Phase phase = Phase::fresh;
  int* argc = nullptr;
  char*** argv = nullptr;
  std::deque<NativeHandler> handlers;  // stable addresses
  std::unique_ptr<cadre::Runtime> runtime;
  int status = 0;
};

NativeNode& node() {
  static NativeNode n;
  return n;
}

thread_local std::string last_error;

int fail(int code, std::string why) {
  last_error = std::move(why);
  return code;
}

/// A handler's failure text, at most this long, as the caller sees it.
constexpr std::size_t kMaxReason = 4096;

/// Decodes the bytes, calls the handler, encodes its bytes; a non-zero status throws.
void invoke_native(const cadre::detail::Entry& self, cadre::detail::InArchive& in,
                   cadre::detail::OutArchive& out, bool* decoded) {
  const auto* h = static_cast<const NativeHandler*>(self.key);
  std::vector<char> input;
  in& input;
  *decoded = true;
  void* result = nullptr;
  std::size_t len = 0;
  const int rc =
      h->fn(input.empty() ? nullptr : input.data(), input.size(), &result, &len, h->user);
  std::unique_ptr<void, decltype(&std::free)> owned(result, &std::free);
  if (rc != 0) {
    std::string reason;
    if (result && len) {
      std::string text(static_cast<const char*>(result), std::min(len, kMaxReason));
      while (!text.empty() && text.back() == '\0') text.pop_back();
      reason = ": " + text;
    }
    throw std::runtime_error(
        fmt::format("native handler '{}' returned status {}{}", self.name, rc, reason));
  }
  if (len && !result)
    throw std::runtime_error(
        fmt::format("native handler '{}' returned {} bytes of output but no buffer (*out is NULL)",
                    self.name, len));
  std::vector<char> output(static_cast<const char*>(result),
                           static_cast<const char*>(result) + len);
  out << output;
}

/// Runs `body`; an exception (nothing may cross into C) becomes CADRE_ERR_RUNTIME.
template <class F>
int guarded(const char* what, F&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    return fail(CADRE_ERR_RUNTIME, fmt::format("{}: {}", what, e.what()));
  } catch (...) {
    return fail(CADRE_ERR_RUNTIME, fmt::format("{}: an unknown exception", what));
  }
}

const char* level_name(int level) {
  static const char* names[] = {"trace", "debug", "info", "warn", "error"};
  return level >= 0 && level <= 4 ? names[level] : "?";
}

int register_handler(const char* name, cadre_handler handler, void* user) {
  if (!name || !*name) return fail(CADRE_ERR_ARGUMENT, "cadre_register: the name is NULL or empty");
  if (!handler)
    return fail(CADRE_ERR_ARGUMENT, fmt::format("cadre_register('{}'): the handler is NULL", name));
  NativeNode& n = node();
  std::lock_guard lock(n.mu);
  if (n.phase != Phase::fresh && n.phase != Phase::started)
    return fail(CADRE_ERR_STATE,
                fmt::format("cadre_register('{}'): the node already joined the job; register "
                            "every handler before cadre_serve",
                            name));
  NativeHandler& h = n.handlers.emplace_back(NativeHandler{handler, user});
  std::string sig = cadre::detail::named_signature<std::vector<char>, std::vector<char>>();
  const std::uint64_t id = cadre::detail::entry_id(name, sig);
  std::string problem = cadre::detail::try_add_entry(
      cadre::detail::Entry{cadre::detail::EntryKind::task, name, std::move(sig), id, &h,
                           &invoke_native, "cadre_register"});
  if (!problem.empty()) {
    n.handlers.pop_back();
    return fail(CADRE_ERR_REGISTRY, "cadre_register: " + problem);
  }
  return CADRE_OK;
}

/// cadre_log's body: through the master while serving, else (or when the runtime is already
/// gone) on this process's stderr.
int log_formatted(int level, const char* format, va_list args) {
  if (level < CADRE_LOG_TRACE || level > CADRE_LOG_ERROR)
    return fail(CADRE_ERR_ARGUMENT,
                fmt::format("cadre_log: level {} is not a cadre_level (0 to 4)", level));
  va_list copy;
  va_copy(copy, args);
  const int len = std::vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  std::string line(len > 0 ? static_cast<std::size_t>(len) : 0, '\0');
  if (len > 0) std::vsnprintf(line.data(), line.size() + 1, format, args);
  const bool serving = [] {
    std::lock_guard lock(node().mu);
    return node().phase == Phase::serving && node().runtime;
  }();
  const auto l = static_cast<cadre::Level>(level);
  if (serving) {
    try {
      if (cadre::detail::log_enabled(l)) cadre::detail::log_line(l, line);
      return CADRE_OK;
    } catch (const std::exception&) {  // the runtime is ending: stderr then
    }
  }
  std::fprintf(stderr, "[native %ld] %s: %s\n", static_cast<long>(::getpid()), level_name(level),
               line.c_str());
  return CADRE_OK;
}

}  // namespace

extern "C" {

int cadre_version(void) { return CADRE_C_API_VERSION; }

int cadre_start(int* argc, char*** argv) {
  if (!argc || !argv)
    return fail(CADRE_ERR_ARGUMENT, "cadre_start: argc and argv must not be NULL");
  NativeNode& n = node();
  std::lock_guard lock(n.mu);
  if (n.phase != Phase::fresh) return fail(CADRE_ERR_STATE, "cadre_start: called twice");
  n.argc = argc;
  n.argv = argv;
  n.phase = Phase::started;
  return CADRE_OK;
}

int cadre_register(const char* name, cadre_handler handler, void* user) {
  return guarded("cadre_register", [&] { return register_handler(name, handler, user); });
}

int cadre_log(int level, const char* format, ...) {
  if (!format) return fail(CADRE_ERR_ARGUMENT, "cadre_log: the format is NULL");
  va_list args;
  va_start(args, format);
  const int rc = guarded("cadre_log", [&] { return log_formatted(level, format, args); });
  va_end(args);
  return rc;
}

int cadre_serve(void) {
  NativeNode& n = node();
  {
    std::lock_guard lock(n.mu);
    if (n.phase != Phase::started)
      return fail(CADRE_ERR_STATE, n.phase == Phase::fresh
                                       ? "cadre_serve: call cadre_start first"
                                       : "cadre_serve: the node is serving or has served");
    n.phase = Phase::serving;
  }
  cadre::Runtime* rt = nullptr;
  try {
    auto made = std::make_unique<cadre::Runtime>(*n.argc, *n.argv);
    rt = made.get();
    std::lock_guard lock(n.mu);
    n.runtime = std::move(made);
  } catch (const std::exception& e) {
    std::lock_guard lock(n.mu);
    n.phase = Phase::served;
    n.status = 1;
    return fail(CADRE_ERR_RUNTIME,
                std::string("cadre_serve: the node could not join: ") + e.what());
  }
  if (rt->is_master()) {
    int status = 1;
    try {
      status = rt->shutdown();
    } catch (const std::exception&) {
    }
    std::lock_guard lock(n.mu);
    n.phase = Phase::served;
    n.status = status ? status : 1;
    return fail(CADRE_ERR_RUNTIME,
                "cadre_serve: this process is rank 0, the job's master; a native node cannot "
                "be the master (start it with spawn_nodes, or as a later rank of an MPMD job)");
  }
  int status = 1;
  try {
    status = rt->serve();
  } catch (const std::exception& e) {
    std::lock_guard lock(n.mu);
    n.phase = Phase::served;
    n.status = 1;
    return fail(CADRE_ERR_RUNTIME, std::string("cadre_serve: ") + e.what());
  }
  std::lock_guard lock(n.mu);
  n.phase = Phase::served;
  n.status = status;
  return status;
}

int cadre_stop(void) {
  NativeNode& n = node();
  std::unique_ptr<cadre::Runtime> runtime;
  {
    std::lock_guard lock(n.mu);
    if (n.phase == Phase::serving)
      return fail(CADRE_ERR_STATE, "cadre_stop: called while cadre_serve runs (from a handler?)");
    runtime = std::move(n.runtime);
    n.phase = Phase::stopped;
  }
  runtime.reset();  // MPI was finalized when serving ended
  return n.status;
}

long cadre_node_id(void) {
  std::lock_guard lock(node().mu);
  if (node().phase != Phase::serving || !node().runtime) return -1;
  try {
    return static_cast<long>(cadre::self_node().value());
  } catch (const std::exception&) {  // the runtime is ending
    return -1;
  }
}

void* cadre_alloc(size_t size) { return std::malloc(size ? size : 1); }

const char* cadre_last_error(void) { return last_error.c_str(); }

}  // extern "C"
