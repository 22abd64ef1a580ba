// A minimal HTTP/1.1 client for the load generator: keep-alive connections
// pooled per event loop, POST with a streamed response body handed to the
// caller as it arrives (chunked, Content-Length or close-delimited), a
// per-request timeout. Boost.Beast over Asio, C++20 coroutines, one thread:
// every function here runs on the io_context that owns the pool.
#pragma once

#include <utility>  // before asio: its awaitable.hpp uses std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tern::bench {

using Clock = std::chrono::steady_clock;

// http://host[:port][/path]. https is not supported yet.
struct Url {
  std::string host, port = "80", path;  // path without a trailing '/'
};
bool parse_url(const std::string& text, Url* out, std::string* error);

struct HttpResult {
  int status = 0;          // 0: no response
  std::string error;       // transport failure kind: connect, timeout, closed, read, write
  std::string detail;      // human-readable cause
  std::string content_type;
};

class ConnectionPool {
 public:
  ConnectionPool(boost::asio::io_context& io, std::vector<boost::asio::ip::tcp::endpoint> endpoints,
                 std::string host_header);
  ~ConnectionPool();

  // POSTs `body` to `target`; `on_data` receives decoded body bytes with the
  // time they were read. Retries once on a fresh connection when a reused
  // keep-alive connection turns out closed before any response byte.
  boost::asio::awaitable<HttpResult> post(const std::string& target, const std::string& body,
                                          const std::vector<std::pair<std::string, std::string>>& headers,
                                          double timeout_s,
                                          const std::function<void(std::string_view, Clock::time_point)>& on_data);

  size_t opened() const { return opened_; }
  void close_all();

 private:
  struct Conn;
  boost::asio::awaitable<std::unique_ptr<Conn>> acquire(bool fresh, std::string* error);

  boost::asio::io_context& io_;
  std::vector<boost::asio::ip::tcp::endpoint> endpoints_;
  std::string host_;
  std::vector<std::unique_ptr<Conn>> idle_;
  size_t opened_ = 0;
};

// Resolves host:port once, synchronously (before the load starts).
std::vector<boost::asio::ip::tcp::endpoint> resolve(boost::asio::io_context& io, const Url& url, std::string* error);

}  // namespace tern::bench
