#pragma once
// Tasks and futures on the node loop: placement, the requester's table of pending requests,
// map's windows of chunks (encoded as they leave), and execution of requests as fibers.
//
// Wire: a task_request carries the task id in type_id and a request id in corr; flags 0 is a
// single call (payload: the encoded arguments), flags 1 a map chunk (payload: u32 count, then
// one encoded input per slot). The task_result echoes corr; its payload holds, per slot, a
// status byte and then the value (ok) or the error's text.
//
// Thread rule: loop thread only.

#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <random>
#include <unordered_map>
#include <vector>

#include "cadre/tasks.hpp"
#include "node/service.hpp"
#include "wire/frame.hpp"

namespace cadre::services {

class OutputService;

/// The task service's envelope classes.
namespace cls {
inline constexpr node::Cls task_request{10};
inline constexpr node::Cls task_result{11};
}  // namespace cls

/// task_request flags: one call, a map chunk, and (set on arrival) a request its node refused.
inline constexpr std::uint8_t kSingle = 0, kChunk = 1, kRefused = 0xff;
/// task_result flags: a status and value per slot, or one status for the whole request.
inline constexpr std::uint8_t kSlots = 0, kWhole = 1;

enum class SlotStatus : std::uint8_t {
  ok = 0,
  exception = 1,
  not_registered = 2,
  decode = 3,
  refused = 4,
  too_large = 5  // the results are above the payload cap
};

class TaskService final : public node::Service {
 public:
  /// Runs tasks on `node`; map jobs report progress through `output`.
  TaskService(node::NodeContext& node, OutputService& output);
  ~TaskService() override;

  // -- node::Service ----------------------------------------------------------------------
  const char* name() const override { return "tasks"; }
  std::vector<node::ClassSpec> classes() const override;
  void on_envelope(NodeId src, const wire::Envelope& env, const char* p, std::size_t n) override;
  void on_node_down(NodeId n) override { node_down(n); }
  std::size_t unfinished() const override { return outstanding(); }
  std::size_t abandon_unsent() override;
  void stop_accepting() override { accepting_ = false; }
  std::size_t running() const override { return running_; }

  /// Sends one request (resolving `where` now). Errors go into `state`.
  void submit(const Placement& where, const detail::Entry* e, detail::ByteBuffer args,
              std::shared_ptr<detail::StateBase> state);
  /// Starts a map job: its chunks are encoded from `inputs` as they leave.
  void submit_map(const Placement& where, const detail::Entry* e,
                  std::unique_ptr<detail::MapInputs> inputs, const MapOptions& opts);

  void on_request(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);
  void on_result(NodeId src, const wire::Envelope& env, const char* p, std::size_t n);

  /// Requests of this node not yet answered, and map chunks not yet sent.
  std::size_t outstanding() const;
  /// Fails every map chunk not yet sent (shut-down); returns how many inputs that was.
  std::size_t abandon_queued(const std::string& why);
  /// `n` is lost: its unfinished map chunks go to other nodes (each input still gets one
  /// result), its single requests fail with NodeDown.
  void node_down(NodeId n);
  /// Chunk size for a map over `inputs` on the nodes `where` allows.
  std::size_t default_chunk(const Placement& where, std::size_t inputs) const;

 private:
  static const node::HandlerTable<TaskService>& handlers();
  struct MapJob;
  struct Pending {
    std::shared_ptr<detail::StateBase> state;
    const detail::Entry* entry;
    NodeId node;
    std::uint32_t count;
    MapJob* job;
    std::size_t chunk = 0;  // a map chunk: encoded again from the job's inputs if `node` is lost
  };
  struct MapJob {
    Placement where;
    const detail::Entry* entry;
    std::unique_ptr<detail::MapInputs> inputs;
    std::size_t next = 0;           // the first chunk never sent
    std::deque<std::size_t> again;  // chunks whose node was lost: sent before `next`
    std::vector<int> inflight;      // per node
    int window;
    std::size_t outstanding = 0;
    bool progress = false;  // report done/total on the master's progress line
    std::uint64_t done = 0, total = 0;
    /// Chunks not sent (or to be sent again).
    std::size_t queued() const { return again.size() + (inputs->chunks() - next); }
    bool finished() const { return queued() == 0 && outstanding == 0; }
  };

  void send_request(NodeId node, const detail::Entry* e, std::uint8_t flags, const char* p,
                    std::size_t n, Pending pending);
  void pump(MapJob& job);
  /// Sends chunk `k` of `job` to `node`, encoding it into scratch_; an encoding that fails
  /// or is above the payload cap fails the chunk's futures instead.
  void send_chunk(MapJob& job, std::size_t k, NodeId node);
  /// Fails chunk `k` of `job` for good with `e`.
  void fail_chunk(MapJob& job, std::size_t k, std::exception_ptr e);
  void drop_finished_jobs();
  void execute(NodeId src, wire::Envelope env, detail::ByteBuffer payload);
  /// Runs the request in `payload`, encoding the answer into `out`; returns the result flags
  /// and sets `inputs` to the number of inputs it ran.
  std::uint8_t run_request(const wire::Envelope& env, const detail::ByteBuffer& payload,
                           detail::ByteBuffer& out, std::uint32_t& inputs);
  void fail_pending(Pending& p, std::exception_ptr e);

  node::NodeContext& core_;
  OutputService& output_;
  bool accepting_ = true;
  std::size_t running_ = 0;
  std::uint64_t next_corr_ = 1;
  std::unordered_map<std::uint64_t, Pending> pending_;
  std::list<MapJob> jobs_;
  detail::ByteBuffer scratch_;  // the map chunk being encoded (reused: no buffer per chunk)
};

}  // namespace cadre::services
