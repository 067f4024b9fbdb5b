#pragma once
// An in-memory transport for driving one node's loop in a unit test: the test plays every
// other node, reading what the core sent from `outbox` and handing it envelopes through
// `inject`.

#include <deque>
#include <string>
#include <vector>

#include "transport/transport.hpp"

namespace cadre::testing {

struct Sent {
  NodeId dst;
  wire::Envelope env;
  std::vector<char> payload;
};

class FakeTransport final : public transport::Transport {
 public:
  FakeTransport(NodeId self, std::uint32_t size) : self_(self), size_(size) {}

  NodeId self() const override { return self_; }
  std::uint32_t size() const override { return size_; }
  std::size_t payload_cap() const override { return cap_; }
  void set_limits(std::size_t cap, std::size_t, std::size_t) override { cap_ = cap; }
  void send_control(NodeId dst, const char* p, std::size_t n) override {
    controls.push_back(Sent{dst, {}, std::vector<char>(p, p + n)});
  }
  void forget(NodeId n) override { forgotten.push_back(n); }
  std::size_t in_flight(NodeId) const override { return 0; }
  std::int64_t credit(NodeId) const override { return std::int64_t(1) << 40; }
  void close_link(NodeId dst) override { closed.push_back(dst); }
  transport::LinkDrops dropped() const override { return {}; }
  std::vector<NodeId> closed;
  std::vector<Sent> controls;
  std::vector<NodeId> forgotten;
  void send(NodeId dst, const wire::Envelope& env, const char* p, std::size_t n) override {
    if (dst == self_) {
      inject(self_, env, std::vector<char>(p, p + n));
      return;
    }
    outbox->push_back(Sent{dst, env, std::vector<char>(p, p + n)});
  }
  std::size_t poll(transport::Sink& sink) override {
    std::size_t n = 0;
    while (!inbox_.empty()) {
      auto item = std::move(inbox_.front());
      inbox_.pop_front();
      if (item.bad.empty())
        sink.on_envelope(item.src, item.env, item.payload.data(), item.payload.size());
      else
        sink.on_bad_frame(item.src, item.bad);
      ++n;
    }
    return n;
  }
  std::size_t flush() override { return 0; }
  bool busy() const override { return false; }

  void inject(NodeId src, wire::Envelope env, std::vector<char> payload) {
    inbox_.push_back(Item{src, env, std::move(payload), {}});
  }
  void inject_bad(NodeId src, std::string why) {
    inbox_.push_back(Item{src, {}, {}, std::move(why)});
  }

  // Shared with the test, which keeps it after the core takes ownership of the transport.
  std::shared_ptr<std::deque<Sent>> outbox = std::make_shared<std::deque<Sent>>();

 private:
  struct Item {
    NodeId src;
    wire::Envelope env;
    std::vector<char> payload;
    std::string bad;
  };
  NodeId self_;
  std::uint32_t size_;
  std::size_t cap_ = 1 << 20;
  std::deque<Item> inbox_;
};

}  // namespace cadre::testing
