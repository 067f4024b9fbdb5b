// The receiving half of the MPI transport: posted slots for small frames and control messages
// (each ending in the sink: see kSinkBytes), matched probes for large frames, frames kept until
// their turn, delivery in link order, and the reports of what failed its checks.

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "cadre/errors.hpp"
#include "transport/mpi_check.hpp"
#include "transport/mpi_env.hpp"
#include "transport/mpi_transport.hpp"
#include "wire/lent_frame.hpp"

namespace cadre::transport::mpi {

int completion_error(int rc, int done, MPI_Request& req, const char* routine) {
  if (rc == MPI_SUCCESS) return MPI_SUCCESS;
  if (!done) throw_mpi_error(routine, rc);
  if (req != MPI_REQUEST_NULL) MPI_Request_free(&req);
  return rc;
}

std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) len = 0;
  return std::string(text, static_cast<std::size_t>(len));
}
bool MpiTransport::busy() const {
  // A large frame being received keeps the loop polling too: without the peer's single copy
  // (over TCP, or into the sink) its data moves only as both sides progress.
  return !send_reqs_.empty() || !dirty_.empty() || !loopback_.empty() || large_pending_ > 0;
}

std::size_t MpiTransport::poll(Sink& sink) {
  std::size_t frames = 0;
  if (!loopback_.empty()) {
    std::deque<detail::ByteBuffer> local;
    local.swap(loopback_);
    for (auto& b : local) {
      deliver(rank_, b.data(), b.size(), sink);
      recycle(std::move(b));
      ++frames;
    }
  }
  // Small frames: the posted slots. Receives with the same source and tag match in the
  // order they were posted, so the oldest posted slot is nearly always the next to fill:
  // one MPI_Test on it (which progresses, then checks again) finds a frame in the pass it
  // lands, where a Testsome over every slot reports it a pass later. One frame per pass:
  // the loop answers it before it looks for the next.
  if (head_ == kHeadUnknown) {
    head_ = -1;
    for (int k = 0; k < kSlots; ++k) {
      const std::uint64_t at = posted_at_[static_cast<std::size_t>(k)];
      if (at != 0 && (head_ < 0 || at < posted_at_[static_cast<std::size_t>(head_)])) head_ = k;
    }
  }
  if (head_ >= 0) {
    const int i = head_;
    int done = 0;
    MPI_Status st;
    MPI_Request& req = slot_reqs_[static_cast<std::size_t>(i)];
    const int rc = MPI_Test(&req, &done, &st);
    const int err = completion_error(rc, done, req, "MPI_Test");
    if (done) {
      if (err != MPI_SUCCESS)
        failed_slot(i, st, mpi_error_text(err), sink);
      else
        small_frame(i, st, sink);
      ++frames;
    }
  }
  // Every few passes, every slot: control messages (heartbeats, pings), and frames that
  // completed out of posting order (an eager frame overtakes a rendezvous one matched
  // before it, or the older one's sender was lost).
  if ((++sweeps_ & 15) == 8) {
    int outcount = 0;
    const int rc = MPI_Testsome(kSlots + kControlSlots, slot_reqs_.data(), &outcount,
                                slot_done_.data(), slot_statuses_.data());
    if (rc != MPI_SUCCESS && rc != MPI_ERR_IN_STATUS) throw_mpi_error("MPI_Testsome", rc);
    for (int k = 0; k < outcount; ++k) {
      const int i = slot_done_[static_cast<std::size_t>(k)];
      const MPI_Status& st = slot_statuses_[static_cast<std::size_t>(k)];
      if (rc == MPI_ERR_IN_STATUS && st.MPI_ERROR != MPI_SUCCESS) {
        // Truncated (larger than the slot): Open MPI keeps such a request allocated.
        MPI_Request& req = slot_reqs_[static_cast<std::size_t>(i)];
        if (req != MPI_REQUEST_NULL) MPI_Request_free(&req);
        failed_slot(i, st, mpi_error_text(st.MPI_ERROR), sink);
        ++frames;
        continue;
      }
      if (i < kSlots) {
        small_frame(i, st, sink);
        ++frames;
        continue;
      }
      if (received(st) > kMaxControlBytes) {
        failed_slot(i, st, oversized(st, "control", kMaxControlBytes), sink);
        ++frames;
        continue;
      }
      detail::ByteBuffer& b = slot_bytes(i, st);
      if (!dead(st.MPI_SOURCE)) {
        NodeId from(static_cast<std::uint32_t>(st.MPI_SOURCE));
        sink.on_alive(from);
        if (!b.empty() && static_cast<unsigned char>(b.data()[0]) == kCreditGrant)
          on_grant(st.MPI_SOURCE, b);
        else
          sink.on_control(from, b.data(), b.size());
      }
      post_slot(i);
    }
  }
  for (std::size_t i = 0; i < receiving_.size();) {
    int src = receiving_[i];
    Link& l = *links_[static_cast<std::size_t>(src)];
    while (!l.recvs.empty()) {
      int done = 0;
      MPI_Status st;
      Recv& r = l.recvs.front();
      const int rc = MPI_Test(&r.req, &done, &st);
      const int err = completion_error(rc, done, r.req, "MPI_Test");
      if (!done) break;
      detail::ByteBuffer b = std::move(r.buf);
      const std::size_t refused = r.refused;
      l.recvs.pop_front();
      --large_pending_;
      ++frames;
      if (refused > 0 || err != MPI_SUCCESS) {
        lost_frame(src, sink,
                   refused > 0 ? fmt::format("a frame of {} bytes is above the largest a link "
                                             "carries ({} bytes: the payload cap and "
                                             "coalescing); it was not received",
                                             refused, max_frame())
                               : fmt::format("a large frame failed: {}", mpi_error_text(err)));
        continue;
      }
      arrived(src, b, sink, /*lendable=*/true);
      recycle(std::move(b));
    }
    if (l.recvs.empty()) {
      receiving_[i] = receiving_.back();
      receiving_.pop_back();
    } else {
      ++i;
    }
  }
  return frames;
}

void MpiTransport::lost_frame(int src, Sink& sink, const std::string& why) {
  if (dead(src)) return;
  sink.on_alive(NodeId(static_cast<std::uint32_t>(src)));
  sink.on_bad_frame(NodeId(static_cast<std::uint32_t>(src)), why);
}

std::size_t MpiTransport::received(const MPI_Status& st) {
  int count = 0;
  CADRE_MPI(MPI_Get_count(&st, MPI_BYTE, &count));
  return count == MPI_UNDEFINED ? SIZE_MAX : static_cast<std::size_t>(count);
}

std::string MpiTransport::oversized(const MPI_Status& st, const char* tag, std::size_t limit) {
  return fmt::format("a message of {} bytes on the {} tag, larger than {} bytes: discarded",
                     received(st), tag, limit);
}

void MpiTransport::failed_slot(int i, const MPI_Status& st, const std::string& why, Sink& sink) {
  const bool control = i >= kSlots;
  if (!control) {
    posted_at_[static_cast<std::size_t>(i)] = 0;
    if (i == head_) head_ = kHeadUnknown;
  }
  if (control) {
    if (!dead(st.MPI_SOURCE)) {
      sink.on_alive(NodeId(static_cast<std::uint32_t>(st.MPI_SOURCE)));
      sink.on_bad_frame(NodeId(static_cast<std::uint32_t>(st.MPI_SOURCE)), why);
    }
    post_slot(i);
    return;
  }
  lost_frame(st.MPI_SOURCE, sink, why);
  repost_.push_back(i);
}

void MpiTransport::probe_large() {
  // Every 16th flush (a large frame waits a few passes at most), and at every flush while
  // large frames are being received. Not after each small frame: that put an MPI_Improbe on
  // every message's path (a driver's round trip and a process's hop were 4 % slower).
  if ((++large_polls_ & 15) == 0 || large_pending_ > 0) {
    for (int k = 0; k < kMaxProbesPerPoll; ++k) {
      int flag = 0;
      MPI_Message msg;
      MPI_Status st;
      CADRE_MPI(MPI_Improbe(MPI_ANY_SOURCE, mpi_tag(Tag::large_frame), comm_, &flag, &msg, &st));
      if (!flag) break;
      int count = 0;
      CADRE_MPI(MPI_Get_count(&st, MPI_BYTE, &count));
      Link& l = *links_[static_cast<std::size_t>(st.MPI_SOURCE)];
      Recv& r = l.recvs.emplace_back();
      if (static_cast<std::size_t>(count) > max_frame()) {
        // Checked before a buffer is allocated: the message is received into nothing
        // (truncated) and reported when that completes, in the link's order.
        r.refused = static_cast<std::size_t>(count);
        CADRE_MPI(MPI_Imrecv(sink_buf_.data(), count / kSinkBytes + 1, sink_type_, &msg, &r.req));
      } else {
        r.buf = take_buffer(static_cast<std::size_t>(count));
        r.buf.resize(static_cast<std::size_t>(count));
        CADRE_MPI(MPI_Imrecv(r.buf.data(), count, MPI_BYTE, &msg, &r.req));
      }
      if (l.recvs.size() == 1) receiving_.push_back(st.MPI_SOURCE);
      ++large_pending_;
    }
  }
}

detail::ByteBuffer& MpiTransport::slot_bytes(int i, const MPI_Status& st) {
  int count = 0;
  CADRE_MPI(MPI_Get_count(&st, MPI_BYTE, &count));
  detail::ByteBuffer& b = slot_bufs_[static_cast<std::size_t>(i)];
  b.resize(static_cast<std::size_t>(count));
  return b;
}

void MpiTransport::small_frame(int i, const MPI_Status& st, Sink& sink) {
  if (received(st) > kSlotBytes) {
    failed_slot(i, st, oversized(st, "small-frame", kSlotBytes), sink);
    return;
  }
  posted_at_[static_cast<std::size_t>(i)] = 0;
  if (i == head_) head_ = kHeadUnknown;  // found at the next poll, off this frame's path
  arrived(st.MPI_SOURCE, slot_bytes(i, st), sink);
  repost_.push_back(i);
}

void MpiTransport::post_slot(int i) {
  detail::ByteBuffer& b = slot_bufs_[static_cast<std::size_t>(i)];
  const bool control = i >= kSlots;
  const std::size_t size = control ? kMaxControlBytes : kSlotBytes;
  if (b.capacity() < size) b.reserve(size);
  CADRE_MPI(MPI_Irecv(MPI_BOTTOM, 1, slot_type(i, b.data(), size), MPI_ANY_SOURCE,
                      mpi_tag(control ? Tag::control : Tag::small_frame), comm_,
                      &slot_reqs_[static_cast<std::size_t>(i)]));
  if (!control) {
    posted_at_[static_cast<std::size_t>(i)] = ++posts_;
    if (head_ == -1) head_ = i;  // else the head is older, or about to be looked for
  }
}

MPI_Datatype MpiTransport::slot_type(int i, const char* at, std::size_t size) {
  auto k = static_cast<std::size_t>(i);
  if (slot_type_at_[k] == at) return slot_types_[k];
  if (slot_types_[k] != MPI_DATATYPE_NULL) CADRE_MPI(MPI_Type_free(&slot_types_[k]));
  int lengths[2] = {static_cast<int>(size), (INT_MAX - static_cast<int>(size)) / kSinkBytes};
  MPI_Aint where[2];
  CADRE_MPI(MPI_Get_address(at, &where[0]));
  CADRE_MPI(MPI_Get_address(sink_buf_.data(), &where[1]));
  MPI_Datatype types[2] = {MPI_BYTE, sink_type_};
  CADRE_MPI(MPI_Type_create_struct(2, lengths, where, types, &slot_types_[k]));
  CADRE_MPI(MPI_Type_commit(&slot_types_[k]));
  slot_type_at_[k] = at;
  return slot_types_[k];
}

void MpiTransport::arrived(int src, detail::ByteBuffer& b, Sink& sink, bool lendable) {
  if (dead(src)) return;  // late frames of a lost node
  sink.on_alive(NodeId(static_cast<std::uint32_t>(src)));
  Link& l = *links_[static_cast<std::size_t>(src)];
  std::uint64_t seq = b.size() >= wire::kFrameHeaderSize
                          ? wire::frame_seq(b.data())
                          : l.seq_in;  // too short to say: deliver() reports it
  if (seq > l.seq_in && seq - l.seq_in <= early_frames_limit() &&
      l.early.size() < early_frames_limit() && l.early_bytes + b.size() <= early_bytes_limit() &&
      !l.early.count(seq)) {
    l.early_bytes += b.size();
    if (b.capacity() >= kEarlyCopyRatio * b.size()) {
      detail::ByteBuffer copy;
      copy.reserve(b.size());
      copy.append(b.data(), b.size());
      l.early.emplace(seq, std::move(copy));
    } else {
      l.early.emplace(seq, std::move(b));
      b = take_buffer(kSlotBytes);
    }
    return;
  }
  deliver(src, b.data(), b.size(), sink, lendable ? &b : nullptr);
  deliver_early(src, sink);
}

std::size_t MpiTransport::early_frames_limit() const {
  return std::max(kMaxEarlyFrames,
                  2 * static_cast<std::size_t>(credit_limit_) / wire::kFrameHeaderSize);
}

std::size_t MpiTransport::early_bytes_limit() const {
  return std::max(kMaxEarlyBytes, 2 * static_cast<std::size_t>(credit_limit_));
}

void MpiTransport::deliver_early(int src, Sink& sink) {
  Link& l = *links_[static_cast<std::size_t>(src)];
  while (!l.early.empty() && l.early.begin()->first <= l.seq_in) {
    auto node = l.early.extract(l.early.begin());
    l.early_bytes -= node.mapped().size();
    deliver(src, node.mapped().data(), node.mapped().size(), sink, &node.mapped());
    if (node.mapped().capacity() >= coalesce_) recycle(std::move(node.mapped()));
  }
}

void MpiTransport::deliver(int src, const char* p, std::size_t n, Sink& sink,
                           detail::ByteBuffer* lend) {
  NodeId from(static_cast<std::uint32_t>(src));
  wire::FrameView view;
  try {
    // A frame holds at most one envelope above the coalescing threshold.
    view = wire::parse_frame(p, n, cap_ + coalesce_ + 4096);
  } catch (const DecodeError& e) {
    sink.on_bad_frame(from, e.what());
    ++links_[static_cast<std::size_t>(src)]->seq_in;  // the frame due is gone
    consumed(src, n);                                 // and off the link
    return;
  }
  Link& l = *links_[static_cast<std::size_t>(src)];
  if (view.header.seq != l.seq_in)
    sink.on_bad_frame(from, fmt::format("link sequence number {} where {} was expected "
                                        "(frames were lost or duplicated)",
                                        view.header.seq, l.seq_in));
  l.seq_in = view.header.seq + 1;
  wire::EnvelopeReader reader(view);
  wire::EnvelopeRef e;
  while (reader.next(e)) {
    try {
      if (e.header.cls == kRelayClass && relay_hook_) {
        relay_hook_(relay_ctx_, from, e.header, e.payload, e.length, sink);
      } else if (lend && e.length >= wire::kLendBytes && view.header.count == 1) {
        // A large message alone in its frame: its receiver may keep the frame's buffer.
        wire::LendFrame loan(*lend, e.payload);
        sink.on_envelope(from, e.header, e.payload, e.length);
      } else {
        sink.on_envelope(from, e.header, e.payload, e.length);
      }
    } catch (const std::exception& ex) {
      // One bad envelope must not take the rest of the frame (or the node) with it.
      sink.on_bad_frame(from,
                        fmt::format("envelope of class {}: {}", unsigned(e.header.cls), ex.what()));
    }
  }
  consumed(src, n);
}

}  // namespace cadre::transport::mpi
