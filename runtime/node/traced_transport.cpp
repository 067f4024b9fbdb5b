#include "node/traced_transport.hpp"

#include <string>
#include <utility>

#include "node/protocol.hpp"
#include "node/trace.hpp"

namespace cadre::node {
namespace {

// The timeline's own chunks are not messages of the run: recording them would feed itself.
bool recorded(const wire::Envelope& env) {
  return env.cls != static_cast<std::uint8_t>(Cls::trace_events) && trace::on();
}

// Records each envelope poll() hands over, then passes it on with everything else.
class RecordingSink final : public transport::Sink {
 public:
  explicit RecordingSink(transport::Sink& next) : next_(next) {}
  void on_envelope(NodeId src, const wire::Envelope& env, const char* payload,
                   std::size_t len) override {
    if (recorded(env)) trace::message(trace::Kind::receive, src.value(), env.cls, len);
    next_.on_envelope(src, env, payload, len);
  }
  void on_bad_frame(NodeId src, const std::string& why) override { next_.on_bad_frame(src, why); }
  void on_control(NodeId src, const char* p, std::size_t n) override {
    next_.on_control(src, p, n);
  }
  void on_alive(NodeId src) override { next_.on_alive(src); }

 private:
  transport::Sink& next_;
};

}  // namespace

TracedTransport::TracedTransport(std::unique_ptr<transport::Transport> inner)
    : inner_(std::move(inner)) {}

void TracedTransport::send(NodeId dst, const wire::Envelope& env, const char* payload,
                           std::size_t n) {
  inner_->send(dst, env, payload, n);  // recorded once it is taken (it may throw)
  if (recorded(env)) trace::message(trace::Kind::send, dst.value(), env.cls, n);
}

std::shared_ptr<const bool> TracedTransport::send_borrowed(
    NodeId dst, const wire::Envelope& env, std::span<const transport::PayloadPart> parts) {
  auto done = inner_->send_borrowed(dst, env, parts);
  std::size_t n = 0;
  for (const auto& part : parts) n += part.size;
  if (recorded(env)) trace::message(trace::Kind::send, dst.value(), env.cls, n);
  return done;
}

std::size_t TracedTransport::poll(transport::Sink& sink) {
  RecordingSink recording(sink);
  return inner_->poll(recording);
}

}  // namespace cadre::node
