// HttpServer: Beast sessions, the write queue, disconnect detection, drain.
//
// Per connection, on its strand:
//   read request ─► handler(req, exchange) ─► respond() | begin_stream/write*/end_stream
//        ▲             while answering: a "monitor" read notices a peer that goes away
//        └── keep-alive: once the last byte is written, read the next request
// Responses are serialized here (status line, headers, chunked framing) into
// one queue of strings written in order, so a handler never waits on I/O.
#include "http/http_server.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

namespace tern::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

const std::string& HttpRequest::header(const std::string& name) const {
  static const std::string kEmpty;
  auto it = headers.find(name);
  return it == headers.end() ? kEmpty : it->second;
}

namespace {

constexpr size_t kHeaderLimit = 64 * 1024;
constexpr size_t kMonitorBufferLimit = 1 << 20;  // pipelined bytes kept while answering

std::string utc_now() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

void write_log_line(const std::string& line) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

std::string status_line(int status) {
  auto reason = http::obsolete_reason(static_cast<http::status>(status));
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason.data(), reason.size()) + "\r\n";
}

std::string serialize(const HttpResponse& r, bool keep_alive) {
  std::string out = status_line(r.status);
  out += "Server: tern\r\nContent-Type: " + r.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  for (const auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  out += r.body;
  return out;
}

std::string chunk(const std::string& data) {
  char size[20];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string out = size;
  out += data;
  out += "\r\n";
  return out;
}

}  // namespace

class Session;

// ---------------------------------------------------------------------------
class HttpServer::Impl {
 public:
  Impl(HttpServerOptions o, Handler h) : options(std::move(o)), handler(std::move(h)), acceptor(ioc) {}

  Status run(const std::function<void(int)>& on_listening);
  void request_stop() {
    net::post(ioc, [this] { begin_drain(); });
  }
  void begin_drain();
  void check_drained();
  void do_accept();

  void add(Session* s, std::weak_ptr<Session> w) {
    std::lock_guard<std::mutex> lock(mu);
    sessions[s] = std::move(w);
  }
  void remove(Session* s) {
    std::lock_guard<std::mutex> lock(mu);
    sessions.erase(s);
  }
  std::string next_request_id() { return "req-" + std::to_string(++request_counter); }
  HttpResponse error_response(int status, const std::string& message) const;

  HttpServerOptions options;
  Handler handler;
  net::io_context ioc;
  tcp::acceptor acceptor;
  std::optional<net::steady_timer> drain_timer;
  Clock::time_point drain_deadline;
  std::atomic<bool> draining{false};
  std::atomic<uint64_t> request_counter{0};
  std::mutex mu;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;
};

// ---------------------------------------------------------------------------
class ExchangeImpl;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, HttpServer::Impl& server) : stream_(std::move(socket)), server_(server) {}
  ~Session() { server_.remove(this); }

  void start() {
    server_.add(this, weak_from_this());
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
  }
  auto executor() { return stream_.get_executor(); }

  // Strand only. `last`: this completes the current response.
  void send(std::string data, bool last) {
    if (closed_) return;
    if (last) response_done_ = true;
    outq_.push_back(std::move(data));
    if (!writing_) do_write();
  }
  bool keep_alive() const { return keep_alive_ && !server_.draining; }
  bool closed() const { return closed_; }

  // Posted on shutdown: a connection waiting for its next request closes.
  void close_if_idle() {
    if (!current_ && !closed_ && !writing_) close_socket();
  }

 private:
  void do_read();
  void on_read(beast::error_code ec);
  void start_monitor();
  void on_monitor(beast::error_code ec, size_t n);
  void do_write();
  void on_write(beast::error_code ec);
  void after_response();
  void peer_gone();
  void close_socket() {
    closed_ = true;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }
  // Half-close, then read and discard until the peer closes (or 5 s), so
  // that unread request bytes (a rejected body) do not turn into a reset that
  // destroys the response before the peer reads it.
  void linger_close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (monitoring_) return;  // the monitor read sees EOF and closes
    lingering_ = true;
    stream_.expires_after(std::chrono::seconds(5));
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(65536), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec || self->closed_) {
        self->close_socket();
        return;
      }
      self->lingering_ = false;
      self->linger_close();
    });
  }
  bool io_done() const { return response_done_ && outq_.empty() && !writing_; }
  void reject(int status, const std::string& message);

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::deque<std::string> outq_;
  bool writing_ = false;
  bool monitoring_ = false;
  bool response_done_ = false;
  bool keep_alive_ = true;
  bool closed_ = false;
  bool lingering_ = false;
  std::shared_ptr<ExchangeImpl> current_;
  HttpServer::Impl& server_;
};

// ---------------------------------------------------------------------------
class ExchangeImpl final : public Exchange {
 public:
  ExchangeImpl(std::shared_ptr<Session> session, std::string id, const HttpRequest& req, const HttpServerOptions& o)
      : session_(std::move(session)), id_(std::move(id)), start_(Clock::now()), options_(o) {
    log_ = {{"ts", utc_now()}, {"id", id_}, {"method", req.method}, {"path", req.path}};
  }

  void post(std::function<void()> fn) override { net::post(session_->executor(), std::move(fn)); }

  void respond(HttpResponse r) override {
    if (done_ || streaming_) return;
    done_ = true;
    status_ = r.status;
    if (!closed_) session_->send(serialize(r, session_->keep_alive()), true);
    write_log();
  }
  using Exchange::begin_stream;
  void begin_stream(int status, const std::string& content_type,
                    const std::vector<std::pair<std::string, std::string>>& headers) override {
    if (done_ || streaming_) return;
    streaming_ = true;
    status_ = status;
    std::string head = status_line(status);
    head += "Server: tern\r\nContent-Type: " + content_type + "\r\nCache-Control: no-cache\r\n";
    for (const auto& [k, v] : headers) head += k + ": " + v + "\r\n";
    head += "Transfer-Encoding: chunked\r\n";
    head += session_->keep_alive() ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    if (!closed_) session_->send(std::move(head), false);
  }
  void write(std::string data) override {
    if (!streaming_ || done_ || closed_ || data.empty()) return;
    session_->send(chunk(data), false);
  }
  void end_stream() override {
    if (!streaming_ || done_) return;
    done_ = true;
    if (!closed_) session_->send("0\r\n\r\n", true);
    write_log();
  }
  bool closed() const override { return closed_; }
  void on_close(std::function<void()> cb) override {
    if (closed_) {
      cb();
      return;
    }
    close_cbs_.push_back(std::move(cb));
  }
  void log_field(const std::string& key, const std::string& value) override { log_[key] = value; }
  void log_field(const std::string& key, double value) override {
    if (value == static_cast<double>(static_cast<int64_t>(value))) log_[key] = static_cast<int64_t>(value);
    else log_[key] = std::round(value * 1000.0) / 1000.0;  // µs resolution is plenty for a log
  }
  const std::string& request_id() const override { return id_; }

  // The peer went away (strand). Runs the callbacks once.
  void notify_closed() {
    if (closed_) return;
    closed_ = true;
    if (!done_) {
      log_["disconnected"] = true;
      if (status_ == 0) status_ = 499;  // nginx's "client closed request"
      done_ = true;
      write_log();
    }
    auto cbs = std::move(close_cbs_);
    for (auto& cb : cbs) {
      try {
        cb();
      } catch (...) {
      }
    }
  }
  bool done() const { return done_; }

 private:
  void write_log() {
    if (logged_) return;
    logged_ = true;
    if (options_.on_response) options_.on_response(status_);
    if (!options_.log_requests) return;
    log_["status"] = status_;
    log_["ms"] = std::round(std::chrono::duration<double, std::milli>(Clock::now() - start_).count() * 1000.0) / 1000.0;
    write_log_line(log_.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }

  std::shared_ptr<Session> session_;
  std::string id_;
  Clock::time_point start_;
  const HttpServerOptions& options_;
  nlohmann::json log_;
  std::vector<std::function<void()>> close_cbs_;
  int status_ = 0;
  bool streaming_ = false;
  bool done_ = false;
  bool closed_ = false;
  bool logged_ = false;
};

// ---------------------------------------------------------------------------
void Session::do_read() {
  if (closed_) return;
  if (server_.draining) {
    close_socket();
    return;
  }
  response_done_ = false;
  parser_.emplace();
  parser_->body_limit(static_cast<uint64_t>(server_.options.max_body_bytes));
  parser_->header_limit(kHeaderLimit);
  stream_.expires_after(std::chrono::seconds(server_.options.idle_timeout_s));
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
}

void Session::reject(int status, const std::string& message) {
  HttpRequest req;
  if (parser_ && parser_->is_header_done()) {
    const auto& h = parser_->get();
    req.method = std::string(h.method_string());
    req.target = std::string(h.target());
    req.path = req.target.substr(0, req.target.find('?'));
  }
  keep_alive_ = false;
  current_ = std::make_shared<ExchangeImpl>(shared_from_this(), server_.next_request_id(), req,
                                            server_.options);
  current_->respond(server_.error_response(status, message));
}

void Session::on_read(beast::error_code ec) {
  if (closed_) return;
  if (ec == http::error::body_limit) {
    reject(413, "request body is larger than the server's limit of " +
                    std::to_string(server_.options.max_body_bytes) + " bytes");
    return;
  }
  if (ec == http::error::header_limit) {
    reject(431, "request header fields are too large");
    return;
  }
  if (ec) {
    // A peer that closes between requests, a timeout or a reset: nothing to
    // answer. A malformed request: say so, then close.
    bool malformed = ec.category() == http::make_error_code(http::error::bad_target).category() &&
                     ec != http::error::end_of_stream && ec != http::error::partial_message;
    if (malformed) {
      reject(400, "malformed HTTP request: " + ec.message());
    } else {
      close_socket();
    }
    return;
  }
  stream_.expires_never();
  auto msg = parser_->release();
  HttpRequest req;
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  req.path = req.target.substr(0, req.target.find('?'));
  for (const auto& f : msg) {
    std::string name(f.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    req.headers[name] = std::string(f.value());
  }
  req.body = std::move(msg.body());
  keep_alive_ = msg.keep_alive();
  current_ = std::make_shared<ExchangeImpl>(shared_from_this(), server_.next_request_id(), req,
                                            server_.options);
  start_monitor();
  auto ex = current_;
  try {
    server_.handler(req, ex);
  } catch (const std::exception& e) {
    ex->respond(server_.error_response(500, std::string("internal error: ") + e.what()));
    ex->end_stream();
  } catch (...) {
    ex->respond(server_.error_response(500, "internal error"));
    ex->end_stream();
  }
}

void Session::start_monitor() {
  if (closed_ || monitoring_ || buffer_.size() >= kMonitorBufferLimit) return;
  monitoring_ = true;
  stream_.socket().async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, size_t n) {
    self->on_monitor(ec, n);
  });
}

void Session::on_monitor(beast::error_code ec, size_t n) {
  monitoring_ = false;
  if (closed_) return;
  if (!ec) {
    buffer_.commit(n);  // a pipelined request: parsed after this response
    if (io_done() && !current_ && !keep_alive()) {
      linger_close();
    } else if (io_done() && !current_) {
      do_read();
    } else {
      start_monitor();
    }
    return;
  }
  if (io_done() && !current_ && !keep_alive()) {
    close_socket();  // the peer closed after a Connection: close response
    return;
  }
  if (ec == net::error::operation_aborted && io_done() && !current_) {
    do_read();  // cancelled by after_response() to read the next request
    return;
  }
  peer_gone();
}

void Session::do_write() {
  writing_ = true;
  net::async_write(stream_, net::buffer(outq_.front()),
                   [self = shared_from_this()](beast::error_code ec, size_t) { self->on_write(ec); });
}

void Session::on_write(beast::error_code ec) {
  writing_ = false;
  if (closed_) return;
  if (ec) {
    peer_gone();
    return;
  }
  outq_.pop_front();
  if (!outq_.empty()) {
    do_write();
  } else if (response_done_) {
    after_response();
  }
}

void Session::after_response() {
  current_.reset();  // the handler may still hold it; its writes are now ignored
  if (!keep_alive()) {
    linger_close();
    return;
  }
  if (monitoring_) {
    beast::error_code ignored;
    stream_.socket().cancel(ignored);  // on_monitor then starts the next read
  } else {
    do_read();
  }
}

void Session::peer_gone() {
  if (closed_) return;
  close_socket();
  outq_.clear();
  if (auto ex = std::move(current_)) ex->notify_closed();
}

// ---------------------------------------------------------------------------
HttpResponse HttpServer::Impl::error_response(int status, const std::string& message) const {
  if (options.error_response) return options.error_response(status, message);
  HttpResponse r;
  r.status = status;
  nlohmann::json j = {{"error", {{"message", message}, {"type", status == 413 ? "invalid_request_error" : "server_error"},
                                 {"param", nullptr}, {"code", nullptr}}}};
  if (status < 500) j["error"]["type"] = "invalid_request_error";
  r.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

void HttpServer::Impl::do_accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (!acceptor.is_open() || draining) return;
    if (!ec) {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<Session>(std::move(socket), *this)->start();
    }
    do_accept();
  });
}

void HttpServer::Impl::begin_drain() {
  if (draining.exchange(true)) return;
  beast::error_code ignored;
  acceptor.close(ignored);
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& [p, w] : sessions)
      if (auto s = w.lock()) live.push_back(std::move(s));
  }
  for (auto& s : live) net::post(s->executor(), [s] { s->close_if_idle(); });
  drain_deadline = Clock::now() + std::chrono::seconds(options.drain_timeout_s);
  drain_timer.emplace(ioc);
  check_drained();
}

void HttpServer::Impl::check_drained() {
  size_t n;
  {
    std::lock_guard<std::mutex> lock(mu);
    n = sessions.size();
  }
  if (n == 0 || Clock::now() >= drain_deadline) {
    if (n) std::fprintf(stderr, "tern serve: drain timeout, %zu connection(s) still open\n", n);
    ioc.stop();
    return;
  }
  drain_timer->expires_after(std::chrono::milliseconds(50));
  drain_timer->async_wait([this](beast::error_code) { check_drained(); });
}

Status HttpServer::Impl::run(const std::function<void(int)>& on_listening) {
  beast::error_code ec;
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(options.host, std::to_string(options.port), ec);
  if (ec || results.empty()) return IoError("cannot resolve " + options.host + ": " + ec.message());
  tcp::endpoint ep = results.begin()->endpoint();
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return IoError("cannot listen on " + options.host + ":" + std::to_string(options.port) + ": " + ec.message());
  int port = acceptor.local_endpoint().port();

  std::optional<net::signal_set> signals;
  if (options.handle_signals) {
    signals.emplace(ioc, SIGINT, SIGTERM);
    signals->async_wait([this](beast::error_code e, int) {
      if (!e) begin_drain();
    });
  }
  do_accept();
  if (on_listening) on_listening(port);

  std::vector<std::thread> threads;
  for (int i = 1; i < std::max(1, options.threads); ++i) threads.emplace_back([this] { ioc.run(); });
  ioc.run();
  for (auto& t : threads) t.join();
  return Status::Ok();
}

// ---------------------------------------------------------------------------
HttpServer::HttpServer(HttpServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}
HttpServer::~HttpServer() = default;
Status HttpServer::run(const std::function<void(int)>& on_listening) { return impl_->run(on_listening); }
void HttpServer::request_stop() { impl_->request_stop(); }
bool HttpServer::draining() const { return impl_->draining; }

}  // namespace tern::server
