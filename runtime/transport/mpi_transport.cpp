// The MPI transport: one ordered link per node pair over cadre's own duplicate of
// MPI_COMM_WORLD. Every call is nonblocking and polled by the node loop, so no call ever
// waits inside MPI on one peer:
//  - frames up to kSlotBytes (nearly all: the coalescing buffer is smaller) travel on the
//    small tag into receives posted in advance (one MPI_Testsome finds them, and the data
//    lands in place: no unexpected-queue copy, no probe);
//  - larger frames travel on the large tag and are found with MPI_Improbe + MPI_Imrecv;
//  - sends are MPI_Isend of whole coalesced frames.
//
// Invariants:
//  - Each link carries frames with consecutive sequence numbers starting at 1. Frames of one
//    link can complete out of order (two tags, several slots), so the receiver keeps those
//    that arrive early and delivers strictly by sequence number.
//  - A frame's buffer stays alive until its MPI_Isend completes (ob1 cannot cancel sends).

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <array>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "cadre/errors.hpp"
#include "transport/mpi_check.hpp"
#include "transport/mpi_env.hpp"

namespace cadre::transport {
namespace {

constexpr int kSmallTag = 7301;
constexpr int kLargeTag = 7302;
constexpr int kControlTag = 7303;
constexpr int kControlSlots = 4;
constexpr unsigned char kCreditGrant = kTransportControl;  // + 8 bytes: the bytes granted
constexpr int kMaxProbesPerPoll = 16;
// A fixed size, the same on every node whatever its options: a frame that fits is sent on
// the small tag, and every posted receive can hold it.
constexpr std::size_t kSlotBytes = 72 * 1024;
constexpr int kSlots = 8;
// Early frames kept per link before a missing one is declared lost; their bytes are bounded
// too (a frame that arrives early is a small one overtaking a large one, so a peer that keeps
// more is not following the protocol).
constexpr std::size_t kMaxEarlyFrames = 1024;
constexpr std::size_t kMaxEarlyBytes = std::size_t(64) << 20;
// A credit grant: kCreditGrant, the bytes granted (u64), the last frame taken off the link
// (u64): the sender learns which frames were delivered.
constexpr std::size_t kGrantBytes = 17;

// Oversized messages: Open MPI 4.1 writes the whole of a message above the eager limit into a
// receive buffer that is too small for it (it does not stop at the buffer's end), so a peer
// could overrun any posted receive. Every receive therefore ends in a sink: a 64 KiB block
// repeated with zero extent, so any excess lands, again and again, in one scratch buffer and
// the status tells the true size. MPI forbids overlapping receive buffers; this one is only
// written, never read.
constexpr int kSinkBytes = 64 * 1024;

// What a link may still do.
enum class LinkState : std::uint8_t { open, closed, dead };

/// The error code of a request that completed with an error (MPI_SUCCESS otherwise), after
/// testing it with `rc` = MPI_Test's result. Open MPI leaves such a request allocated: it is
/// freed here. A failure of the test itself (nothing completed) throws.
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

class MpiTransport final : public Transport {
 public:
  MpiTransport(MPI_Comm comm, const Options& o)
      : comm_(comm),
        coalesce_(std::max<std::size_t>(o.coalesce_bytes, 256)),
        cap_(o.payload_cap),
        credit_limit_(static_cast<std::int64_t>(o.link_credit)) {
    CADRE_MPI(MPI_Comm_rank(comm_, &rank_));
    CADRE_MPI(MPI_Comm_size(comm_, &size_));
    links_.reserve(static_cast<std::size_t>(size_));
    for (int i = 0; i < size_; ++i) links_.push_back(std::make_unique<Link>());
    // Slots 0 .. kSlots-1 take small frames, the last kControlSlots control messages: one
    // MPI_Testsome watches them all.
    const int all = kSlots + kControlSlots;
    slot_bufs_.resize(all);
    slot_reqs_.assign(all, MPI_REQUEST_NULL);
    slot_statuses_.resize(all);
    slot_done_.resize(all);
    state_.assign(static_cast<std::size_t>(size_), LinkState::open);
    inflight_.assign(static_cast<std::size_t>(size_), 0);
    credit_.assign(static_cast<std::size_t>(size_), credit_limit_);
    consumed_.assign(static_cast<std::size_t>(size_), 0);
    sink_buf_.resize(kSinkBytes);
    MPI_Datatype block;
    CADRE_MPI(MPI_Type_contiguous(kSinkBytes, MPI_BYTE, &block));
    CADRE_MPI(MPI_Type_create_resized(block, 0, 0, &sink_type_));
    CADRE_MPI(MPI_Type_commit(&sink_type_));
    CADRE_MPI(MPI_Type_free(&block));
    slot_types_.assign(all, MPI_DATATYPE_NULL);
    slot_type_at_.assign(all, nullptr);
    for (int i = 0; i < all; ++i) post_slot(i);
  }

  ~MpiTransport() override {
    // Posted receives are cancelled (a local operation); one that cannot be completed, like
    // a send still in flight to a peer that never took it, keeps its buffer: leaked on
    // purpose, so that MPI never writes or reads freed memory.
    bool leak_slots = false;
    for (auto& r : slot_reqs_) {
      if (r == MPI_REQUEST_NULL) continue;
      MPI_Cancel(&r);
      int done = 0;
      for (int i = 0; i < 1000 && !done; ++i) MPI_Test(&r, &done, MPI_STATUS_IGNORE);
      if (!done) leak_slots = true;
    }
    if (leak_slots) new std::vector<detail::ByteBuffer>(std::move(slot_bufs_));
    if (!send_reqs_.empty()) new std::vector<detail::ByteBuffer>(std::move(send_bufs_));
    if (!abandoned_.empty()) new std::vector<detail::ByteBuffer>(std::move(abandoned_));
    for (auto& l : links_)
      if (!l->recvs.empty()) new std::deque<Recv>(std::move(l->recvs));
    if (leak_slots || !receiving_.empty()) new std::vector<char>(std::move(sink_buf_));
    for (auto& t : slot_types_)
      if (t != MPI_DATATYPE_NULL) MPI_Type_free(&t);
    MPI_Type_free(&sink_type_);
    MPI_Comm_free(&comm_);
  }

  NodeId self() const override { return NodeId(static_cast<std::uint32_t>(rank_)); }
  std::uint32_t size() const override { return static_cast<std::uint32_t>(size_); }
  std::size_t payload_cap() const override { return cap_; }
  void set_limits(std::size_t cap, std::size_t coalesce, std::size_t credit) override {
    cap_ = cap;
    coalesce_ = std::max<std::size_t>(coalesce, 256);
    // Before any payload traffic: every link starts with the master's credit.
    credit_limit_ = static_cast<std::int64_t>(credit);
    for (auto& c : credit_) c = credit_limit_;
  }

  void send(NodeId dst, const wire::Envelope& env, const char* p, std::size_t n) override {
    if (n > cap_)
      throw PayloadTooLarge(fmt::format(
          "cadre: a message of {} bytes to node {} is above the payload cap of {} bytes "
          "(Options::payload_cap, CADRE_PAYLOAD_CAP)",
          n, dst.value(), cap_));
    if (dst.value() >= links_.size())
      throw InvalidNode(
          fmt::format("cadre: no link to node {} (the job has {} nodes)", dst.value(), size_));
    if (state_[dst.value()] != LinkState::open) {
      // A lost node: nothing reaches it any more. A closed link: shut-down sent its last frame.
      if (state_[dst.value()] == LinkState::dead)
        ++dropped_.node_down;
      else
        ++dropped_.after_close;
      return;
    }
    Link& l = *links_[dst.value()];
    if (!l.writer.in_frame()) l.writer.begin_frame();
    l.writer.append_envelope(env, p, n);
    if (!l.dirty) {
      l.dirty = true;
      dirty_.push_back(dst.value());
    }
    if (l.writer.frame_bytes() >= coalesce_) ship(dst.value());
  }

  std::size_t flush() override {
    std::size_t work = 0;
    for (std::uint32_t d : dirty_) {
      if (links_[d]->dirty) {
        ship(d);
        ++work;
      }
    }
    dirty_.clear();
    for (int i : repost_) post_slot(i);
    repost_.clear();
    work += progress_sends();
    probe_large();
    return work;
  }

  bool busy() const override {
    // A large frame being received keeps the loop polling too: without the peer's single copy
    // (over TCP, or into the sink) its data moves only as both sides progress.
    return !send_reqs_.empty() || !dirty_.empty() || !loopback_.empty() || large_pending_ > 0;
  }

  std::size_t poll(Sink& sink) override {
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
          if (!b.empty() && static_cast<unsigned char>(b.data()[0]) >= kTransportControl)
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
        arrived(src, b, sink);
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

 private:
  struct Recv {
    MPI_Request req = MPI_REQUEST_NULL;
    detail::ByteBuffer buf;
    std::size_t refused = 0;  // the size of a frame above max_frame(): received into nothing
  };
  struct Link {
    detail::ByteBuffer buf;
    wire::FrameWriter writer{buf};
    std::uint64_t seq_out = 1, seq_in = 1;
    bool dirty = false;
    std::deque<Recv> recvs;                             // large frames being received
    std::map<std::uint64_t, detail::ByteBuffer> early;  // frames ahead of seq_in
    std::size_t early_bytes = 0;
    // Frames sent and not yet acknowledged by the peer's grants: (sequence number, envelope
    // count). If the peer is lost, their envelopes count as dropped.
    std::deque<std::pair<std::uint64_t, std::uint32_t>> unacked;
  };

  bool dead(int rank) const { return state_[static_cast<std::size_t>(rank)] == LinkState::dead; }

  /// The largest frame a link carries: one envelope above the coalescing threshold.
  std::size_t max_frame() const { return cap_ + coalesce_ + 4096; }

  /// A message of `src` that no peer following the protocol sends (larger than its tag
  /// allows, or failed in MPI) was discarded: reported. It was never a frame of the link, so
  /// the link's sequence does not move.
  void lost_frame(int src, Sink& sink, const std::string& why) {
    if (dead(src)) return;
    sink.on_alive(NodeId(static_cast<std::uint32_t>(src)));
    sink.on_bad_frame(NodeId(static_cast<std::uint32_t>(src)), why);
  }

  /// Bytes a receive took (its excess included: see kSinkBytes).
  static std::size_t received(const MPI_Status& st) {
    int count = 0;
    CADRE_MPI(MPI_Get_count(&st, MPI_BYTE, &count));
    return count == MPI_UNDEFINED ? SIZE_MAX : static_cast<std::size_t>(count);
  }

  static std::string oversized(const MPI_Status& st, const char* tag, std::size_t limit) {
    return fmt::format("a message of {} bytes on the {} tag, larger than {} bytes: discarded",
                       received(st), tag, limit);
  }

  /// Slot `i` took a message it cannot hold (oversized, or completed with an MPI error): a
  /// bad frame, or a bad control message; the slot is posted again.
  void failed_slot(int i, const MPI_Status& st, const std::string& why, Sink& sink) {
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

  /// Large frames are rare: probed for after the pass's sends have left (off the path from a
  /// small frame's arrival to its answer), when small frames came (one of theirs may be
  /// due), and every few passes otherwise.
  void probe_large() {
    if (probe_due_ || (++large_polls_ & 15) == 0 || large_pending_ > 0) {
      probe_due_ = false;
      for (int k = 0; k < kMaxProbesPerPoll; ++k) {
        int flag = 0;
        MPI_Message msg;
        MPI_Status st;
        CADRE_MPI(MPI_Improbe(MPI_ANY_SOURCE, kLargeTag, comm_, &flag, &msg, &st));
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

  /// The buffer of slot `i`, sized to what completed into it.
  detail::ByteBuffer& slot_bytes(int i, const MPI_Status& st) {
    int count = 0;
    CADRE_MPI(MPI_Get_count(&st, MPI_BYTE, &count));
    detail::ByteBuffer& b = slot_bufs_[static_cast<std::size_t>(i)];
    b.resize(static_cast<std::size_t>(count));
    return b;
  }

  /// Small slot `i` completed with `st`: its frame goes to its link; the slot is re-posted
  /// at the end of the pass, after the loop has answered what arrived (the other slots take
  /// the traffic meanwhile).
  void small_frame(int i, const MPI_Status& st, Sink& sink) {
    if (received(st) > kSlotBytes) {
      failed_slot(i, st, oversized(st, "small-frame", kSlotBytes), sink);
      return;
    }
    posted_at_[static_cast<std::size_t>(i)] = 0;
    if (i == head_) head_ = kHeadUnknown;  // found at the next poll, off this frame's path
    arrived(st.MPI_SOURCE, slot_bytes(i, st), sink);
    repost_.push_back(i);
    probe_due_ = true;
  }

  void post_slot(int i) {
    detail::ByteBuffer& b = slot_bufs_[static_cast<std::size_t>(i)];
    const bool control = i >= kSlots;
    const std::size_t size = control ? kMaxControlBytes : kSlotBytes;
    if (b.capacity() < size) b.reserve(size);
    CADRE_MPI(MPI_Irecv(MPI_BOTTOM, 1, slot_type(i, b.data(), size), MPI_ANY_SOURCE,
                        control ? kControlTag : kSmallTag, comm_,
                        &slot_reqs_[static_cast<std::size_t>(i)]));
    if (!control) {
      posted_at_[static_cast<std::size_t>(i)] = ++posts_;
      if (head_ == -1) head_ = i;  // else the head is older, or about to be looked for
    }
  }

  /// The receive type of slot `i`: `size` bytes at `at`, then the sink. Made again only when
  /// the slot's buffer moved (it gave its storage to an early frame).
  MPI_Datatype slot_type(int i, const char* at, std::size_t size) {
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

  /// A whole frame from `src` is in `b`: delivers it if it is the next of its link (then the
  /// early ones that follow), else keeps it (taking `b`'s storage) until its turn.
  void arrived(int src, detail::ByteBuffer& b, Sink& sink) {
    if (dead(src)) return;  // late frames of a lost node
    sink.on_alive(NodeId(static_cast<std::uint32_t>(src)));
    Link& l = *links_[static_cast<std::size_t>(src)];
    std::uint64_t seq = b.size() >= wire::kFrameHeaderSize
                            ? wire::frame_seq(b.data())
                            : l.seq_in;  // too short to say: deliver() reports it
    if (seq > l.seq_in && seq - l.seq_in <= kMaxEarlyFrames && l.early.size() < kMaxEarlyFrames &&
        l.early_bytes + b.size() <= kMaxEarlyBytes && !l.early.count(seq)) {
      l.early_bytes += b.size();
      l.early.emplace(seq, std::move(b));
      b = take_buffer(kSlotBytes);
      return;
    }
    deliver(src, b.data(), b.size(), sink);
    deliver_early(src, sink);
  }

  /// Delivers the early frames of `src`'s link that are due now.
  void deliver_early(int src, Sink& sink) {
    Link& l = *links_[static_cast<std::size_t>(src)];
    while (!l.early.empty() && l.early.begin()->first <= l.seq_in) {
      auto node = l.early.extract(l.early.begin());
      l.early_bytes -= node.mapped().size();
      deliver(src, node.mapped().data(), node.mapped().size(), sink);
      recycle(std::move(node.mapped()));
    }
  }

  void ship(std::uint32_t d) {
    Link& l = *links_[d];
    l.dirty = false;
    if (!l.writer.in_frame() || l.writer.empty()) return;
    const std::uint64_t seq = l.seq_out++;
    const auto envelopes = static_cast<std::uint32_t>(l.writer.envelope_count());
    l.writer.finish(seq, 0);
    if (static_cast<int>(d) == rank_) {
      loopback_.push_back(std::move(l.buf));
      l.buf = take_buffer(coalesce_);
      return;
    }
    MPI_Request req;
    const int tag = l.buf.size() <= kSlotBytes ? kSmallTag : kLargeTag;
    CADRE_MPI(MPI_Isend(l.buf.data(), static_cast<int>(l.buf.size()), MPI_BYTE, static_cast<int>(d),
                        tag, comm_, &req));
    // The next frame's buffer is found after the send has left.
    credit_[d] -= static_cast<std::int64_t>(l.buf.size());
    l.unacked.emplace_back(seq, envelopes);
    send_reqs_.push_back(req);
    send_bufs_.push_back(std::move(l.buf));
    send_dst_.push_back(static_cast<int>(d));
    l.buf = take_buffer(coalesce_);
    ++inflight_[d];
  }

 public:
  void send_control(NodeId dst, const char* p, std::size_t n) override {
    if (n > kMaxControlBytes || dst.value() >= state_.size() || dead(static_cast<int>(dst.value())))
      return;
    if (static_cast<int>(dst.value()) == rank_) return;  // the caller handles itself
    detail::ByteBuffer b = take_buffer(n);
    b.append(p, n);
    MPI_Request req;
    CADRE_MPI(MPI_Isend(b.data(), static_cast<int>(n), MPI_BYTE, static_cast<int>(dst.value()),
                        kControlTag, comm_, &req));
    send_reqs_.push_back(req);
    send_bufs_.push_back(std::move(b));
    send_dst_.push_back(static_cast<int>(dst.value()));
  }

  std::size_t in_flight(NodeId dst) const override {
    return dst.value() < inflight_.size() ? inflight_[dst.value()] : 0;
  }

  std::int64_t credit(NodeId dst) const override {
    return dst.value() < credit_.size() ? credit_[dst.value()] : credit_limit_;
  }

  void close_link(NodeId dst) override {
    if (dst.value() >= state_.size() || state_[dst.value()] != LinkState::open) return;
    if (links_[dst.value()]->dirty) ship(dst.value());
    state_[dst.value()] = LinkState::closed;
  }

  LinkDrops dropped() const override { return dropped_; }

  void forget(NodeId n) override {
    if (n.value() >= state_.size() || dead(static_cast<int>(n.value()))) return;
    state_[n.value()] = LinkState::dead;
    inflight_[n.value()] = 0;
    Link& l = *links_[n.value()];
    l.early.clear();
    l.early_bytes = 0;
    // What it never acknowledged may never have been taken: counted as dropped, as is what
    // waited to be sent.
    for (auto& [seq, count] : l.unacked) dropped_.node_down += count;
    l.unacked.clear();
    if (l.writer.in_frame()) dropped_.node_down += l.writer.envelope_count();
    l.dirty = false;
    // Sends to it may never complete: set them aside (buffers kept alive), so that the
    // oldest-first progress test is not stuck behind them.
    remove_sends([&](std::size_t i) { return send_dst_[i] == static_cast<int>(n.value()); },
                 [&](std::size_t i) { abandoned_.push_back(std::move(send_bufs_[i])); });
  }

 private:
  std::size_t progress_sends() {
    if (send_reqs_.empty()) return 0;
    int outcount = 0;
    // Sends complete about in order: testing the oldest few each pass is enough, and a
    // stream with hundreds in flight does not pay for all of them on every pass.
    const int n = static_cast<int>(std::min<std::size_t>(send_reqs_.size(), 16));
    indices_.resize(static_cast<std::size_t>(n));
    CADRE_MPI(MPI_Testsome(n, send_reqs_.data(), &outcount, indices_.data(), MPI_STATUSES_IGNORE));
    if (outcount <= 0) return 0;
    // Completed requests are MPI_REQUEST_NULL now: recycle their buffers and compact.
    remove_sends([&](std::size_t i) { return send_reqs_[i] == MPI_REQUEST_NULL; },
                 [&](std::size_t i) {
                   recycle(std::move(send_bufs_[i]));
                   auto& f = inflight_[static_cast<std::size_t>(send_dst_[i])];
                   if (f > 0) --f;
                 });
    return static_cast<std::size_t>(outcount);
  }

  /// Removes the sends in flight for which `which(i)` holds, after `take(i)`, keeping the
  /// order of the others (the parallel vectors stay aligned).
  template <class Which, class Take>
  void remove_sends(Which which, Take take) {
    std::size_t w = 0;
    for (std::size_t i = 0; i < send_reqs_.size(); ++i) {
      if (which(i)) {
        take(i);
        continue;
      }
      if (w != i) {
        send_reqs_[w] = send_reqs_[i];
        send_bufs_[w] = std::move(send_bufs_[i]);
        send_dst_[w] = send_dst_[i];
      }
      ++w;
    }
    send_reqs_.resize(w);
    send_bufs_.resize(w);
    send_dst_.resize(w);
  }

  void deliver(int src, const char* p, std::size_t n, Sink& sink) {
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
        sink.on_envelope(from, e.header, e.payload, e.length);
      } catch (const std::exception& ex) {
        // One bad envelope must not take the rest of the frame (or the node) with it.
        sink.on_bad_frame(
            from, fmt::format("envelope of class {}: {}", unsigned(e.header.cls), ex.what()));
      }
    }
    consumed(src, n);
  }

  /// `n` bytes of `src`'s frames have left the link (their envelopes are in mailboxes, or
  /// handled): once a quarter of the credit has, it goes back to `src` in one grant. So the
  /// bytes MPI holds for this node from `src` stay below the credit.
  void consumed(int src, std::size_t n) {
    if (src == rank_) return;  // the loopback needs no credit
    auto& c = consumed_[static_cast<std::size_t>(src)];
    c += n;
    if (c < static_cast<std::uint64_t>(credit_limit_ / 4)) return;
    char msg[kGrantBytes];
    msg[0] = static_cast<char>(kCreditGrant);
    std::memcpy(msg + 1, &c, sizeof c);
    const std::uint64_t taken = links_[static_cast<std::size_t>(src)]->seq_in - 1;
    std::memcpy(msg + 9, &taken, sizeof taken);
    send_control(NodeId(static_cast<std::uint32_t>(src)), msg, sizeof msg);
    c = 0;
  }

  /// A grant from `src`: the link to it may carry that many more bytes.
  void on_grant(int src, const detail::ByteBuffer& b) {
    std::uint64_t bytes = 0, taken = 0;
    if (b.size() != kGrantBytes || static_cast<unsigned char>(b.data()[0]) != kCreditGrant) return;
    std::memcpy(&bytes, b.data() + 1, sizeof bytes);
    std::memcpy(&taken, b.data() + 9, sizeof taken);
    auto& unacked = links_[static_cast<std::size_t>(src)]->unacked;
    while (!unacked.empty() && unacked.front().first <= taken) unacked.pop_front();
    auto& c = credit_[static_cast<std::size_t>(src)];
    // A grant may exceed the limit (a message larger than the credit takes the link below
    // zero, and comes back whole); the credit never does, whatever the grant says.
    constexpr std::uint64_t kMaxGrant = std::uint64_t(1) << 40;
    c = std::min(credit_limit_, c + static_cast<std::int64_t>(std::min(bytes, kMaxGrant)));
  }

  detail::ByteBuffer take_buffer(std::size_t min) {
    for (std::size_t i = pool_.size(); i-- > 0;) {
      if (pool_[i].capacity() >= min) {
        detail::ByteBuffer b = std::move(pool_[i]);
        pool_[i] = std::move(pool_.back());
        pool_.pop_back();
        b.clear();
        return b;
      }
    }
    detail::ByteBuffer b;
    b.reserve(std::max(min, coalesce_ + 1024));
    return b;
  }

  void recycle(detail::ByteBuffer b) {
    if (pool_.size() < 64 && b.capacity() <= 4 * coalesce_ + 4096) pool_.push_back(std::move(b));
  }

  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
  std::size_t coalesce_, cap_;
  std::vector<std::unique_ptr<Link>> links_;
  std::vector<std::uint32_t> dirty_;
  std::vector<int> receiving_;
  std::vector<MPI_Request> send_reqs_;
  std::vector<detail::ByteBuffer> send_bufs_;
  std::vector<int> indices_;
  std::deque<detail::ByteBuffer> loopback_;
  std::vector<detail::ByteBuffer> pool_;
  std::vector<detail::ByteBuffer> slot_bufs_;
  std::vector<MPI_Request> slot_reqs_;
  std::vector<MPI_Status> slot_statuses_;
  std::vector<int> slot_done_;
  std::vector<int> repost_;
  std::vector<int> send_dst_;                  // destination of each send in flight
  std::vector<LinkState> state_;               // open, closed at shut-down, or dead (lost)
  LinkDrops dropped_;
  std::vector<std::size_t> inflight_;          // frames in flight, per destination
  std::int64_t credit_limit_;                  // the credit every link starts with
  std::vector<std::int64_t> credit_;           // bytes each link may still carry
  std::vector<std::uint64_t> consumed_;        // bytes taken off each incoming link, not granted
  std::vector<detail::ByteBuffer> abandoned_;  // buffers of sends to lost nodes
  std::vector<char> sink_buf_;                 // where the excess of oversized messages lands
  MPI_Datatype sink_type_ = MPI_DATATYPE_NULL;  // kSinkBytes of zero extent
  std::vector<MPI_Datatype> slot_types_;       // each slot's receive type (see slot_type)
  std::vector<const char*> slot_type_at_;      // the buffer each was made for
  unsigned large_polls_ = 0;
  bool probe_due_ = false;
  unsigned sweeps_ = 0;
  // When each small slot was posted (0: it is not), and the oldest posted: the next to fill.
  std::array<std::uint64_t, kSlots> posted_at_{};
  std::uint64_t posts_ = 0;
  int head_ = -1;  // -1: no slot posted
  static constexpr int kHeadUnknown = -2;
  std::size_t large_pending_ = 0;
};

}  // namespace

std::unique_ptr<Transport> make_world_transport(const Options& o) {
  MPI_Comm comm;
  CADRE_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &comm));
  CADRE_MPI(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN));
  return std::make_unique<MpiTransport>(comm, o);
}

}  // namespace cadre::transport
