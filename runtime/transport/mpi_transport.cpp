// The MPI transport: one ordered link per node pair over cadre's own duplicate of
// MPI_COMM_WORLD. Every call is nonblocking and polled by the node loop: receives are
// MPI_Improbe + MPI_Imrecv, sends MPI_Isend of whole coalesced frames, so no call ever waits
// inside MPI on one peer.
//
// Invariants:
//  - Each link carries frames with consecutive sequence numbers starting at 1; the receiver
//    delivers a source's frames strictly in matching order (MPI's non-overtaking rule plus a
//    per-source FIFO of posted receives), and reports any gap.
//  - A frame's buffer stays alive until its MPI_Isend completes (ob1 cannot cancel sends).

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <vector>

#include "cadre/errors.hpp"
#include "transport/mpi_check.hpp"
#include "transport/mpi_env.hpp"

namespace cadre::transport {
namespace {

constexpr int kDataTag = 7301;
constexpr int kMaxProbesPerPoll = 64;

class MpiTransport final : public Transport {
 public:
  MpiTransport(MPI_Comm comm, const Options& o)
      : comm_(comm), coalesce_(std::max<std::size_t>(o.coalesce_bytes, 256)), cap_(o.payload_cap) {
    CADRE_MPI(MPI_Comm_rank(comm_, &rank_));
    CADRE_MPI(MPI_Comm_size(comm_, &size_));
    links_.reserve(static_cast<std::size_t>(size_));
    for (int i = 0; i < size_; ++i) links_.push_back(std::make_unique<Link>());
  }

  ~MpiTransport() override {
    // Sends still in flight (a peer that never received) cannot be cancelled: their buffers
    // are deliberately leaked so that MPI never writes or reads freed memory.
    if (!send_reqs_.empty()) new std::vector<detail::ByteBuffer>(std::move(send_bufs_));
    for (auto& l : links_)
      if (!l->recvs.empty()) new std::deque<Recv>(std::move(l->recvs));
    MPI_Comm_free(&comm_);
  }

  NodeId self() const override { return NodeId(static_cast<std::uint32_t>(rank_)); }
  std::uint32_t size() const override { return static_cast<std::uint32_t>(size_); }
  std::size_t payload_cap() const override { return cap_; }
  void set_limits(std::size_t cap, std::size_t coalesce) override {
    cap_ = cap;
    coalesce_ = std::max<std::size_t>(coalesce, 256);
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
    return work + progress_sends();
  }

  bool busy() const override {
    return !send_reqs_.empty() || !dirty_.empty() || !loopback_.empty();
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
    for (int k = 0, misses = 0; k < kMaxProbesPerPoll; ++k) {
      int flag = 0;
      MPI_Message msg;
      MPI_Status st;
      CADRE_MPI(MPI_Improbe(MPI_ANY_SOURCE, kDataTag, comm_, &flag, &msg, &st));
      if (!flag) {
        // ob1's MPI_Improbe matches only what an earlier progress call queued: a message
        // that its own progress call just pulled in is seen by the next probe. One more probe
        // (~60 ns) saves a whole idle sleep.
        if (++misses == 2) break;
        continue;
      }
      int count = 0;
      CADRE_MPI(MPI_Get_count(&st, MPI_BYTE, &count));
      Link& l = *links_[static_cast<std::size_t>(st.MPI_SOURCE)];
      Recv& r = l.recvs.emplace_back();
      r.buf = take_buffer(static_cast<std::size_t>(count));
      r.buf.resize(static_cast<std::size_t>(count));
      CADRE_MPI(MPI_Imrecv(r.buf.data(), count, MPI_BYTE, &msg, &r.req));
      if (l.recvs.size() == 1) receiving_.push_back(st.MPI_SOURCE);
    }
    for (std::size_t i = 0; i < receiving_.size();) {
      int src = receiving_[i];
      Link& l = *links_[static_cast<std::size_t>(src)];
      while (!l.recvs.empty()) {
        int done = 0;
        CADRE_MPI(MPI_Test(&l.recvs.front().req, &done, MPI_STATUS_IGNORE));
        if (!done) break;
        detail::ByteBuffer b = std::move(l.recvs.front().buf);
        l.recvs.pop_front();
        deliver(src, b.data(), b.size(), sink);
        recycle(std::move(b));
        ++frames;
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
  };
  struct Link {
    detail::ByteBuffer buf;
    wire::FrameWriter writer{buf};
    std::uint64_t seq_out = 1, seq_in = 1;
    bool dirty = false;
    std::deque<Recv> recvs;
  };

  void ship(std::uint32_t d) {
    Link& l = *links_[d];
    l.dirty = false;
    if (!l.writer.in_frame() || l.writer.empty()) return;
    l.writer.finish(l.seq_out++, 0);
    detail::ByteBuffer frame = std::move(l.buf);
    l.buf = take_buffer(coalesce_);
    if (static_cast<int>(d) == rank_) {
      loopback_.push_back(std::move(frame));
      return;
    }
    MPI_Request req;
    CADRE_MPI(MPI_Isend(frame.data(), static_cast<int>(frame.size()), MPI_BYTE, static_cast<int>(d),
                        kDataTag, comm_, &req));
    send_reqs_.push_back(req);
    send_bufs_.push_back(std::move(frame));
  }

  std::size_t progress_sends() {
    if (send_reqs_.empty()) return 0;
    int outcount = 0;
    indices_.resize(send_reqs_.size());
    CADRE_MPI(MPI_Testsome(static_cast<int>(send_reqs_.size()), send_reqs_.data(), &outcount,
                           indices_.data(), MPI_STATUSES_IGNORE));
    if (outcount <= 0) return 0;
    // Completed requests are MPI_REQUEST_NULL now: recycle their buffers and compact.
    std::size_t w = 0;
    for (std::size_t i = 0; i < send_reqs_.size(); ++i) {
      if (send_reqs_[i] == MPI_REQUEST_NULL) {
        recycle(std::move(send_bufs_[i]));
        continue;
      }
      if (w != i) {
        send_reqs_[w] = send_reqs_[i];
        send_bufs_[w] = std::move(send_bufs_[i]);
      }
      ++w;
    }
    send_reqs_.resize(w);
    send_bufs_.resize(w);
    return static_cast<std::size_t>(outcount);
  }

  void deliver(int src, const char* p, std::size_t n, Sink& sink) {
    NodeId from(static_cast<std::uint32_t>(src));
    wire::FrameView view;
    try {
      // A frame holds at most one envelope above the coalescing threshold.
      view = wire::parse_frame(p, n, cap_ + coalesce_ + 4096);
    } catch (const DecodeError& e) {
      sink.on_bad_frame(from, e.what());
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
};

}  // namespace

std::unique_ptr<Transport> make_world_transport(const Options& o) {
  MPI_Comm comm;
  CADRE_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &comm));
  CADRE_MPI(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN));
  return std::make_unique<MpiTransport>(comm, o);
}

}  // namespace cadre::transport
