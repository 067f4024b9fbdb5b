#include "services/tasks.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "cadre/errors.hpp"
#include "node/log.hpp"
#include "node/placement.hpp"
#include "services/output.hpp"

namespace cadre::services {

using detail::ByteBuffer;
using detail::InArchive;
using detail::OutArchive;

namespace {
std::string task_label(const detail::Entry* e) { return fmt::format("task '{}'", e->name); }
}  // namespace

TaskService::TaskService(node::NodeContext& core, OutputService& output)
    : core_(core), output_(output) {}
TaskService::~TaskService() = default;

// The task classes, each to its handler.
const node::HandlerTable<TaskService>& TaskService::handlers() {
  using S = TaskService;
  using T = node::HandlerTable<S>;
  static const T table{
      T::entry<&S::on_request>(cls::task_request, "task_request", node::kAnyNode),
      T::entry<&S::on_result>(cls::task_result, "task_result", node::kAnyNode),
  };
  return table;
}

std::vector<node::ClassSpec> TaskService::classes() const { return handlers().specs(); }

void TaskService::on_envelope(NodeId src, const wire::Envelope& env, const char* p, std::size_t n) {
  handlers().dispatch(*this, src, env, p, n);
}

std::size_t TaskService::abandon_unsent() {
  const std::size_t abandoned = abandon_queued(
      "cadre: the runtime shut down before this map input was sent (shutdown_timeout)");
  if (abandoned)
    node::log_local(Level::error,
                    fmt::format("shutdown: {} map input(s) were never sent: the shut-down timeout "
                                "({} ms) ran out first",
                                abandoned, core_.options().shutdown_timeout.count()));
  return abandoned;
}

std::size_t TaskService::default_chunk(const Placement& where, std::size_t inputs) const {
  std::size_t nodes = 1;
  try {
    nodes = core_.candidates(where).size();
  } catch (const Error&) {
  }
  std::size_t per = std::max<int>(1, core_.options().map_window) * 4;
  return std::clamp<std::size_t>(inputs / (nodes * per), 1, 1024);
}

// -- requester side -----------------------------------------------------------------------

std::size_t TaskService::outstanding() const {
  std::size_t n = pending_.size();
  for (auto& j : jobs_) n += j.queued();
  return n;
}

std::size_t TaskService::abandon_queued(const std::string& why) {
  std::size_t inputs = 0;
  const auto err = std::make_exception_ptr(NotRunning(why));
  for (auto& j : jobs_) {
    for (std::size_t k : j.again) {
      inputs += j.inputs->chunk_size(k);
      fail_chunk(j, k, err);
    }
    j.again.clear();
    for (; j.next < j.inputs->chunks(); ++j.next) {
      inputs += j.inputs->chunk_size(j.next);
      fail_chunk(j, j.next, err);
    }
  }
  drop_finished_jobs();
  return inputs;
}

void TaskService::drop_finished_jobs() {
  jobs_.remove_if([](const MapJob& j) { return j.finished(); });
}

void TaskService::send_request(NodeId node, const detail::Entry* e, std::uint8_t flags,
                               const char* p, std::size_t n, Pending pending) {
  std::uint64_t corr = next_corr_++;
  const wire::Envelope env = node::envelope({.cls = cls::task_request,
                                             .flags = flags,
                                             .type_id = e->id,
                                             .corr = corr,
                                             .src = Pid{core_.self_node(), 0},
                                             .dst = Pid{node, 0}});
  // A single task may be held back by a driver's call for a frame of several; a map chunk,
  // many inputs already, leaves at once.
  if (pending.job)
    core_.send(node, env, p, n);
  else
    core_.send_request(node, env, p, n);
  core_.add_load(node, pending.count);
  pending_.emplace(corr, std::move(pending));
}

void TaskService::node_down(NodeId n) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.node != n) {
      ++it;
      continue;
    }
    Pending p = std::move(it->second);
    it = pending_.erase(it);
    if (MapJob* job = p.job) {
      --job->inflight[n.value()];
      --job->outstanding;
      job->again.push_back(p.chunk);  // encoded and sent again, elsewhere
      continue;
    }
    p.state->set_all_errors(std::make_exception_ptr(
        NodeDown(fmt::format("cadre: {} {} while running {}", core_.describe(n),
                             node::node_ended_phrase(*core_.table(), n), task_label(p.entry)))));
    p.state->complete();
  }
  for (auto& job : jobs_) pump(job);
  drop_finished_jobs();
}

void TaskService::submit(const Placement& where, const detail::Entry* e, ByteBuffer args,
                         std::shared_ptr<detail::StateBase> state) {
  try {
    NodeId n = core_.pick(where);
    send_request(n, e, kSingle, args.data(), args.size(), Pending{state, e, n, 1, nullptr});
  } catch (...) {
    state->set_all_errors(std::current_exception());
    state->complete();
  }
}

void TaskService::submit_map(const Placement& where, const detail::Entry* e,
                             std::unique_ptr<detail::MapInputs> inputs, const MapOptions& opts) {
  MapJob& job = jobs_.emplace_back();
  job.where = where;
  job.entry = e;
  job.window = std::max(1, core_.options().map_window);
  job.progress = opts.progress;
  job.total = inputs->count();
  job.inputs = std::move(inputs);
  if (job.progress) output_.send_progress(Pid{}, 0, job.total);
  pump(job);
  if (job.finished()) jobs_.pop_back();
}

void TaskService::pump(MapJob& job) {
  auto take = [&job] {
    if (job.again.empty()) return job.next++;
    const std::size_t k = job.again.front();
    job.again.pop_front();
    return k;
  };
  std::vector<NodeId> c;
  try {
    c = core_.candidates(job.where);
  } catch (...) {
    auto err = std::current_exception();
    while (job.queued()) fail_chunk(job, take(), err);
    return;
  }
  for (NodeId n : c)
    if (n.value() >= job.inflight.size()) job.inflight.resize(n.value() + 1, 0);
  while (job.queued()) {
    NodeId best{};
    bool found = false;
    if (node::Placer::is_random(job.where)) {
      std::vector<NodeId> room;
      for (NodeId n : c)
        if (job.inflight[n.value()] < job.window) room.push_back(n);
      if (!room.empty()) {
        best = room[core_.random_index(room.size())];
        found = true;
      }
    } else {
      for (NodeId n : c) {
        if (job.inflight[n.value()] >= job.window) continue;
        if (!found || job.inflight[n.value()] < job.inflight[best.value()]) {
          best = n;
          found = true;
        }
      }
    }
    if (!found) break;
    send_chunk(job, take(), best);
  }
}

void TaskService::send_chunk(MapJob& job, std::size_t k, NodeId node) {
  detail::MapInputs& in = *job.inputs;
  const std::uint32_t count = in.chunk_size(k);
  const std::size_t first = in.first(k);
  auto inputs_of_chunk = [&] {
    return count == 1
               ? fmt::format("its chunk (input {})", first)
               : fmt::format("its chunk of {} inputs ({}..{})", count, first, first + count - 1);
  };
  // The buffer keeps its storage from chunk to chunk, unless one chunk made it huge.
  constexpr std::size_t kKeep = 4 << 20;
  if (scratch_.capacity() > kKeep) scratch_ = detail::ByteBuffer();
  scratch_.clear();
  std::size_t at = first;
  try {
    in.encode(k, scratch_, at);
  } catch (const std::exception& ex) {
    const std::string why = fmt::format(
        "cadre::map({}): input {} could not be encoded ({}: {}); {} was not sent",
        task_label(job.entry), at, detail::type_name(typeid(ex)), ex.what(), inputs_of_chunk());
    fail_chunk(job, k,
               dynamic_cast<const PayloadTooLarge*>(&ex)
                   ? std::make_exception_ptr(PayloadTooLarge(why))
                   : std::make_exception_ptr(Error(why)));
    return;
  } catch (...) {
    fail_chunk(job, k,
               std::make_exception_ptr(Error(fmt::format(
                   "cadre::map({}): input {} could not be encoded (a non-standard exception); "
                   "{} was not sent",
                   task_label(job.entry), at, inputs_of_chunk()))));
    return;
  }
  if (const std::size_t cap = core_.payload_cap(); scratch_.size() > cap) {
    fail_chunk(job, k,
               std::make_exception_ptr(PayloadTooLarge(fmt::format(
                   "cadre::map({}): {} takes {} bytes, above the payload cap of {} bytes "
                   "(Options::payload_cap, CADRE_PAYLOAD_CAP); use a smaller .chunk",
                   task_label(job.entry), inputs_of_chunk(), scratch_.size(), cap))));
    return;
  }
  try {
    send_request(node, job.entry, kChunk, scratch_.data(), scratch_.size(),
                 Pending{in.state(k), job.entry, node, count, &job, k});
    ++job.inflight[node.value()];
    ++job.outstanding;
  } catch (...) {
    fail_chunk(job, k, std::current_exception());
  }
}

void TaskService::fail_chunk(MapJob& job, std::size_t k, std::exception_ptr e) {
  const auto& st = job.inputs->state(k);
  st->set_all_errors(std::move(e));
  st->complete();
  job.done += job.inputs->chunk_size(k);
  job.inputs->done(k);
}

void TaskService::on_result(NodeId src, const wire::Envelope& env, const char* p, std::size_t n) {
  auto it = pending_.find(env.corr);
  if (it == pending_.end()) {
    ++core_.drops().late_reply;  // a result nobody waits for (a duplicate or a forged id)
    return;
  }
  Pending pend = std::move(it->second);
  pending_.erase(it);
  core_.add_load(pend.node, -static_cast<std::int64_t>(pend.count));
  if (!pend.job) core_.request_answered(pend.node);
  auto& st = *pend.state;
  // Named in errors only: described when one is made.
  const auto where = [&] { return core_.describe(src); };
  try {
    InArchive ia(p, n);
    if (env.flags == kWhole) {
      std::uint8_t status;
      std::string a, b;
      ia& status& a& b;
      std::exception_ptr err;
      switch (static_cast<SlotStatus>(status)) {
        case SlotStatus::not_registered:
          err = std::make_exception_ptr(NotRegistered(fmt::format(
              "cadre: {} ('{}') is not registered on {} (its program lacks "
              "CADRE_TASK({}), or has it with another signature)",
              task_label(pend.entry), pend.entry->signature, where(), pend.entry->name)));
          break;
        case SlotStatus::refused:
          err = std::make_exception_ptr(NotRunning(
              fmt::format("cadre: {} refused {}: {}", where(), task_label(pend.entry), a)));
          break;
        case SlotStatus::too_large:
          err = std::make_exception_ptr(PayloadTooLarge(
              fmt::format("cadre: {} on {}: {}", task_label(pend.entry), where(), a)));
          break;
        default:
          err = std::make_exception_ptr(DecodeError(
              fmt::format("cadre: {} could not run {}: {}", where(), task_label(pend.entry), a)));
      }
      st.set_all_errors(err);
    } else {
      std::uint32_t count;
      ia& count;
      if (count != pend.count)
        throw DecodeError(fmt::format("{} results for {} inputs", count, pend.count));
      for (std::uint32_t i = 0; i < count; ++i) {
        std::uint8_t status;
        ia& status;
        if (status == static_cast<std::uint8_t>(SlotStatus::ok)) {
          st.decode_slot(i, ia);
          continue;
        }
        std::string a, b;
        ia& a;
        if (status == static_cast<std::uint8_t>(SlotStatus::exception)) {
          ia& b;
          st.set_error(
              i, std::make_exception_ptr(RemoteError(fmt::format(
                     "cadre: {} on {} threw {}: {}", task_label(pend.entry), where(), a, b))));
        } else {
          st.set_error(i, std::make_exception_ptr(DecodeError(fmt::format(
                              "cadre: {} on {}: {}", task_label(pend.entry), where(), a))));
        }
      }
    }
    ia.expect_end();
  } catch (const std::exception& e) {
    st.set_all_errors(std::make_exception_ptr(DecodeError(fmt::format(
        "cadre: malformed result of {} from {}: {}", task_label(pend.entry), where(), e.what()))));
  }
  st.complete();
  if (MapJob* job = pend.job) {
    job->inputs->done(pend.chunk);
    --job->inflight[pend.node.value()];
    --job->outstanding;
    job->done += pend.count;
    if (job->progress) output_.send_progress(Pid{}, job->done, job->total);
    pump(*job);
    if (job->finished()) jobs_.remove_if([job](const MapJob& j) { return &j == job; });
  }
}

}  // namespace cadre::services
