// tests/opt/redis_server.h — starts a private redis-server on a free loopback
// port for one test binary, and stops it at the end (SIGTERM, then SIGKILL;
// the child also dies with the test process through PR_SET_PDEATHSIG).
//
//   static std::unique_ptr<RedisServer> redis;
//   std::string why;
//   redis = RedisServer::start(&why);   // nullptr + why when unavailable
//   ... cfg.redis_port = redis->port();
// or, for every test of a binary: add_redis_environment(&server, &why) below.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "test_ports.h"

namespace tern::test {

class RedisServer {
 public:
  // The binary: $TERN_REDIS_SERVER, else redis-server from PATH.
  static std::unique_ptr<RedisServer> start(std::string* why) {
    const char* env = std::getenv("TERN_REDIS_SERVER");
    const std::string bin = env && *env ? env : find_in_path("redis-server");
    if (bin.empty()) {
      *why = "redis-server not found (apt-get install redis-server, or set TERN_REDIS_SERVER)";
      return nullptr;
    }
    for (int attempt = 0; attempt < 5; ++attempt) {
      const int port = tern::test::free_port();
      if (port <= 0) continue;
      auto server = std::unique_ptr<RedisServer>(new RedisServer(bin, port));
      if (server->wait_ready()) return server;
    }
    *why = "redis-server did not start on a loopback port";
    return nullptr;
  }

  ~RedisServer() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }

  int port() const { return port_; }

 private:
  RedisServer(const std::string& bin, int port) : port_(port) {
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      const std::string p = std::to_string(port);
      execl(bin.c_str(), bin.c_str(), "--port", p.c_str(), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning", "--logfile", "/dev/null", "--dir", "/tmp",
            static_cast<char*>(nullptr));
      _exit(127);
    }
  }

  static std::string find_in_path(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::string p = path ? path : "/usr/bin:/bin";
    size_t start = 0;
    while (start <= p.size()) {
      size_t end = p.find(':', start);
      if (end == std::string::npos) end = p.size();
      std::string cand = p.substr(start, end - start) + "/" + name;
      if (access(cand.c_str(), X_OK) == 0) return cand;
      start = end + 1;
    }
    return "";
  }

  // Ready once it answers PING.
  bool wait_ready() {
    if (pid_ <= 0) return false;
    for (int i = 0; i < 250; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {  // exited (port taken?)
        pid_ = -1;
        return false;
      }
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<uint16_t>(port_));
      bool ok = false;
      if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
        const char ping[] = "PING\r\n";
        char buf[16] = {};
        timeval tv{0, 200000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (write(fd, ping, sizeof(ping) - 1) > 0 && read(fd, buf, sizeof(buf) - 1) > 0)
          ok = std::string(buf).rfind("+PONG", 0) == 0;
      }
      close(fd);
      if (ok) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  pid_t pid_ = -1;
  int port_ = 0;
};

// A gtest environment that starts one redis-server before a test binary's
// first test and stops it after its last: *server is set for the run, and
// stays null (with *why saying why) when none could start.
class RedisEnvironment : public ::testing::Environment {
 public:
  RedisEnvironment(RedisServer** server, std::string* why) : server_(server), why_(why) {}
  void SetUp() override {
    owned_ = RedisServer::start(why_);
    *server_ = owned_.get();
  }
  void TearDown() override {
    *server_ = nullptr;
    owned_.reset();
  }

 private:
  RedisServer** server_;
  std::string* why_;
  std::unique_ptr<RedisServer> owned_;
};

inline ::testing::Environment* add_redis_environment(RedisServer** server, std::string* why) {
  return ::testing::AddGlobalTestEnvironment(new RedisEnvironment(server, why));
}

}  // namespace tern::test
