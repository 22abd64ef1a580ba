#include "backend/http_post.h"

#include <openssl/ssl.h>

#include <chrono>
#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "backend/remote_backend.h"

namespace tern::opt {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

// Runs the io_context until `done` or the deadline; false on timeout.
bool run_until(net::io_context& io, const bool& done, std::chrono::steady_clock::time_point deadline) {
  io.restart();
  while (!done) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return false;
    if (io.run_one_for(left) == 0 && !done) return false;
  }
  return true;
}

template <class Stream>
Result<std::string> exchange(net::io_context& io, Stream& stream, beast::tcp_stream& lowest,
                             http::request<http::string_body>& req, std::chrono::steady_clock::time_point deadline,
                             const std::string& where, size_t max_body) {
  bool done = false;
  beast::error_code ec;
  lowest.expires_at(deadline);
  http::async_write(stream, req, [&](beast::error_code e, size_t) { ec = e; done = true; });
  if (!run_until(io, done, deadline) || ec)
    return IoError(where + ": cannot send the request: " + (ec ? ec.message() : "timed out"));
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body);
  done = false;
  lowest.expires_at(deadline);
  http::async_read(stream, buf, parser, [&](beast::error_code e, size_t) { ec = e; done = true; });
  if (!run_until(io, done, deadline) || ec == beast::error::timeout)
    return IoError(where + ": no complete answer before the timeout");
  if (ec) return IoError(where + ": reading the answer failed: " + ec.message());
  auto res = parser.release();
  const unsigned code = res.result_int();
  if (code < 200 || code >= 300) {
    std::string body = res.body().substr(0, 300);
    return IoError(where + " answered HTTP " + std::to_string(code) + ": " + body);
  }
  return std::move(res.body());
}

}  // namespace

Result<std::string> http_post(const std::string& url, const std::vector<std::pair<std::string, std::string>>& headers,
                              const std::string& body, int timeout_ms, const HttpPostOptions& options) {
  auto parts = parse_base_url(url);  // prefix = the path
  if (!parts.ok()) return parts.status();
  const UrlParts& u = *parts;
  const std::string where = "POST " + url;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max(1, timeout_ms));
  net::io_context io;

  // Resolve and connect.
  tcp::resolver resolver(io);
  bool done = false;
  beast::error_code ec;
  tcp::resolver::results_type endpoints;
  resolver.async_resolve(u.host, u.port, [&](beast::error_code e, tcp::resolver::results_type r) {
    ec = e;
    endpoints = std::move(r);
    done = true;
  });
  if (!run_until(io, done, deadline)) return IoError(where + ": resolving " + u.host + " timed out");
  if (ec) return IoError(where + ": cannot resolve " + u.host + ": " + ec.message());
  beast::tcp_stream lowest(io);
  lowest.expires_at(deadline);
  done = false;
  lowest.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; done = true; });
  if (!run_until(io, done, deadline) || ec == beast::error::timeout)
    return IoError(where + ": connecting to " + u.host + ":" + u.port + " timed out");
  if (ec) return IoError(where + ": cannot connect to " + u.host + ":" + u.port + ": " + ec.message());
  lowest.socket().set_option(tcp::no_delay(true));

  http::request<http::string_body> req{http::verb::post, u.prefix.empty() ? "/" : u.prefix, 11};
  req.set(http::field::host, u.host);
  req.set(http::field::user_agent, "tern");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();

  if (!u.tls) return exchange(io, lowest, lowest, req, deadline, where, options.max_body_bytes);

  ssl::context tls(ssl::context::tls_client);
  if (options.verify_tls) {
    beast::error_code vec;
    if (options.ca_file.empty()) tls.set_default_verify_paths(vec);
    else tls.load_verify_file(options.ca_file, vec);
    if (vec) return IoError(where + ": cannot load CA certificates: " + vec.message());
    tls.set_verify_mode(ssl::verify_peer);
  } else {
    tls.set_verify_mode(ssl::verify_none);
  }
  beast::ssl_stream<beast::tcp_stream> stream(std::move(lowest), tls);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), u.host.c_str())) return IoError(where + ": TLS: cannot set SNI");
  if (options.verify_tls) stream.set_verify_callback(ssl::host_name_verification(u.host));
  done = false;
  beast::get_lowest_layer(stream).expires_at(deadline);
  stream.async_handshake(ssl::stream_base::client, [&](beast::error_code e) { ec = e; done = true; });
  if (!run_until(io, done, deadline) || ec == beast::error::timeout)
    return IoError(where + ": TLS handshake timed out");
  if (ec) return IoError(where + ": TLS handshake failed: " + ec.message());
  return exchange(io, stream, beast::get_lowest_layer(stream), req, deadline, where, options.max_body_bytes);
}

}  // namespace tern::opt
