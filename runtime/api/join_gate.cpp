#include "api/join_gate.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>

#include "api/line_socket.hpp"
#include "cadre/detail/future_state.hpp"
#include "cadre/errors.hpp"
#include "node/core.hpp"
#include "node/log.hpp"
#include "transport/join.hpp"

namespace cadre::api {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kStepLimit = std::chrono::seconds(5);
constexpr std::size_t kMaxConnections = 16;

std::atomic<bool> g_accept_stuck{false};

/// Compares without stopping at the first difference (the time says nothing of the cookie).
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i)
    diff |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

/// `s` cut to `max` bytes, with bytes that are not printable ASCII as '?' (for the log).
std::string printable(const std::string& s, std::size_t max) {
  std::string out = s.substr(0, max);
  for (char& c : out)
    if (c < 0x20 || c > 0x7e) c = '?';
  return out;
}

/// One MPI_Comm_accept on a thread of its own: it may never return.
struct PendingAccept {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  transport::Accepted accepted;
  std::string error;
  std::unique_ptr<transport::JoinPort> port;
};

/// Waits (bounded) for the joiner's accept, then has the node link and admit it.
void admit(node::Core& core, const std::shared_ptr<PendingAccept>& pending,
           const std::string& who) {
  const auto ready = core.options().ready_timeout;
  const auto limit = std::max<std::chrono::milliseconds>(2 * ready, std::chrono::seconds(10));
  transport::Accepted accepted;
  {
    std::unique_lock lock(pending->mu);
    if (!pending->cv.wait_for(lock, limit, [&] { return pending->done; })) {
      pending->port->abandon();
      g_accept_stuck.store(true);
      node::log_local(
          Level::error,
          fmt::format("cadre::listen: the joiner ({}) did not complete MPI_Comm_connect within {} "
                      "ms (it died in the middle?): its port is abandoned and a thread stays in "
                      "MPI_Comm_accept (Open MPI ends it after 300 s); MPI_Finalize will be "
                      "bounded. The job goes on; later joiners get ports of their own.",
                      who, limit.count()));
      return;
    }
    if (!pending->error.empty()) {
      node::log_local(Level::error, fmt::format("cadre::listen: accepting the joiner ({}): {}", who,
                                                pending->error));
      return;
    }
    accepted = std::move(pending->accepted);
  }
  // The node links and admits it, as a spawned node.
  auto st = std::make_shared<detail::ResultState<int>>(1);
  auto result = std::make_shared<std::pair<std::vector<NodeId>, std::string>>();
  auto holder = std::make_shared<transport::Accepted>(std::move(accepted));
  try {
    core.post([&core, st, result, holder, who, ready] {
      try {
        core.join_node(std::move(*holder), who, ready,
                       [st, result](std::vector<NodeId> ids, std::string error) {
                         result->first = std::move(ids);
                         result->second = std::move(error);
                         st->complete();
                       });
      } catch (const std::exception& e) {
        result->second = e.what();
        st->complete();
      }
    });
  } catch (const std::exception& e) {  // the node has shut down
    node::log_local(Level::warn,
                    fmt::format("cadre::listen: the joiner ({}) came too late: {}", who, e.what()));
    return;
  }
  if (!detail::wait_state(st.get(), Clock::now() + ready + std::chrono::seconds(5))) {
    node::log_local(Level::error,
                    fmt::format("cadre::listen: the joiner ({}) was not admitted in time", who));
    return;
  }
  if (!result->second.empty() || result->first.empty()) {
    node::log_local(Level::error, fmt::format("cadre::listen: the joiner ({}) did not join: {}",
                                              who, result->second));
    return;
  }
  node::log_local(Level::info, fmt::format("cadre::listen: node {} joined ({})",
                                           result->first.front().value(), who));
}

}  // namespace

bool JoinGate::accept_stuck() { return g_accept_stuck.load(); }

JoinGate::JoinGate(node::Core& core, std::string cookie) : core_(core), cookie_(std::move(cookie)) {
  // The gate's communicators come from one of its own, made on the loop.
  {
    auto st = std::make_shared<detail::ResultState<int>>(1);
    std::exception_ptr error;
    core.execute([&] {
      try {
        base_ = std::make_unique<transport::SelfComm>();
      } catch (...) {
        error = std::current_exception();
      }
      st->complete();
    });
    detail::wait_state(st.get(), std::nullopt);
    if (error) std::rethrow_exception(error);
  }
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw Error(fmt::format("cadre::listen: socket(): {}", std::strerror(errno)));
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      ::pipe2(wake_, O_CLOEXEC) != 0) {
    const std::string why = std::strerror(errno);
    ::close(listen_fd_);
    throw Error(fmt::format("cadre::listen: opening the join socket: {}", why));
  }
  description_ = fmt::format("{}:{}", this_host(), ntohs(addr.sin_port));
  thread_ = std::thread([this] { run(); });
}

JoinGate::~JoinGate() {
  stop_.store(true);
  if (wake_[1] >= 0) (void)!::write(wake_[1], "x", 1);
  if (thread_.joinable()) thread_.join();
  // Each is bounded: its reads end on the wake pipe, its admission within the accept limit
  // plus ready_timeout plus 5 s.
  for (auto& w : workers_) w.thread.join();
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

void JoinGate::run() {
  while (!stop_.load()) {
    // Finished connections are reaped; each live one has a thread of its own, so a silent
    // or slow peer holds up nobody else.
    std::erase_if(workers_, [](Worker& w) {
      if (!w.done->load()) return false;
      w.thread.join();
      return true;
    });
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(p, 2, 1000) < 0) {
      if (errno == EINTR) continue;
      node::log_local(Level::error, fmt::format("cadre::listen: the join gate stops: poll(): {}",
                                                std::strerror(errno)));
      return;
    }
    if (stop_.load() || (p[1].revents & POLLIN)) return;
    if (!(p[0].revents & POLLIN)) continue;
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (fd < 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // EMFILE and the like
      continue;
    }
    char ip[INET_ADDRSTRLEN] = "?";
    ::inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
    const std::string from = fmt::format("{}:{}", ip, ntohs(peer.sin_port));
    if (workers_.size() >= kMaxConnections) {
      write_all(fd, "refused the job is busy with other joiners; try again\n");
      node::log_local(Level::warn, fmt::format("cadre::listen: turned away a connection from {}: "
                                               "{} are being handled",
                                               from, kMaxConnections));
      ::close(fd);
      continue;
    }
    auto done = std::make_shared<std::atomic<bool>>(false);
    try {
      workers_.push_back(Worker{
          std::thread([this, fd, from, done] {
            try {
              handle(fd, from);
            } catch (const std::exception& e) {
              node::log_local(Level::error,
                              fmt::format("cadre::listen: a joiner from {}: {}", from, e.what()));
            }
            ::close(fd);
            done->store(true);
          }),
          done});
    } catch (const std::exception&) {  // no thread: turned away
      ::close(fd);
    }
  }
}

void JoinGate::handle(int fd, const std::string& peer) {
  auto refuse = [&](const std::string& who, const std::string& why) {
    write_all(fd, "refused " + why + "\n");
    node::log_local(Level::warn, fmt::format("cadre::listen: refused a joiner ({}): {}", who, why));
  };
  // One deadline for the whole exchange before the cookie is checked.
  const auto deadline = Clock::now() + kStepLimit;
  const int wake = wake_[0];
  const auto greeting = read_line(fd, deadline, wake);
  if (stop_.load()) return;
  if (!greeting || *greeting != kJoinGreeting) {
    refuse("from " + peer, greeting ? fmt::format("it is not a cadre joiner (it said '{}')",
                                                  printable(*greeting, 40))
                                    : "it said nothing within 5 s");
    return;
  }
  const auto ident = read_line(fd, deadline, wake);
  const auto cookie = ident ? read_line(fd, deadline, wake) : std::nullopt;
  if (stop_.load()) return;
  const std::string who = fmt::format("{} from {}", ident ? printable(*ident, 200) : "?", peer);
  if (!cookie) {
    refuse(who, "it did not present a cookie within 5 s");
    return;
  }
  if (cookie->empty()) {
    refuse(who, "no cookie was presented (set CADRE_COOKIE in the joiner's environment)");
    return;
  }
  if (!same_secret(*cookie, cookie_)) {
    // Slowed, so that cookies cannot be tried at speed (connections are bounded too).
    std::this_thread::sleep_for(std::chrono::seconds(1));
    refuse(who, "wrong cookie");
    return;
  }
  // Verified: a fresh MPI port for this joiner alone.
  auto pending = std::make_shared<PendingAccept>();
  try {
    std::lock_guard lock(base_mu_);  // one collective on base_ at a time
    pending->port = std::make_unique<transport::JoinPort>(*base_);
  } catch (const std::exception& e) {
    refuse(who, fmt::format("the job could not open an MPI port: {}", e.what()));
    return;
  }
  if (!write_all(fd, "ok " + pending->port->name() + "\n")) return;
  const auto go = read_line(fd, Clock::now() + kStepLimit, wake);
  if (!go || *go != "connecting") {
    node::log_local(Level::warn,
                    fmt::format("cadre::listen: the joiner ({}) went away before connecting; "
                                "nothing was accepted",
                                who));
    return;
  }
  std::thread([pending] {
    try {
      transport::Accepted a = pending->port->accept();
      std::lock_guard lock(pending->mu);
      pending->accepted = std::move(a);
    } catch (const std::exception& e) {
      std::lock_guard lock(pending->mu);
      pending->error = e.what();
    }
    std::lock_guard lock(pending->mu);
    pending->done = true;
    pending->cv.notify_all();
  }).detach();
  admit(core_, pending, who);
}

}  // namespace cadre::api
