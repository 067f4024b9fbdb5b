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

#include "transport/mpi_transport.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "cadre/errors.hpp"
#include "transport/mpi_check.hpp"
#include "transport/mpi_env.hpp"

namespace cadre::transport {
namespace mpi {

MpiTransport::MpiTransport(MPI_Comm comm, const Options& o)
    : comm_(comm),
      coalesce_(std::max<std::size_t>(o.coalesce_bytes, 256)),
      cap_(o.payload_cap),
      credit_limit_(static_cast<std::int64_t>(o.link_credit)) {
  int inter = 0;
  CADRE_MPI(MPI_Comm_test_inter(comm_, &inter));
  inter_ = inter != 0;
  if (inter_) {
    rank_ = -1;  // no link to itself
    CADRE_MPI(MPI_Comm_remote_size(comm_, &size_));
  } else {
    CADRE_MPI(MPI_Comm_rank(comm_, &rank_));
    CADRE_MPI(MPI_Comm_size(comm_, &size_));
  }
  held_.assign(static_cast<std::size_t>(size_), 0);
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

MpiTransport::~MpiTransport() {
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

void MpiTransport::set_limits(std::size_t cap, std::size_t coalesce, std::size_t credit) {
  cap_ = cap;
  coalesce_ = std::max<std::size_t>(coalesce, 256);
  // Before any payload traffic: every link starts with the master's credit.
  credit_limit_ = static_cast<std::int64_t>(credit);
  for (auto& c : credit_) c = credit_limit_;
}

void MpiTransport::send(NodeId dst, const wire::Envelope& env, const char* p, std::size_t n) {
  send_parts(dst, env, nullptr, 0, p, n);
}

void MpiTransport::send_parts(NodeId dst, const wire::Envelope& env, const char* pre,
                              std::size_t pre_n, const char* p, std::size_t n) {
  if (n > cap_)
    throw PayloadTooLarge(
        fmt::format("cadre: a message of {} bytes to node {} is above the payload cap of {} bytes "
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
  if (pre_n == 0) {
    l.writer.append_envelope(env, p, n);
  } else {
    const std::size_t at = l.writer.begin_envelope(env);
    l.writer.buffer().append(pre, pre_n);
    l.writer.buffer().append(p, n);
    l.writer.end_envelope(at);
  }
  if (!l.dirty) {
    l.dirty = true;
    dirty_.push_back(dst.value());
  }
  if (l.writer.frame_bytes() >= coalesce_) ship(dst.value());
}

std::shared_ptr<const bool> MpiTransport::send_borrowed(NodeId dst, const wire::Envelope& env,
                                                        std::span<const PayloadPart> parts) {
  std::size_t n = 0;
  for (const PayloadPart& part : parts) n += part.size;
  const std::uint32_t d = dst.value();
  if (d >= links_.size() || state_[d] != LinkState::open || n > cap_ ||
      static_cast<int>(d) == rank_)
    return Transport::send_borrowed(dst, env, parts);  // send()'s checks, drops, loopback
  auto done = std::make_shared<bool>(false);
  stack_.run([&] {
    Link& l = *links_[d];
    if (l.dirty) ship(d);  // what the link holds leaves first
    // The headers, then the small parts copied after them (fewer runs for MPI to walk); the
    // others stay in place.
    constexpr std::size_t kHeaders = wire::kFrameHeaderSize + wire::kEnvelopeHeaderSize;
    detail::ByteBuffer head = take_buffer(kHeaders);
    head.resize(kHeaders);
    std::vector<std::size_t> copied_at(parts.size(), SIZE_MAX);
    for (std::size_t k = 0; k < parts.size(); ++k) {
      if (parts[k].size >= kCopiedPartBytes) continue;
      copied_at[k] = head.size();
      head.append(parts[k].data, parts[k].size);
    }
    wire::Envelope e = env;
    e.length = static_cast<std::uint32_t>(n);
    wire::encode_envelope_header(head.data() + wire::kFrameHeaderSize, e);
    wire::FrameHeader h;
    h.length = static_cast<std::uint32_t>(wire::kEnvelopeHeaderSize + n);
    h.count = 1;
    h.seq = l.seq_out++;
    wire::encode_frame_header(head.data(), h);
    // The frame as MPI reads it: runs of memory, in order (adjacent ones merged).
    std::vector<int> lengths{static_cast<int>(kHeaders)};
    std::vector<const char*> starts{head.data()};
    auto add = [&](const char* p, std::size_t size) {
      if (size == 0) return;
      if (starts.back() + lengths.back() == p) {
        lengths.back() += static_cast<int>(size);
      } else {
        starts.push_back(p);
        lengths.push_back(static_cast<int>(size));
      }
    };
    for (std::size_t k = 0; k < parts.size(); ++k)
      add(copied_at[k] == SIZE_MAX ? parts[k].data : head.data() + copied_at[k], parts[k].size);
    std::vector<MPI_Aint> at(starts.size());
    for (std::size_t k = 0; k < starts.size(); ++k) CADRE_MPI(MPI_Get_address(starts[k], &at[k]));
    MPI_Datatype frame;
    CADRE_MPI(MPI_Type_create_hindexed(static_cast<int>(starts.size()), lengths.data(), at.data(),
                                       MPI_BYTE, &frame));
    CADRE_MPI(MPI_Type_commit(&frame));
    const std::size_t total = kHeaders + n;
    MPI_Request req;
    const int tag = mpi_tag(total <= kSlotBytes ? Tag::small_frame : Tag::large_frame);
    const int rc = MPI_Isend(MPI_BOTTOM, 1, frame, static_cast<int>(d), tag, comm_, &req);
    MPI_Type_free(&frame);  // MPI keeps it until the send completes
    if (rc != MPI_SUCCESS) throw_mpi_error("MPI_Isend", rc);
    credit_[d] -= static_cast<std::int64_t>(total);
    l.unacked.emplace_back(h.seq, 1);
    started(req, std::move(head), static_cast<int>(d), done);
    ++inflight_[d];
    if (d < bells_.size() && bells_[d]) bells_[d]->ring();
  });
  return done;
}

std::size_t MpiTransport::flush() {
  std::size_t work = 0;
  stack_.run([&] { work = flush_here(); });
  return work;
}

bool MpiTransport::flush_unless_held(const std::function<bool(NodeId, std::size_t)>& may_hold) {
  bool hold = send_reqs_.empty() && loopback_.empty() && large_pending_ == 0 && repost_.empty();
  for (std::size_t k = 0; hold && k < dirty_.size(); ++k) {
    const Link& l = *links_[dirty_[k]];
    hold = !l.dirty || may_hold(NodeId(dirty_[k]), l.writer.envelope_count());
  }
  if (hold && !dirty_.empty()) {
    const auto now = std::chrono::steady_clock::now();
    if (!holding_) {
      holding_ = true;
      held_since_ = now;
    }
    if (now - held_since_ < kHoldBack) return true;
  } else if (hold) {
    return false;  // nothing to send, nothing in flight: nothing held either
  }
  flush();
  return false;
}

std::size_t MpiTransport::flush_here() {
  holding_ = false;
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

void MpiTransport::ship(std::uint32_t d) {
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
  const int tag = mpi_tag(l.buf.size() <= kSlotBytes ? Tag::small_frame : Tag::large_frame);
  CADRE_MPI(MPI_Isend(l.buf.data(), static_cast<int>(l.buf.size()), MPI_BYTE, static_cast<int>(d),
                      tag, comm_, &req));
  // The next frame's buffer is found after the send has left.
  credit_[d] -= static_cast<std::int64_t>(l.buf.size());
  l.unacked.emplace_back(seq, envelopes);
  started(req, std::move(l.buf), static_cast<int>(d));
  l.buf = take_buffer(coalesce_);
  ++inflight_[d];
  if (d < bells_.size() && bells_[d]) bells_[d]->ring();
}

void MpiTransport::set_doorbell(NodeId n, std::shared_ptr<PeerDoorbell> bell) {
  if (n.value() >= bells_.size()) bells_.resize(n.value() + 1);
  bells_[n.value()] = std::move(bell);
}

void MpiTransport::send_control(NodeId dst, const char* p, std::size_t n) {
  if (n > kMaxControlBytes || dst.value() >= state_.size() || dead(static_cast<int>(dst.value())))
    return;
  if (static_cast<int>(dst.value()) == rank_) return;  // the caller handles itself
  detail::ByteBuffer b = take_buffer(n);
  b.append(p, n);
  MPI_Request req;
  CADRE_MPI(MPI_Isend(b.data(), static_cast<int>(n), MPI_BYTE, static_cast<int>(dst.value()),
                      mpi_tag(Tag::control), comm_, &req));
  started(req, std::move(b), static_cast<int>(dst.value()));
  if (dst.value() < bells_.size() && bells_[dst.value()]) bells_[dst.value()]->ring();
}

void MpiTransport::send_raw(int rank, int tag, detail::ByteBuffer b) {
  MPI_Request req;
  CADRE_MPI(MPI_Isend(b.data(), static_cast<int>(b.size()), MPI_BYTE, rank, tag, comm_, &req));
  started(req, std::move(b), rank);
}

void MpiTransport::close_link(NodeId dst) {
  if (dst.value() >= state_.size() || state_[dst.value()] != LinkState::open) return;
  if (links_[dst.value()]->dirty) ship(dst.value());
  state_[dst.value()] = LinkState::closed;
}

void MpiTransport::forget(NodeId n) {
  if (n.value() >= state_.size() || dead(static_cast<int>(n.value()))) return;
  state_[n.value()] = LinkState::dead;
  inflight_[n.value()] = 0;
  if (n.value() < bells_.size()) bells_[n.value()].reset();
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
               [&](std::size_t i) {
                 abandoned_.push_back(std::move(send_bufs_[i]));
                 // Its waiting sender goes on: a lost peer reads nothing more, and MPI
                 // touches a send's memory only as the peer takes it.
                 finished(i);
               });
}

std::size_t MpiTransport::progress_sends() {
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
                 finished(i);
                 recycle(std::move(send_bufs_[i]));
                 auto& f = inflight_[static_cast<std::size_t>(send_dst_[i])];
                 if (f > 0) --f;
               });
  return static_cast<std::size_t>(outcount);
}

void MpiTransport::hold_grants(NodeId src) {
  if (src.value() < held_.size()) held_[src.value()] = 1;
}

void MpiTransport::release_grants(NodeId src) {
  if (src.value() >= held_.size() || !held_[src.value()]) return;
  held_[src.value()] = 0;
  consumed(static_cast<int>(src.value()), 0, /*now=*/true);
}

void MpiTransport::consumed(int src, std::size_t n, bool now) {
  if (src == rank_) return;  // the loopback needs no credit
  auto& c = consumed_[static_cast<std::size_t>(src)];
  c += n;
  if (held_[static_cast<std::size_t>(src)] || c == 0) return;
  if (!now && c < static_cast<std::uint64_t>(credit_limit_ / 4)) return;
  char msg[kGrantBytes];
  msg[0] = static_cast<char>(kCreditGrant);
  std::memcpy(msg + 1, &c, sizeof c);
  const std::uint64_t taken = links_[static_cast<std::size_t>(src)]->seq_in - 1;
  std::memcpy(msg + 9, &taken, sizeof taken);
  send_control(NodeId(static_cast<std::uint32_t>(src)), msg, sizeof msg);
  c = 0;
}

void MpiTransport::on_grant(int src, const detail::ByteBuffer& b) {
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

detail::ByteBuffer MpiTransport::take_buffer(std::size_t min) {
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

void MpiTransport::recycle(detail::ByteBuffer b) {
  if (pool_.size() < 64 && b.capacity() > 0 && b.capacity() <= 4 * coalesce_ + 4096)
    pool_.push_back(std::move(b));
}

}  // namespace mpi

}  // namespace cadre::transport
