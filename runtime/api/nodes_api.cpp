// The bodies of include/cadre/nodes.hpp: spawn_nodes checks what it can before the spawn
// (spawn_checks.hpp), then the node spawns and admits the new nodes (node/joining.cpp);
// stop_node asks the node to end one.

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "api/loop_call.hpp"
#include "api/node_services.hpp"
#include "api/spawn_checks.hpp"
#include "cadre/detail/future_state.hpp"
#include "cadre/errors.hpp"
#include "cadre/nodes.hpp"
#include "cadre/process.hpp"
#include "cadre/receive.hpp"
#include "node/core.hpp"
#include "node/log.hpp"
#include "node/payload.hpp"
#include "transport/mpi_env.hpp"

namespace cadre {
namespace {

/// Waits (a fiber or a thread) for work posted to the loop to report; rethrows its error.
void wait_done(const std::shared_ptr<detail::ResultState<int>>& st) {
  detail::wait_state(st.get(), std::nullopt);
  if (auto e = st->error(0)) std::rethrow_exception(e);
}

}  // namespace

namespace {
/// How each spawned node was started, for respawn_node. Master only.
std::mutex g_started_mu;
std::map<std::uint32_t, SpawnOptions> g_started;

/// SpawnOptions::link: waits for the process that spawned `nodes` to end; if it ended
/// abnormally (not normal, not shut-down), stops them.
void link_guard(Pid spawner, std::vector<std::uint32_t> nodes) {
  cadre::monitor(spawner);
  const Reason why = cadre::receive(cadre::on_down([](const Down& d) { return d.reason; }));
  if (why == Reason::normal || why == Reason::shutdown) return;
  for (std::uint32_t n : nodes) {
    try {
      if (node::Core::get().is_up(NodeId(n))) stop_node(NodeId(n));
    } catch (const std::exception& e) {
      node::log_local(Level::warn,
                      fmt::format("spawn_nodes link: stopping node {}: {}", n, e.what()));
    }
  }
}

/// This program's arguments (argv[1..]), for respawning a world rank.
std::vector<std::string> own_args() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  std::string a;
  while (std::getline(in, a, '\0')) args.push_back(a);
  if (!args.empty()) args.erase(args.begin());
  return args;
}
}  // namespace
}  // namespace cadre

CADRE_TASK(cadre::link_guard);

namespace cadre {

std::vector<NodeId> spawn_nodes(const SpawnOptions& o) {
  auto& core = node::Core::get();
  if (!core.is_master())
    throw WrongRole(fmt::format(
        "cadre::spawn_nodes: called on node {}; only the master (node 0) spawns nodes{}",
        core.self_node().value(), core.spawned() ? " (this node was itself spawned)" : ""));
  auto refuse = [](const std::string& why) {
    throw SpawnError(fmt::format("cadre::spawn_nodes: {}", why));
  };
  if (o.count < 1) refuse(fmt::format("count must be at least 1 (it is {})", o.count));
  if (o.ready_timeout.count() <= 0) refuse("ready_timeout must be positive");
  api::ProgramCheck prog = api::check_program(o.program, o.wdir);
  if (!prog.error.empty()) refuse(prog.error);
  auto table = core.table();
  int running = 0;
  std::vector<std::string> hosts{"localhost"};
  for (const NodeInfo& i : *table) {
    if (i.state == NodeState::up || i.state == NodeState::stopping) {
      ++running;
      hosts.push_back(i.host);
    }
  }
  if (!o.host.empty()) {
    auto known = api::known_hosts(hosts);
    if (std::find(known.begin(), known.end(), o.host) == known.end()) {
      std::string list;
      for (auto& h : known) list += (list.empty() ? "" : ", ") + h;
      refuse(
          fmt::format("the host '{}' is not known to this job (known: {}). Hosts are those of "
                      "live nodes, SLURM_JOB_NODELIST and CADRE_HOSTS (cadre-run sets it from "
                      "its hostfile)",
                      o.host, list));
    }
  }
  const bool over = transport::oversubscribed();
  if (std::string why = api::check_capacity(o.count, transport::universe_size(), running, over);
      !why.empty())
    refuse(why);
  if (!o.hostfile.empty() && ::access(o.hostfile.c_str(), R_OK) != 0)
    refuse(fmt::format("the hostfile '{}' cannot be read", o.hostfile));

  transport::SpawnCall call;
  call.program = prog.path;
  call.args = o.args;
  call.count = o.count;
  if (!o.host.empty()) call.info.emplace_back("host", o.host);
  if (!o.hostfile.empty()) call.info.emplace_back("hostfile", o.hostfile);
  if (!o.wdir.empty()) call.info.emplace_back("wdir", o.wdir);
  if (over) call.info.emplace_back("bind_to", "none");
  call.hang_hint = api::spawn_hazard(std::getenv("PMIX_VERSION"), std::getenv("PMIX_GDS_MODULE"));
  static std::once_flag warned;
  if (!call.hang_hint.empty())
    std::call_once(warned, [&] {
      node::log_local(Level::warn, fmt::format("cadre::spawn_nodes: {}", call.hang_hint));
    });
  api::SpawnBootstrap boot{o.env, o.stdout_path, o.stderr_path};
  auto bytes = node::encode_payload(boot);
  call.bootstrap.assign(bytes.data(), bytes.data() + bytes.size());

  auto st = std::make_shared<detail::ResultState<int>>(1);
  std::vector<NodeId> ids;
  core.execute([&core, st, &ids, call = std::move(call), timeout = o.ready_timeout]() mutable {
    try {
      core.spawn_nodes(std::move(call), timeout, [st, &ids](std::vector<NodeId> n, std::string e) {
        ids = std::move(n);
        if (!e.empty()) st->set_error(0, std::make_exception_ptr(SpawnError(e)));
        st->complete();
      });
    } catch (...) {
      st->set_error(0, std::current_exception());
      st->complete();
    }
  });
  wait_done(st);
  {
    std::lock_guard lock(g_started_mu);
    for (NodeId id : ids) g_started[id.value()] = o;
  }
  // link: the new nodes stop when the process that spawned them ends abnormally (the driver's
  // end ends the job, and every node with it).
  const Pid me = self();
  if (o.link && !me.is_null() && !(me.node == NodeId(0) && me.serial == 0)) {
    std::vector<std::uint32_t> raw;
    for (NodeId id : ids) raw.push_back(id.value());
    cadre::spawn(local, link_guard, me, raw);
  }
  return ids;
}

void monitor_node(NodeId n) {
  auto& core = node::Core::get();
  const Pid me = self();
  if (me.is_null())
    throw WrongRole(
        "cadre::monitor_node: call it from a process or the driver (it has no mailbox)");
  node_info(n);  // InvalidNode for a node the job never had
  core.execute([me, n] { api::node_events().watch(me, n); });
}

void demonitor_node(NodeId n) {
  auto& core = node::Core::get();
  const Pid me = self();
  if (me.is_null()) return;
  core.execute([me, n] { api::node_events().unwatch(me, n); });
}

NodeId respawn_node(NodeId n) {
  auto& core = node::Core::get();
  if (!core.is_master())
    throw WrongRole("cadre::respawn_node: only the master (node 0) starts nodes");
  const NodeInfo info = node_info(n);  // InvalidNode for a node the job never had
  if (info.state == NodeState::left)
    throw SpawnError(fmt::format(
        "cadre::respawn_node: node {} left the job (leave or remove_node); its process runs on by "
        "itself",
        n.value()));
  if (info.state == NodeState::up || info.state == NodeState::stopping)
    throw SpawnError(fmt::format("cadre::respawn_node: node {} is still {}; stop_node() it first",
                                 n.value(), info.state == NodeState::up ? "up" : "stopping"));
  SpawnOptions o;
  {
    std::lock_guard lock(g_started_mu);
    auto it = g_started.find(n.value());
    if (it != g_started.end()) {
      o = it->second;
    } else {
      o.args = own_args();  // a world rank: this binary, as the job started it
    }
  }
  o.count = 1;
  return spawn_nodes(o).at(0);
}

void stop_node(NodeId n) {
  auto& core = node::Core::get();
  if (!core.is_master())
    throw WrongRole(fmt::format("cadre::stop_node: called on node {}; only the master stops nodes",
                                core.self_node().value()));
  core.check_node(n, "cadre::stop_node");
  const NodeInfo info = node_info(n);
  bool last_of_group = false;
  api::await_loop(core, [&core, n, &last_of_group](api::LoopDone done) {
    last_of_group = true;
    for (NodeId s : core.spawn_group(n))
      if (s != n && core.is_up(s)) last_of_group = false;
    core.stop_node(n, std::move(done));
  });
  // Its MPI slot is free once its process has ended: on this host, from the driver, wait for
  // that (bounded), so that a spawn right after does not find the job full. A node spawned
  // with others ends with the last of them (MPI_Finalize waits for its siblings).
  if (last_of_group && !core.on_loop_thread() && info.host == node_info(core.self_node()).host &&
      info.pid > 0 && info.pid != ::getpid()) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (::kill(info.pid, 0) == 0 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace cadre
