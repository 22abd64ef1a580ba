// Loopback ports for tests that spawn servers (tern serve, redis-server).
//
// free_port() asks the kernel for an unused port. A port is never handed out
// twice in one process: a child that has not bound its port yet leaves it
// free, and the kernel may offer it again (seen in CI: the upstream and the
// redis port were the same). RefusedPort holds a bound socket that never
// listens, so connections to it are refused for as long as it lives and no
// other process can take the port.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <mutex>
#include <set>

namespace tern::test {

namespace detail {

// Binds a loopback TCP socket to a kernel-chosen port; returns the fd and
// stores the port, or -1.
inline int bind_loopback(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

// Ports handed out by this process, so a port is never given twice.
inline bool claim(int port) {
  static std::mutex mu;
  static std::set<int> given;
  std::lock_guard<std::mutex> lock(mu);
  return given.insert(port).second;
}

}  // namespace detail

// An unused loopback port, distinct from every port this process got before;
// -1 when none could be found.
inline int free_port() {
  for (int attempt = 0; attempt < 64; ++attempt) {
    int port = -1;
    int fd = detail::bind_loopback(&port);
    if (fd < 0) continue;
    close(fd);
    if (detail::claim(port)) return port;
  }
  return -1;
}

// True when something accepts TCP connections on the loopback port.
inline bool can_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

// A port where nothing listens, kept so while this object lives.
class RefusedPort {
 public:
  RefusedPort() {
    for (int attempt = 0; attempt < 64 && fd_ < 0; ++attempt) {
      fd_ = detail::bind_loopback(&port_);
      if (fd_ >= 0 && !detail::claim(port_)) {
        close(fd_);
        fd_ = -1;
      }
    }
  }
  ~RefusedPort() {
    if (fd_ >= 0) close(fd_);
  }
  RefusedPort(const RefusedPort&) = delete;
  RefusedPort& operator=(const RefusedPort&) = delete;
  int port() const { return fd_ >= 0 ? port_ : -1; }

 private:
  int fd_ = -1;
  int port_ = -1;
};

}  // namespace tern::test
