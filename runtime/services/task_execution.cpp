// The executing side of the task service: a request arrives, runs as a fiber on this node's
// loop, and its results (or why there are none) go back to the requester. The requesting
// side, placement and map's windows are in services/tasks.cpp.
#include <fmt/format.h>

#include "cadre/errors.hpp"
#include "node/log.hpp"
#include "node/trace.hpp"
#include "services/tasks.hpp"

namespace cadre::services {

using detail::ByteBuffer;
using detail::InArchive;
using detail::OutArchive;

void TaskService::on_request(NodeId src, const wire::Envelope& env, const char* p, std::size_t n) {
  ByteBuffer payload;
  payload.append(p, n);
  // Acceptance is decided on arrival: a request that arrived before the shut-down notice runs.
  wire::Envelope request = env;
  if (!accepting_) request.flags = kRefused;
  execute(src, request, std::move(payload));
}

void TaskService::execute(NodeId src, wire::Envelope env, ByteBuffer payload) {
  ++running_;
  core_.scheduler().spawn(
      [this, src, env, payload = std::move(payload)]() mutable {
        ByteBuffer out;
        std::uint8_t flags = kSlots;
        const std::int64_t t0 = node::trace::on() ? node::trace::now_ns() : 0;
        try {
          std::uint32_t inputs = 0;
          flags = run_request(env, payload, out, inputs);
          if (t0 != 0 && node::trace::on()) [[unlikely]]
            node::trace::span(node::trace::Kind::task, t0, env.type_id, inputs);
        } catch (const std::exception& ex) {
          // Whatever failed outside the task itself (memory, encoding): answer, never die.
          out.clear();
          flags = kWhole;
          OutArchive oa(out);
          oa& static_cast<std::uint8_t>(SlotStatus::decode) &
              std::string(fmt::format("{}: {}", detail::type_name(typeid(ex)), ex.what())) &
              std::string();
        }
        const wire::Envelope reply = node::envelope({.cls = cls::task_result,
                                                     .flags = flags,
                                                     .type_id = env.type_id,
                                                     .corr = env.corr,
                                                     .src = Pid{core_.self_node(), 0},
                                                     .dst = env.src});
        try {
          core_.send(src, reply, out.data(), out.size());
        } catch (const std::exception& ex) {
          node::log_local(Level::error, fmt::format("could not answer a task request from {}: {}",
                                                    core_.describe(src), ex.what()));
        }
        --running_;
      },
      core_.next_serial());
}

std::uint8_t TaskService::run_request(const wire::Envelope& env, const ByteBuffer& payload,
                                      ByteBuffer& out, std::uint32_t& inputs) {
  OutArchive oa(out);
  auto whole = [&](SlotStatus s, const std::string& why) {
    out.clear();
    oa& static_cast<std::uint8_t>(s) & why& std::string();
    return kWhole;
  };
  const detail::Entry* e = detail::find_id(env.type_id);
  if (!e || e->kind != detail::EntryKind::task) return whole(SlotStatus::not_registered, "");
  if (env.flags == kRefused) return whole(SlotStatus::refused, "the node is shutting down");
  try {
    InArchive ia(payload.data(), payload.size());
    std::uint32_t count = 1;
    if (env.flags == kChunk) ia& count;
    inputs = count;
    oa& count;
    for (std::uint32_t i = 0; i < count; ++i) {
      const std::size_t mark = out.size();
      oa& static_cast<std::uint8_t>(SlotStatus::ok);
      bool decoded = false;
      try {
        e->invoke(*e, ia, oa, &decoded);
      } catch (const std::exception& ex) {
        out.resize(mark);
        if (!decoded) {
          // The inputs from here on cannot be located: fail them all.
          for (std::uint32_t k = i; k < count; ++k)
            oa& static_cast<std::uint8_t>(SlotStatus::decode) &
                std::string(fmt::format("input {} is malformed: {}", i, ex.what()));
          break;
        }
        oa& static_cast<std::uint8_t>(SlotStatus::exception) & detail::type_name(typeid(ex)) &
            std::string(ex.what());
      } catch (...) {
        out.resize(mark);
        if (!decoded) throw;
        oa& static_cast<std::uint8_t>(SlotStatus::exception) &
            std::string("a non-standard exception") & std::string("(no message)");
      }
    }
  } catch (const DecodeError& ex) {
    return whole(SlotStatus::decode, ex.what());
  }
  const std::size_t cap = core_.payload_cap();
  if (out.size() > cap)
    return whole(
        SlotStatus::too_large,
        fmt::format("its result{} ({} bytes) exceed{} the payload cap of {} bytes "
                    "(Options::payload_cap, CADRE_PAYLOAD_CAP){}",
                    env.flags == kChunk ? "s" : "", out.size(), env.flags == kChunk ? "" : "s", cap,
                    env.flags == kChunk ? "; a smaller chunk may fit" : ""));
  return kSlots;
}

}  // namespace cadre::services
