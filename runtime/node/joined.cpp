// Nodes that joined from a separately launched job (cadre::join): the master links the
// joiner that MPI_Comm_accept connected and admits it as it admits a spawned node; and
// leaving: remove_node() on the master, or leave() on the joined node, ends the node's part
// in the job as stop_node() does, but its process goes on (its serve() returns).

#include <fmt/format.h>

#include "cadre/errors.hpp"
#include "node/core.hpp"
#include "node/payload.hpp"

namespace cadre::node {

void Core::join_node(transport::Accepted accepted, const std::string& who,
                     std::chrono::milliseconds ready_timeout, JoinDone done) {
  if (!is_master()) throw WrongRole("cadre: only the master (node 0) admits joined nodes");
  if (stopping()) {
    done({}, "cadre::listen: the runtime is shutting down; the joiner is turned away");
    return;
  }
  transport::SpawnCall call;
  call.count = 1;
  call.first_id = NodeId(next_node_id_++);
  auto batch = std::make_shared<JoinBatch>();
  batch->what = "cadre::listen";
  batch->done = std::move(done);
  batch->ids.push_back(call.first_id);
  ensure_node(call.first_id);
  try {
    transport_->adopt(std::move(accepted), call);
  } catch (const std::exception& e) {
    batch->done({}, e.what());
    return;
  }
  joined_.insert(call.first_id.value());
  await_batch(batch, ready_timeout, who);
}

void Core::remove_node(NodeId n, std::function<void(std::string)> done) {
  if (!is_master()) throw WrongRole("cadre::remove_node: only the master (node 0) removes nodes");
  check_node(n, "cadre::remove_node");
  if (!joined(n))
    throw WrongRole(fmt::format(
        "cadre::remove_node: {} did not join with cadre::join (it is a {}); stop_node() ends it",
        describe(n), spawn_group(n).empty() ? "world rank" : "spawned node"));
  begin_stop(n, true, std::move(done));
}

void Core::request_leave() {
  if (is_master())
    throw WrongRole("cadre::leave: the master cannot leave its own job; return from the driver");
  send_control(NodeId(0), Cls::leave_request, {});
  transport_->flush();
}

void Core::on_leave_request(NodeId src, const wire::Envelope&, const char*, std::size_t) {
  if (!joined(src)) {
    log_local(Level::warn, fmt::format("{} asked to leave, but only a node that joined with "
                                       "cadre::join can leave; it is not removed",
                                       describe(src)));
    return;
  }
  if (stopping_nodes_.count(src.value())) return;  // already leaving (remove_node)
  begin_stop(src, true, [this, src](const std::string& error) {
    if (!error.empty())
      log_local(Level::error, fmt::format("leave of {}: {}", describe(src), error));
  });
}

}  // namespace cadre::node
