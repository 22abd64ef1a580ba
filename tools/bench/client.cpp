#include "bench/client.h"

#include <utility>  // before asio: its awaitable.hpp uses std::exchange

#include <boost/asio/connect.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <limits>

namespace tern::bench {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;

bool parse_url(const std::string& text, Url* out, std::string* error) {
  std::string rest;
  if (text.rfind("http://", 0) == 0) {
    rest = text.substr(7);
  } else if (text.rfind("https://", 0) == 0) {
    *error = "https is not supported yet; put a plain-http endpoint (or a local TLS proxy) in --url";
    return false;
  } else {
    *error = "--url must start with http://";
    return false;
  }
  Url u;
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  u.path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!u.path.empty() && u.path.back() == '/') u.path.pop_back();
  if (!hostport.empty() && hostport[0] == '[') {  // [v6]:port
    size_t close = hostport.find(']');
    if (close == std::string::npos) return *error = "bad IPv6 host in --url", false;
    u.host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size() && hostport[close + 1] == ':') u.port = hostport.substr(close + 2);
  } else if (size_t colon = hostport.rfind(':'); colon != std::string::npos) {
    u.host = hostport.substr(0, colon);
    u.port = hostport.substr(colon + 1);
  } else {
    u.host = hostport;
  }
  if (u.host.empty() || u.port.empty()) return *error = "--url needs a host", false;
  *out = std::move(u);
  return true;
}

std::vector<tcp::endpoint> resolve(asio::io_context& io, const Url& url, std::string* error) {
  tcp::resolver r(io);
  boost::system::error_code ec;
  auto results = r.resolve(url.host, url.port, ec);
  std::vector<tcp::endpoint> eps;
  if (ec) {
    *error = "cannot resolve " + url.host + ":" + url.port + ": " + ec.message();
    return eps;
  }
  for (const auto& e : results) eps.push_back(e.endpoint());
  return eps;
}

struct ConnectionPool::Conn {
  explicit Conn(asio::io_context& io) : socket(io) {}
  tcp::socket socket;
  boost::beast::flat_buffer buffer;
  int uses = 0;
};

ConnectionPool::ConnectionPool(asio::io_context& io, std::vector<tcp::endpoint> endpoints, std::string host_header)
    : io_(io), endpoints_(std::move(endpoints)), host_(std::move(host_header)) {}

ConnectionPool::~ConnectionPool() { close_all(); }

void ConnectionPool::close_all() {
  for (auto& c : idle_) {
    boost::system::error_code ec;
    c->socket.close(ec);
  }
  idle_.clear();
}

asio::awaitable<std::unique_ptr<ConnectionPool::Conn>> ConnectionPool::acquire(bool fresh, std::string* error) {
  if (!fresh && !idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    co_return c;
  }
  auto c = std::make_unique<Conn>(io_);
  boost::system::error_code ec;
  co_await asio::async_connect(c->socket, endpoints_, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    *error = ec.message();
    co_return nullptr;
  }
  c->socket.set_option(tcp::no_delay(true), ec);
  ++opened_;
  co_return c;
}

asio::awaitable<HttpResult> ConnectionPool::post(
    const std::string& target, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers, double timeout_s,
    const std::function<void(std::string_view, Clock::time_point)>& on_data) {
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::host, host_);
  req.set(http::field::user_agent, "tern-bench");
  req.set(http::field::content_type, "application/json");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.keep_alive(true);
  req.prepare_payload();

  HttpResult res;
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::string err;
    auto conn = co_await acquire(attempt > 0, &err);
    if (!conn) {
      res.error = "connect";
      res.detail = err;
      co_return res;
    }
    bool reused = conn->uses++ > 0;
    // The timer closes the socket; the pending read or write then fails.
    // Shared with the handler, which may already be queued when we cancel.
    struct Watch {
      bool timed_out = false;
      tcp::socket* socket = nullptr;
    };
    auto watch = std::make_shared<Watch>();
    watch->socket = &conn->socket;
    asio::steady_timer timer(io_);
    timer.expires_at(deadline);
    timer.async_wait([watch](boost::system::error_code ec) {
      if (ec || !watch->socket) return;
      watch->timed_out = true;
      boost::system::error_code ignore;
      watch->socket->close(ignore);
    });

    boost::system::error_code ec;
    co_await http::async_write(conn->socket, req, asio::redirect_error(asio::use_awaitable, ec));
    http::response_parser<http::buffer_body> p;
    p.body_limit(std::numeric_limits<std::uint64_t>::max());
    bool got_bytes = false;
    if (!ec) {
      co_await http::async_read_header(conn->socket, conn->buffer, p, asio::redirect_error(asio::use_awaitable, ec));
      got_bytes = p.got_some();
    }
    if (!ec) {
      res.status = p.get().result_int();
      res.content_type = std::string(p.get()[http::field::content_type]);
      char buf[16384];
      while (!p.is_done()) {
        p.get().body().data = buf;
        p.get().body().size = sizeof buf;
        co_await http::async_read_some(conn->socket, conn->buffer, p, asio::redirect_error(asio::use_awaitable, ec));
        if (ec == http::error::need_buffer) ec = {};
        size_t n = sizeof buf - p.get().body().size;
        if (n > 0) on_data(std::string_view(buf, n), Clock::now());
        if (ec) break;
      }
    }
    timer.cancel();
    watch->socket = nullptr;
    bool timed_out = watch->timed_out;
    bool stale = ec && reused && !got_bytes && !timed_out && attempt == 0;
    if (stale) continue;  // the server closed an idle keep-alive connection
    if (timed_out) {
      res.error = "timeout";
      res.detail = "no complete response within the timeout";
    } else if (ec) {
      res.error = got_bytes ? "read" : "closed";
      res.detail = ec.message();
    } else if (p.keep_alive()) {
      idle_.push_back(std::move(conn));
    }
    co_return res;
  }
  co_return res;
}

}  // namespace tern::bench
