#pragma once
// The MPI transport's class (see mpi_transport.cpp for what it does and its invariants): the
// sending half and set-up are in mpi_transport.cpp, the receiving half in mpi_receive.cpp.
//
// Thread rule: loop thread only.

#include <mpi.h>

#include <array>
#include <climits>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cadre/options.hpp"
#include "transport/mpi_stack.hpp"
#include "transport/transport.hpp"

namespace cadre::transport::mpi {

/// The MPI tags of cadre's communicator: what travels on each.
enum class Tag : int {
  small_frame = 7301,  ///< frames up to kSlotBytes, into receives posted in advance
  large_frame = 7302,  ///< larger frames, found by a matched probe
  control = 7303,      ///< heartbeats, pings, credit grants: they overtake the frames
};
/// The tag as MPI takes it.
constexpr int mpi_tag(Tag t) { return static_cast<int>(t); }
constexpr int kControlSlots = 4;
constexpr unsigned char kCreditGrant = kTransportControl;  // + 8 bytes: the bytes granted
constexpr int kMaxProbesPerPoll = 16;
// A borrowed send copies parts below this size into the frame's header buffer.
constexpr std::size_t kCopiedPartBytes = 4096;
// A fixed size, the same on every node whatever its options: a frame that fits is sent on
// the small tag, and every posted receive can hold it.
constexpr std::size_t kSlotBytes = 72 * 1024;
constexpr int kSlots = 8;
// Early frames: frames that complete before one sent ahead of them on the link (small frames
// overtake one above MPI's eager limit while its data still moves). The sender's credit bounds
// the bytes it has in flight, so a conforming peer has at most a credit's worth early, and a
// driver sending one small frame per call may put tens of thousands of frames in that. The
// link keeps the larger of these bounds (frames, bytes) before it declares a frame lost: twice
// the link's credit, counted in bytes and in frame headers, or the fixed floors below.
constexpr std::size_t kMaxEarlyFrames = 1024;
constexpr std::size_t kMaxEarlyBytes = std::size_t(64) << 20;
// An early frame whose buffer is this many times its size or more is kept in a copy of its
// own size: a small frame must not hold a whole receive slot.
constexpr std::size_t kEarlyCopyRatio = 4;
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
int completion_error(int rc, int done, MPI_Request& req, const char* routine);

std::string mpi_error_text(int code);

/// One communicator's links. On an intra-communicator (cadre's duplicate of MPI_COMM_WORLD)
/// its "nodes" are the ranks, this process among them; on an inter-communicator (a spawn's)
/// they are the ranks of the remote group, and there is no link to itself. The node ids of
/// the whole job are Links' (links.hpp), which owns one of these per communicator.
class MpiTransport final : public Transport {
 public:
  /// Takes `comm` (freed, never disconnected, on destruction).
  MpiTransport(MPI_Comm comm, const Options& o);

  ~MpiTransport() override;

  /// This process's rank (an intra-communicator), or UINT32_MAX (an inter-communicator).
  NodeId self() const override { return NodeId(static_cast<std::uint32_t>(rank_)); }
  std::uint32_t size() const override { return static_cast<std::uint32_t>(size_); }
  std::size_t payload_cap() const override { return cap_; }
  void set_limits(std::size_t cap, std::size_t coalesce, std::size_t credit) override;

  void send(NodeId dst, const wire::Envelope& env, const char* p, std::size_t n) override;
  /// One frame of its own, the borrowed parts read by MPI in place through a datatype (see
  /// Transport::send_borrowed); a loopback or refused send goes the copying way.
  std::shared_ptr<const bool> send_borrowed(NodeId dst, const wire::Envelope& env,
                                            std::span<const PayloadPart> parts) override;
  /// As send(), with `pre_n` bytes at `pre` ahead of the payload (a relay's header), without
  /// copying the two into one buffer first.
  void send_parts(NodeId dst, const wire::Envelope& env, const char* pre, std::size_t pre_n,
                  const char* p, std::size_t n);
  /// While held, the bytes taken off the link from `src` are not granted back: `src` runs out
  /// of credit (a relay waits for the link it feeds). release_grants() grants what was held.
  void hold_grants(NodeId src);
  void release_grants(NodeId src);
  /// Sends `b` as one message with `tag` to `rank`, outside the links (the spawn's
  /// assignment); it completes as the loop progresses sends, so a peer that does not yet
  /// progress MPI never blocks the caller.
  void send_raw(int rank, int tag, detail::ByteBuffer b);
  /// Envelopes of class kRelayClass go to `hook` (with `ctx`) instead of the sink; none: to
  /// the sink like any other.
  using RelayHook = void (*)(void* ctx, NodeId src, const wire::Envelope& env, const char* p,
                             std::size_t n, Sink& sink);
  void set_relay_hook(RelayHook hook, void* ctx) {
    relay_hook_ = hook;
    relay_ctx_ = ctx;
  }
  /// True for an inter-communicator.
  bool inter() const { return inter_; }

  /// Ships what waits and makes progress; under MPICH on a stack of its own (MpiStack: the
  /// caller may be a fiber).
  std::size_t flush() override;
  bool flush_unless_held(const std::function<bool(NodeId, std::size_t)>& may_hold) override;

  bool busy() const override;

  std::size_t poll(Sink& sink) override;

 private:
  std::size_t flush_here();
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
  void lost_frame(int src, Sink& sink, const std::string& why);

  /// Bytes a receive took (its excess included: see kSinkBytes).
  static std::size_t received(const MPI_Status& st);

  static std::string oversized(const MPI_Status& st, const char* tag, std::size_t limit);

  /// Slot `i` took a message it cannot hold (oversized, or completed with an MPI error): a
  /// bad frame, or a bad control message; the slot is posted again.
  void failed_slot(int i, const MPI_Status& st, const std::string& why, Sink& sink);

  /// Large frames are rare: probed for after the pass's sends have left (off the path from a
  /// small frame's arrival to its answer), when small frames came (one of theirs may be
  /// due), and every few passes otherwise.
  void probe_large();

  /// The buffer of slot `i`, sized to what completed into it.
  detail::ByteBuffer& slot_bytes(int i, const MPI_Status& st);

  /// Small slot `i` completed with `st`: its frame goes to its link; the slot is re-posted
  /// at the end of the pass, after the loop has answered what arrived (the other slots take
  /// the traffic meanwhile).
  void small_frame(int i, const MPI_Status& st, Sink& sink);

  void post_slot(int i);

  /// The receive type of slot `i`: `size` bytes at `at`, then the sink. Made again only when
  /// the slot's buffer moved (it gave its storage to an early frame).
  MPI_Datatype slot_type(int i, const char* at, std::size_t size);

  /// A whole frame from `src` is in `b`: delivers it if it is the next of its link (then the
  /// early ones that follow), else keeps it until its turn (a copy when it is small, else
  /// taking `b`'s storage). `lendable`: its one large envelope may take `b`'s storage (not a
  /// posted slot's).
  void arrived(int src, detail::ByteBuffer& b, Sink& sink, bool lendable = false);

  /// How many frames, and how many bytes, a link keeps early (see kMaxEarlyFrames).
  std::size_t early_frames_limit() const;
  std::size_t early_bytes_limit() const;
  /// Delivers the early frames of `src`'s link that are due now.
  void deliver_early(int src, Sink& sink);

  void ship(std::uint32_t d);

 public:
  void send_control(NodeId dst, const char* p, std::size_t n) override;

  std::size_t in_flight(NodeId dst) const override {
    return dst.value() < inflight_.size() ? inflight_[dst.value()] : 0;
  }

  std::int64_t credit(NodeId dst) const override {
    return dst.value() < credit_.size() ? credit_[dst.value()] : credit_limit_;
  }

  void close_link(NodeId dst) override;

  LinkDrops dropped() const override { return dropped_; }

  void forget(NodeId n) override;
  void set_doorbell(NodeId n, std::shared_ptr<PeerDoorbell> bell) override;

 private:
  std::size_t progress_sends();

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
        send_done_[w] = std::move(send_done_[i]);
      }
      ++w;
    }
    send_reqs_.resize(w);
    send_bufs_.resize(w);
    send_dst_.resize(w);
    send_done_.resize(w);
  }

  /// Records a send just started: its request, its buffer, its destination, and the flag to
  /// set when it completes or is given up (null: nobody waits for it).
  void started(MPI_Request req, detail::ByteBuffer&& buf, int dst,
               std::shared_ptr<bool> done = nullptr) {
    send_reqs_.push_back(req);
    send_bufs_.push_back(std::move(buf));
    send_dst_.push_back(dst);
    send_done_.push_back(std::move(done));
  }
  /// A send that completed or was given up: its waiting sender (if any) may go on.
  void finished(std::size_t i) {
    if (send_done_[i]) *send_done_[i] = true;
  }

  /// Delivers the frame of `n` bytes at `p` from `src`. With `lend` (the frame's buffer): a
  /// large envelope alone in it may take the buffer (wire/lent_frame.hpp).
  void deliver(int src, const char* p, std::size_t n, Sink& sink,
               detail::ByteBuffer* lend = nullptr);

  /// `n` bytes of `src`'s frames have left the link (their envelopes are in mailboxes, or
  /// handled): once a quarter of the credit has, it goes back to `src` in one grant. So the
  /// bytes MPI holds for this node from `src` stay below the credit.
  void consumed(int src, std::size_t n, bool now = false);

  /// A grant from `src`: the link to it may carry that many more bytes.
  void on_grant(int src, const detail::ByteBuffer& b);

  detail::ByteBuffer take_buffer(std::size_t min);

  void recycle(detail::ByteBuffer b);

  MPI_Comm comm_;
  MpiStack stack_;  // where flush() runs under MPICH
  bool inter_ = false;
  int rank_ = 0, size_ = 1;  // rank_ -1 on an inter-communicator; size_: the peers
  std::vector<char> held_;   // hold_grants()
  RelayHook relay_hook_ = nullptr;
  void* relay_ctx_ = nullptr;
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
  std::vector<int> send_dst_;                     // destination of each send in flight
  std::vector<std::shared_ptr<bool>> send_done_;  // set when a borrowed send is over
  std::vector<LinkState> state_;                  // open, closed at shut-down, or dead (lost)
  LinkDrops dropped_;
  std::vector<std::size_t> inflight_;                 // frames in flight, per destination
  std::vector<std::shared_ptr<PeerDoorbell>> bells_;  // per destination on this host
  std::int64_t credit_limit_;                         // the credit every link starts with
  std::vector<std::int64_t> credit_;                  // bytes each link may still carry
  std::vector<std::uint64_t> consumed_;         // bytes taken off each incoming link, not granted
  std::vector<detail::ByteBuffer> abandoned_;   // buffers of sends to lost nodes
  std::vector<char> sink_buf_;                  // where the excess of oversized messages lands
  MPI_Datatype sink_type_ = MPI_DATATYPE_NULL;  // kSinkBytes of zero extent
  std::vector<MPI_Datatype> slot_types_;        // each slot's receive type (see slot_type)
  std::vector<const char*> slot_type_at_;       // the buffer each was made for
  unsigned large_polls_ = 0;
  unsigned sweeps_ = 0;
  // When each small slot was posted (0: it is not), and the oldest posted: the next to fill.
  std::array<std::uint64_t, kSlots> posted_at_{};
  std::uint64_t posts_ = 0;
  int head_ = -1;  // -1: no slot posted
  static constexpr int kHeadUnknown = -2;
  std::size_t large_pending_ = 0;
  // flush_unless_held() holds frames back since held_since_.
  bool holding_ = false;
  std::chrono::steady_clock::time_point held_since_{};
};

}  // namespace cadre::transport::mpi
