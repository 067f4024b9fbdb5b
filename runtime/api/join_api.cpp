// The bodies of listen(), join(), leave() and remove_node() (include/cadre/nodes.hpp): the
// gate that checks joiners (api/join_gate.hpp) lives with the node's services; the node links
// and admits joiners and ends their part (node/joined.cpp).

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "api/join_gate.hpp"
#include "api/join_request.hpp"
#include "api/loop_call.hpp"
#include "api/node_services.hpp"
#include "cadre/detail/future_state.hpp"
#include "cadre/errors.hpp"
#include "cadre/nodes.hpp"
#include "node/core.hpp"
#include "transport/join.hpp"

namespace cadre {
namespace {
std::mutex g_join_mu;
std::string g_join_port;  // set by join(), taken by the Runtime
std::mutex g_gate_mu;     // listen() from several threads
}  // namespace

namespace api {
std::string take_join_request() {
  std::lock_guard lock(g_join_mu);
  return std::exchange(g_join_port, {});
}
}  // namespace api

std::string listen(const std::string& port_file) {
  auto& core = node::Core::get();
  if (!core.is_master())
    throw WrongRole(fmt::format("cadre::listen: called on node {}; only the master listens",
                                core.self_node().value()));
  const char* cookie = std::getenv("CADRE_COOKIE");
  if (!cookie || !*cookie)
    throw Error(
        "cadre::listen: CADRE_COOKIE is not set: a joinable job needs a cookie, which every "
        "joiner must present (set it in the environment of both jobs; never on a command line)");
  if (std::string(cookie).find('\n') != std::string::npos)
    throw Error("cadre::listen: CADRE_COOKIE must be one line");
  if (std::string(cookie).size() < 8)
    throw Error("cadre::listen: CADRE_COOKIE is shorter than 8 characters: too easy to guess");
  if (!transport::thread_multiple())
    throw Error(
        "cadre::listen: MPI runs without MPI_THREAD_MULTIPLE, which accepting a joiner needs "
        "(MPI_Comm_accept blocks a thread of its own): start the job with `cadre-run "
        "--joinable`, or set CADRE_JOINABLE=1 or Options::mpi_thread_multiple");
  auto& services = api::node_services();
  std::string description;
  {
    std::lock_guard lock(g_gate_mu);
    if (!services.gate) services.gate = std::make_unique<api::JoinGate>(core, cookie);
    description = services.gate->description();
  }
  if (!port_file.empty()) {
    const std::string tmp = port_file + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "w");
    bool ok = f && std::fprintf(f, "%s\n", description.c_str()) >= 0;
    if (f) ok = std::fclose(f) == 0 && ok;
    ok = ok && std::rename(tmp.c_str(), port_file.c_str()) == 0;
    if (!ok) {
      std::remove(tmp.c_str());
      throw Error(
          fmt::format("cadre::listen: cannot write the port description to '{}'", port_file));
    }
  }
  return description;
}

void join(std::string port) {
  if (port.empty()) throw Error("cadre::join: the port description is empty");
  std::lock_guard lock(g_join_mu);
  g_join_port = std::move(port);
}

void leave() {
  auto& core = node::Core::get();
  if (core.is_master())
    throw WrongRole("cadre::leave: the master cannot leave its own job; return from the driver");
  if (!core.joined_job())
    throw WrongRole(fmt::format("cadre::leave: node {} did not join with cadre::join",
                                core.self_node().value()));
  core.execute([&core] { core.request_leave(); });
}

void remove_node(NodeId n) {
  auto& core = node::Core::get();
  if (!core.is_master())
    throw WrongRole(
        fmt::format("cadre::remove_node: called on node {}; only the master removes "
                    "nodes",
                    core.self_node().value()));
  api::await_loop(core, [&core, n](api::LoopDone done) { core.remove_node(n, std::move(done)); });
}

}  // namespace cadre
