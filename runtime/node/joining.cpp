// Nodes that start later: the master spawns them, admits each when it says hello (its
// registry checked against the job's), tells the other nodes, and welcomes it with the node
// table, the options and the relay history; and stop_node(), which ends one node as shut-down
// ends a worker.
//
// Order: the other nodes hear of a new node (node_joined) before the new node is welcomed,
// so anything it sends them, through the master, arrives after they know it.

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>

#include "cadre/errors.hpp"
#include "node/core.hpp"
#include "node/payload.hpp"
#include "node/trace_session.hpp"
#include "transport/exit_guard.hpp"

namespace cadre::node {
void Core::ensure_node(NodeId n) {
  const std::size_t size = n.value() + 1;
  if (last_heard_.size() < size) last_heard_.resize(size, Clock::now());
  if (heard_.size() < size) heard_.resize(size, 0);
  if (fin_from_.size() < size) fin_from_.resize(size, 0);
  thread_sends_.size(static_cast<std::uint32_t>(size));
}

void Core::spawn_nodes(transport::SpawnCall call, std::chrono::milliseconds ready_timeout,
                       JoinDone done) {
  if (!is_master()) throw WrongRole("cadre::spawn_nodes: only the master (node 0) spawns nodes");
  if (stopping()) {
    done({}, "cadre::spawn_nodes: the runtime is shutting down");
    return;
  }
  call.first_id = NodeId(next_node_id_);
  next_node_id_ += static_cast<std::uint32_t>(call.count);
  auto batch = std::make_shared<JoinBatch>();
  batch->done = std::move(done);
  for (int k = 0; k < call.count; ++k) {
    NodeId id(call.first_id.value() + static_cast<std::uint32_t>(k));
    batch->ids.push_back(id);
    ensure_node(id);
  }
  const auto limit =
      std::max<std::chrono::milliseconds>(2 * ready_timeout, std::chrono::seconds(10));
  try {
    // Once called, a spawn cannot be undone (a program that never calls MPI_Init blocks it
    // for good): the job ends if it does not return.
    transport::ExitGuard guard(
        limit,
        fmt::format(
            "cadre[master] error: spawn_nodes: MPI_Comm_spawn of {} x '{}' has not returned after "
            "{} ms (2 x ready_timeout, at least 10 s): a started process never "
            "called MPI_Init, or the launcher is stuck. A spawn cannot be undone: "
            "the job ends now.{}",
            call.count, call.program, limit.count(),
            call.hang_hint.empty() ? "" : " Likely cause: " + call.hang_hint + "."));
    watchdog_.blocking_call(true);
    const std::int64_t t0 = trace::now_ns();
    transport_->spawn(call);
    if (trace::on()) trace::span(trace::Kind::spawn, t0, 0, static_cast<std::uint64_t>(call.count));
    watchdog_.blocking_call(false);
  } catch (const std::exception& e) {
    watchdog_.blocking_call(false);
    batch->done({}, e.what());
    return;
  }
  // Each process has a spawn of its own (transport/spawn.cpp): it ends by itself.
  for (NodeId id : batch->ids) groups_[id.value()] = {id};
  await_batch(batch, ready_timeout, fmt::format("'{}'", call.program));
}

void Core::await_batch(const std::shared_ptr<JoinBatch>& batch,
                       std::chrono::milliseconds ready_timeout, const std::string& what) {
  for (NodeId id : batch->ids) joining_[id.value()] = batch;
  sched_.add_timer(Clock::now() + ready_timeout, [this, batch, ready_timeout, what] {
    for (NodeId id : batch->ids)
      if (joining_.count(id.value()))
        join_failed(id, fmt::format("node {} started but did not join within {} ms "
                                    "(ready_timeout): is {} a cadre program?",
                                    id.value(), ready_timeout.count(), what));
  });
}

void Core::join_failed(NodeId n, const std::string& why) {
  auto it = joining_.find(n.value());
  if (it == joining_.end()) return;
  auto batch = it->second;
  joining_.erase(it);
  ++batch->failed;
  batch->errors += (batch->errors.empty() ? "" : "; ") + why;
  // Known from now on as a node that never joined: nothing is sent to it.
  nodes_.add(NodeInfo{
      n, fmt::format("{}:{}", batch->what == "cadre::listen" ? "joiner" : "spawned", n.value()), "",
      -1, NodeState::down, 0});
  transport_->forget(n);
  transport_->retire(n);
  finish_batch(batch);
}

void Core::finish_batch(const std::shared_ptr<JoinBatch>& b) {
  if (b->joined + b->failed < b->ids.size() || !b->done) return;
  auto done = std::move(b->done);
  b->done = nullptr;
  // The welcomes leave before the caller hears: it may act on the new nodes at once (or end).
  transport_->flush();
  if (b->failed == 0) {
    done(b->ids, {});
    return;
  }
  std::vector<NodeId> joined;
  for (NodeId id : b->ids)
    if (is_up(id)) joined.push_back(id);
  std::string list;
  for (NodeId id : joined) list += fmt::format(" {}", id.value());
  done(joined, fmt::format("{}: {}{}", b->what, b->errors,
                           joined.empty() ? "" : fmt::format(" (nodes{} did join)", list)));
}

void Core::admit(NodeId src, Hello h) {
  auto batch = joining_[src.value()];
  joining_.erase(src.value());
  // The registry must agree with the job's: a name with one signature everywhere.
  std::string problems;
  if (!h.local_error.empty()) problems += "\n  " + h.local_error;
  std::map<std::pair<std::uint8_t, std::string>, std::size_t> known;
  for (std::size_t i = 0; i < registry_.size(); ++i)
    known.emplace(std::make_pair(registry_[i].kind, registry_[i].name), i);
  for (auto& r : h.registry) {
    auto it = known.find({r.kind, r.name});
    if (it != known.end() && registry_[it->second].signature != r.signature)
      problems += fmt::format("\n  '{}' is registered as '{}' on {} and as '{}' on {}", r.name,
                              registry_[it->second].signature, registry_owner_[it->second],
                              r.signature, h.name);
  }
  if (!problems.empty()) {
    const std::string msg =
        fmt::format("cadre: node {} ({}) may not join: its registry disagrees with the job's:{}",
                    src.value(), h.name, problems);
    send_control(src, Cls::abort_start, encode_payload(msg));
    joining_[src.value()] = batch;
    join_failed(src, msg);
    return;
  }
  {
    std::lock_guard lock(registry_mu_);
    for (auto& r : h.registry)
      if (!known.count({r.kind, r.name})) {
        registry_.push_back(r);
        registry_owner_.push_back(h.name);
      }
  }
  const int rank = static_cast<int>(src.value() - batch->ids.front().value());
  NodeInfo info{src, h.name, h.host, rank, NodeState::up, h.os_pid};
  // The others first, then the new node: what it sends them arrives after they know it.
  auto notice = encode_payload(NodeRecordWire{src.value(), h.name, h.host, rank, h.os_pid,
                                              static_cast<std::uint8_t>(NodeState::up)});
  for (const NodeInfo& i : *table())
    if (i.id != self_ && i.state == NodeState::up) send_control(i.id, Cls::node_joined, notice);
  nodes_.add(info);
  connect_doorbells();
  last_heard_[src.value()] = Clock::now();
  send_control(src, Cls::welcome, encode_payload(make_welcome()));
  trace_->node_joined(src);
  log_local(Level::debug, fmt::format("{} joined", describe(src)));
  ++batch->joined;
  finish_batch(batch);
}

std::vector<std::pair<std::string, std::string>> Core::registered_as(std::uint8_t kind,
                                                                     std::string_view name) const {
  std::lock_guard lock(registry_mu_);
  std::vector<std::pair<std::string, std::string>> out;
  for (std::size_t i = 0; i < registry_.size(); ++i)
    if (registry_[i].kind == kind && registry_[i].name == name &&
        std::none_of(out.begin(), out.end(),
                     [&](auto& o) { return o.first == registry_[i].signature; }))
      out.emplace_back(registry_[i].signature, registry_owner_[i]);
  return out;
}

void Core::on_node_joined(NodeId, const wire::Envelope&, const char* p, std::size_t n) {
  auto r = decode_payload<NodeRecordWire>(p, n, "node_joined");
  if (r.id == UINT32_MAX) throw DecodeError("node_joined: the null node");
  ensure_node(NodeId(r.id));
  transport_->add_node(NodeId(r.id));
  last_heard_[r.id] = Clock::now();
  nodes_.add(NodeInfo{NodeId(r.id), r.name, r.host, r.rank, NodeState::up, r.os_pid});
  connect_doorbells();
}

// -- stop_node ------------------------------------------------------------------------------

void Core::stop_node(NodeId n, std::function<void(std::string)> done) {
  if (!is_master()) throw WrongRole("cadre::stop_node: only the master (node 0) stops nodes");
  if (n == self_)
    throw WrongRole("cadre::stop_node: the master cannot stop itself; return from the driver");
  check_node(n, "cadre::stop_node");
  begin_stop(n, false, std::move(done));
}

void Core::begin_stop(NodeId n, bool leaving, std::function<void(std::string)> done) {
  const char* what = leaving ? "cadre::remove_node" : "cadre::stop_node";
  if (stopping_nodes_.count(n.value())) {
    done(fmt::format("{}: {} is already {}", what, describe(n),
                     stopping_nodes_[n.value()].leaving ? "leaving" : "stopping"));
    return;
  }
  nodes_.set_state(n, NodeState::stopping);
  const auto deadline = Clock::now() + options_.shutdown_timeout + std::chrono::seconds(3);
  stopping_nodes_[n.value()] = Stopping{std::move(done), false, deadline, leaving};
  // A node told of its own leaving ends its processes as "left the job", not "shut down".
  if (leaving) send_control(n, Cls::node_left, encode_payload(n.value()));
  send_control(n, Cls::shutdown,
               encode_payload(static_cast<std::int64_t>(options_.shutdown_timeout.count())));
  sched_.add_timer(deadline, [this, n] {
    auto it = stopping_nodes_.find(n.value());
    if (it == stopping_nodes_.end()) return;
    if (!it->second.acked) {
      it->second.acked = true;
      log_local(Level::error, fmt::format("{}: {} did not acknowledge within {} ms",
                                          it->second.leaving ? "remove_node" : "stop_node",
                                          describe(n), options_.shutdown_timeout.count() + 3000));
      stop_acked(n);
    } else {
      stop_finished(
          n, fmt::format("cadre::stop_node: the link from {} did not drain in time", describe(n)));
    }
  });
}

void Core::stop_acked(NodeId n) {
  FinalStatus fin;
  fin.status = 0;
  fin.finalize = true;
  send_control(n, Cls::final_status, encode_payload(fin));
  send_control(n, Cls::link_fin, {});
  transport_->close_link(n);
  Core* me = this;
  // Its last frame carries its drop counts; until then the loop goes on.
  struct Waiter {
    Core* core;
    NodeId n;
    void operator()() const {
      auto it = core->stopping_nodes_.find(n.value());
      if (it == core->stopping_nodes_.end()) return;
      if (core->fin_from_[n.value()]) {
        core->stop_finished(n, {});
        return;
      }
      core->sched_.add_timer(Clock::now() + std::chrono::milliseconds(1), Waiter{core, n});
    }
  };
  sched_.add_timer(Clock::now() + std::chrono::milliseconds(1), Waiter{me, n});
}

void Core::stop_finished(NodeId n, const std::string& error) {
  auto it = stopping_nodes_.find(n.value());
  if (it == stopping_nodes_.end()) return;
  auto done = std::move(it->second.done);
  const bool leaving = it->second.leaving;
  stopping_nodes_.erase(it);
  node_stopped(n, leaving ? NodeState::left : NodeState::stopped);
  auto notice = encode_payload(n.value());
  for (const NodeInfo& i : *table())
    if (i.id != self_ && i.state == NodeState::up)
      send_control(i.id, leaving ? Cls::node_left : Cls::node_stopped, notice);
  if (done) done(error);
}

void Core::node_stopped(NodeId n, NodeState state) {
  nodes_.set_state(n, state);
  if (is_master() && trace::on())
    trace::instant(trace::Kind::node_stopped, n.value(), state == NodeState::left ? "left" : "");
  placer_.forget(n);
  transport_->close_link(n);
  transport_->retire(n);
  for (Service* s : services_) s->on_node_down(n);
  log_local(Level::debug, fmt::format("{} {}", describe(n),
                                      state == NodeState::left ? "left the job" : "stopped"));
}

void Core::on_node_stopped(NodeId, const wire::Envelope& env, const char* p, std::size_t n) {
  const bool left = env.cls == static_cast<std::uint8_t>(Cls::node_left);
  const NodeId id(decode_payload<std::uint32_t>(p, n, left ? "node_left" : "node_stopped"));
  if (id == self_) {
    leaving_ = left;  // the shut-down that follows is this node's leaving
    return;
  }
  if (!is_up(id)) return;
  transport_->forget(id);
  node_stopped(id, left ? NodeState::left : NodeState::stopped);
}

}  // namespace cadre::node
