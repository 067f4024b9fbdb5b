// Starting processes with MPI_Comm_spawn, and a spawned process's first steps.
//
// The master spawns over MPI_COMM_SELF, so the call involves no other node (a spawn over
// every node is a collective that stalls every loop and hangs after any loss). Right after
// it returns, the master sends each new process, on the inter-communicator, its node id and
// the bootstrap bytes; a spawned process waits for them before anything else, so it knows
// which node it is before it says hello.

#include <fmt/format.h>
#include <mpi.h>

#include <cstring>
#include <thread>

#include "cadre/errors.hpp"
#include "transport/join.hpp"
#include "transport/links.hpp"
#include "transport/mpi_check.hpp"
#include "transport/mpi_env.hpp"

namespace cadre::transport {
namespace {

/// The tag of the assignment: node id (u32) then the bootstrap bytes.
constexpr int kAssignTag = 7304;

std::vector<NodeId> identity(int size) {
  std::vector<NodeId> ids;
  for (int r = 0; r < size; ++r) ids.push_back(NodeId(static_cast<std::uint32_t>(r)));
  return ids;
}

}  // namespace

void Links::spawn(const SpawnCall& call) {
  // One MPI_Comm_spawn per process: Open MPI 4.1 fails in MPI_Init ("PML add procs failed")
  // when one spawn starts processes on several hosts beside running ranks, and a failed spawn
  // poisons the job. cadre's spawned nodes talk to the master only, so nothing needs them to
  // share one MPI world.
  for (int k = 0; k < call.count; ++k) {
    SpawnCall one = call;
    one.count = 1;
    one.first_id = NodeId(call.first_id.value() + static_cast<std::uint32_t>(k));
    spawn_one(one);
  }
}

void Links::spawn_one(const SpawnCall& call) {
  std::vector<char*> argv;
  for (auto& a : call.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  MPI_Info info;
  CADRE_MPI(MPI_Info_create(&info));
  for (auto& [k, v] : call.info) CADRE_MPI(MPI_Info_set(info, k.c_str(), v.c_str()));
  int error = MPI_SUCCESS;
  MPI_Comm inter = MPI_COMM_NULL;
  CADRE_MPI(MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN));
  const int rc =
      MPI_Comm_spawn(call.program.c_str(), argv.data(), 1, info, 0, MPI_COMM_SELF, &inter, &error);
  MPI_Info_free(&info);
  if (rc != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
#ifdef MPICH_VERSION
    const char* why = "an MPICH on the ch4:ucx device, as Debian's, cannot spawn at all";
#else
    const char* why = "Open MPI cannot spawn again in this job after a failed spawn";
#endif
    throw SpawnError(fmt::format(
        "cadre::spawn_nodes: MPI_Comm_spawn of '{}' (node {}) failed: {} ({})", call.program,
        call.first_id.value(), std::string(text, static_cast<std::size_t>(len)), why));
  }
  link_started(inter, call);
}

void Links::adopt(Accepted&& accepted, const SpawnCall& call) {
  auto* comm = static_cast<MPI_Comm*>(accepted.release());
  MPI_Comm inter = *comm;
  delete comm;
  link_started(inter, call);
}

void Links::link_started(MPI_Comm inter, const SpawnCall& call) {
  CADRE_MPI(MPI_Comm_set_errhandler(inter, MPI_ERRORS_RETURN));
  std::vector<NodeId> ids;
  for (int r = 0; r < call.count; ++r)
    ids.push_back(NodeId(call.first_id.value() + static_cast<std::uint32_t>(r)));
  auto channel = std::make_unique<mpi::MpiTransport>(inter, options_);
  // Each new process learns its node id first. Nonblocking: over TCP a send completes only
  // once the peer progresses MPI, and a process that never joins never does.
  for (int r = 0; r < call.count; ++r) {
    detail::ByteBuffer msg;
    const std::uint32_t id = ids[static_cast<std::size_t>(r)].value();
    msg.append(reinterpret_cast<const char*>(&id), sizeof id);
    msg.append(call.bootstrap.data(), call.bootstrap.size());
    channel->send_raw(r, kAssignTag, std::move(msg));
  }
  add_channel(std::move(channel), std::move(ids));
}

std::unique_ptr<Transport> make_transport(const Options& o, std::chrono::milliseconds wait,
                                          std::vector<char>& bootstrap,
                                          const std::string& join_port) {
  MPI_Comm parent = MPI_COMM_NULL;
  if (!join_port.empty()) {
    auto* inter = static_cast<MPI_Comm*>(connect_to(join_port, wait));
    parent = *inter;
    delete inter;
  } else {
    CADRE_MPI(MPI_Comm_get_parent(&parent));
  }
  if (parent == MPI_COMM_NULL) {
    MPI_Comm comm;
    CADRE_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &comm));
    CADRE_MPI(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN));
    int rank = 0, size = 1;
    CADRE_MPI(MPI_Comm_rank(comm, &rank));
    CADRE_MPI(MPI_Comm_size(comm, &size));
    auto links = std::make_unique<Links>(NodeId(static_cast<std::uint32_t>(rank)), o);
    links->add_channel(std::make_unique<mpi::MpiTransport>(comm, o), identity(size));
    return links;
  }
  // Spawned or joined: wait for the master's assignment (it follows the spawn at once).
  CADRE_MPI(MPI_Comm_set_errhandler(parent, MPI_ERRORS_RETURN));
  const auto deadline = std::chrono::steady_clock::now() + wait;
  int flag = 0;
  MPI_Message msg;
  MPI_Status st;
  while (true) {
    CADRE_MPI(MPI_Improbe(0, kAssignTag, parent, &flag, &msg, &st));
    if (flag) break;
    if (std::chrono::steady_clock::now() > deadline)
      throw Error(fmt::format(
          "cadre: {}, but the master did not say which node it is within {} ms: {}",
          join_port.empty() ? "this process was started by MPI_Comm_spawn"
                            : "this process connected to the job",
          wait.count(),
          join_port.empty() ? "was it spawned by a cadre master?" : "is the job a cadre job?"));
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  int count = 0;
  CADRE_MPI(MPI_Get_count(&st, MPI_BYTE, &count));
  std::vector<char> buf(static_cast<std::size_t>(count));
  CADRE_MPI(MPI_Mrecv(buf.data(), count, MPI_BYTE, &msg, &st));
  std::uint32_t id = 0;
  if (buf.size() < sizeof id) throw Error("cadre: the master's assignment is too short");
  std::memcpy(&id, buf.data(), sizeof id);
  bootstrap.assign(buf.begin() + sizeof id, buf.end());
  auto links = std::make_unique<Links>(NodeId(id), o);
  links->set_spawned(!join_port.empty());
  // The loopback (a communicator of this process alone) and the link to the master.
  MPI_Comm self;
  CADRE_MPI(MPI_Comm_dup(MPI_COMM_SELF, &self));
  CADRE_MPI(MPI_Comm_set_errhandler(self, MPI_ERRORS_RETURN));
  links->add_channel(std::make_unique<mpi::MpiTransport>(self, o), {NodeId(id)});
  links->add_channel(std::make_unique<mpi::MpiTransport>(parent, o), {NodeId(0)});
  return links;
}

}  // namespace cadre::transport
