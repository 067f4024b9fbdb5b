// The joiner's side of the join gate (api/join_gate.hpp): reach the job's socket within the
// limit, present the cookie, and receive the MPI port to connect to.

#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "api/join_gate.hpp"
#include "api/line_socket.hpp"
#include "cadre/errors.hpp"

namespace cadre::api {

using Clock = std::chrono::steady_clock;

std::string join_handshake(const std::string& description, std::chrono::milliseconds limit) {
  std::string where = description;
  if (!where.empty() && where[0] == '@') {
    std::ifstream in(where.substr(1));
    if (!in || !std::getline(in, where))
      throw Error(fmt::format("cadre::join: cannot read the port description from '{}'",
                              description.substr(1)));
  }
  const auto colon = where.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == where.size())
    throw Error(fmt::format(
        "cadre::join: '{}' is not a port description (host:port, as cadre::listen returns)",
        where));
  const std::string host = where.substr(0, colon), port = where.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0)
    throw Error(fmt::format("cadre::join: cannot resolve '{}': {}", where, ::gai_strerror(rc)));
  // Connected within `limit`, however the network behaves.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int rc = fd < 0 ? -1 : ::connect(fd, found->ai_addr, found->ai_addrlen);
  int err = rc == 0 ? 0 : errno;
  ::freeaddrinfo(found);
  if (rc != 0 && err == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    const int r = ::poll(&p, 1, static_cast<int>(limit.count()));
    socklen_t len = sizeof err;
    if (r <= 0)
      err = ETIMEDOUT;
    else if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
      err = errno;
    rc = err == 0 ? 0 : -1;
  }
  if (rc != 0) {
    if (fd >= 0) ::close(fd);
    throw Error(fmt::format("cadre::join: cannot reach the job at {}: {} (is it listening?)", where,
                            std::strerror(err)));
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  const char* cookie = std::getenv("CADRE_COOKIE");
  const std::string secret = cookie ? cookie : "";
  const bool sent =
      write_all(fd, fmt::format("{}\n{} {}\n{}\n", kJoinGreeting, ::getpid(), this_host(), secret));
  const auto reply = sent ? read_line(fd, Clock::now() + limit) : std::nullopt;
  if (!reply) {
    ::close(fd);
    throw Error(fmt::format("cadre::join: the job at {} did not answer within {} ms", where,
                            limit.count()));
  }
  if (reply->rfind("ok ", 0) != 0) {
    ::close(fd);
    const std::string reason = reply->rfind("refused ", 0) == 0 ? reply->substr(8) : *reply;
    throw Error(fmt::format("cadre::join: the job at {} refused this process: {}{}", where, reason,
                            secret.empty() ? " (CADRE_COOKIE is not set here)" : ""));
  }
  const bool told = write_all(fd, "connecting\n");
  ::close(fd);
  if (!told)
    throw Error(
        fmt::format("cadre::join: the job at {} closed the connection before this "
                    "process could connect",
                    where));
  return reply->substr(3);
}

}  // namespace cadre::api
