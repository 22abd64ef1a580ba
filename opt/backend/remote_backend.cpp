#include "backend/remote_backend.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <limits>
#include <optional>
#include <random>
#include <unordered_map>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "backend/openai_wire.h"

namespace tern::opt {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

Result<UrlParts> parse_base_url(const std::string& url) {
  UrlParts u;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    u.tls = true;
    rest = url.substr(8);
  } else {
    return InvalidArgument("base URL '" + url + "' must start with http:// or https://");
  }
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  u.prefix = slash == std::string::npos ? "" : rest.substr(slash);
  while (!u.prefix.empty() && u.prefix.back() == '/') u.prefix.pop_back();
  if (authority.empty()) return InvalidArgument("base URL '" + url + "' has no host");
  size_t colon = authority.rfind(':');
  if (authority.front() == '[') {  // [::1]:8080
    size_t close = authority.find(']');
    if (close == std::string::npos) return InvalidArgument("base URL '" + url + "': unterminated IPv6 address");
    u.host = authority.substr(1, close - 1);
    colon = authority.size() > close + 1 && authority[close + 1] == ':' ? close + 1 : std::string::npos;
  } else {
    u.host = authority.substr(0, colon);
  }
  u.port = colon == std::string::npos ? (u.tls ? "443" : "80") : authority.substr(colon + 1);
  if (u.host.empty()) return InvalidArgument("base URL '" + url + "' has no host");
  if (u.port.empty() || u.port.find_first_not_of("0123456789") != std::string::npos || std::stoi(u.port) > 65535)
    return InvalidArgument("base URL '" + url + "': bad port '" + u.port + "'");
  return u;
}

struct CallBase {
  virtual ~CallBase() = default;
  virtual void cancel() = 0;
};

struct RemoteBackend::Shared {
  Shared(net::io_context& io, RemoteOptions o) : io(io), opt(std::move(o)) {}
  net::io_context& io;
  RemoteOptions opt;
  UrlParts url;
  std::optional<tcp::endpoint> endpoint;  // the host is an IP literal: no resolver
  std::unique_ptr<ssl::context> tls;
  std::mutex mu;
  std::vector<std::unique_ptr<PlainStream>> idle_plain;
  std::vector<std::unique_ptr<TlsStream>> idle_tls;
  std::unordered_map<uint64_t, std::weak_ptr<CallBase>> calls;
  std::atomic<uint64_t> next_id{1};
  std::atomic<int64_t> requests{0}, retries{0}, failures{0}, opened{0};

  std::vector<std::unique_ptr<PlainStream>>& idle(PlainStream*) { return idle_plain; }
  std::vector<std::unique_ptr<TlsStream>>& idle(TlsStream*) { return idle_tls; }

  template <class S>
  std::unique_ptr<S> take_idle() {
    std::lock_guard<std::mutex> lock(mu);
    auto& v = idle(static_cast<S*>(nullptr));
    if (v.empty()) return nullptr;
    auto s = std::move(v.back());
    v.pop_back();
    return s;
  }
  template <class S>
  void put_idle(std::unique_ptr<S> s) {
    std::lock_guard<std::mutex> lock(mu);
    auto& v = idle(static_cast<S*>(nullptr));
    if (static_cast<int>(v.size()) < opt.max_idle_connections) v.push_back(std::move(s));
  }
};

namespace {

std::chrono::nanoseconds secs(double s) {
  return std::chrono::nanoseconds(static_cast<int64_t>(std::max(0.0, s) * 1e9));
}

double jitter01() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

// One request, its retries included. Lives on one executor (a strand): every
// handler and cancel() run there, so its state needs no lock.
template <class Stream>
class Call : public CallBase, public std::enable_shared_from_this<Call<Stream>> {
 public:
  Call(std::shared_ptr<RemoteBackend::Shared> sh, uint64_t id, BackendRequest req, EventFn fn)
      : sh_(std::move(sh)), id_(id), req_(std::move(req)), fn_(std::move(fn)), deadline_(Clock::now() + secs(sh_->opt.total_timeout_s)) {
    stream_ = sh_->template take_idle<Stream>();
    reused_ = stream_ != nullptr;
    executor_ = reused_ ? stream_->get_executor() : net::any_io_executor(net::make_strand(sh_->io));
    build_payload();
  }

  void begin() {
    net::post(executor_, [self = this->shared_from_this()] {
      if (self->reused_) self->send();
      else self->connect();
    });
  }

  void cancel() override {
    net::post(executor_, [self = this->shared_from_this()] {
      if (self->done_) return;
      self->cancelled_ = true;
      if (self->timer_) self->timer_->cancel();
      if (self->resolver_) self->resolver_->cancel();
      if (self->stream_) beast::get_lowest_layer(*self->stream_).close();
    });
  }

 private:
  using Self = Call<Stream>;

  void build_payload() {
    json body = req_.body.is_object() ? req_.body : json::object();
    if (!sh_->opt.model.empty()) body["model"] = sh_->opt.model;
    body["stream"] = req_.stream;
    if (req_.stream) body["stream_options"] = {{"include_usage", true}};
    else body.erase("stream_options");
    if (req_.want_logprobs) {
      if (req_.kind == ApiKind::kChat) body["logprobs"] = true;
      else if (!body.contains("logprobs") || !body["logprobs"].is_number_integer() || body["logprobs"].get<int>() < 1)
        body["logprobs"] = 1;
    }
    payload_ = body.dump(-1, ' ', false, json::error_handler_t::replace);
    target_ = sh_->url.prefix + (req_.kind == ApiKind::kChat ? "/chat/completions" : "/completions");
  }

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(*stream_); }

  void new_stream() {
    if constexpr (std::is_same_v<Stream, TlsStream>) stream_ = std::make_unique<TlsStream>(executor_, *sh_->tls);
    else stream_ = std::make_unique<PlainStream>(executor_);
    reused_ = false;
    ++sh_->opened;
  }

  void connect() {
    if (cancelled_) return finish_error("cancelled", 0);
    new_stream();
    lowest().expires_after(std::min<Clock::duration>(secs(sh_->opt.connect_timeout_s), deadline_ - Clock::now()));
    auto self = this->shared_from_this();
    if (sh_->endpoint) {
      lowest().async_connect(*sh_->endpoint, [self](beast::error_code ec) { self->on_connect(ec); });
      return;
    }
    resolver_.emplace(executor_);
    resolver_->async_resolve(sh_->url.host, sh_->url.port, [self](beast::error_code ec, tcp::resolver::results_type r) {
      if (ec) return self->fail("cannot resolve " + self->sh_->url.host + ": " + ec.message(), 0, true);
      self->lowest().async_connect(r, [self](beast::error_code ec2, const tcp::endpoint&) { self->on_connect(ec2); });
    });
  }

  void on_connect(beast::error_code ec) {
    if (ec) {
      std::string why = ec == beast::error::timeout ? "connect timed out" : ec.message();
      return fail("cannot connect to " + sh_->url.host + ":" + sh_->url.port + ": " + why, 0, true);
    }
    lowest().socket().set_option(tcp::no_delay(true));
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      if (!SSL_set_tlsext_host_name(stream_->native_handle(), sh_->url.host.c_str()))
        return fail("TLS: cannot set SNI", 0, false);
      if (sh_->opt.verify_tls) stream_->set_verify_callback(ssl::host_name_verification(sh_->url.host));
      auto self = this->shared_from_this();
      stream_->async_handshake(ssl::stream_base::client, [self](beast::error_code ec2) {
        if (ec2) return self->fail("TLS handshake with " + self->sh_->url.host + " failed: " + ec2.message(), 0, true);
        self->send();
      });
    } else {
      send();
    }
  }

  void send() {
    if (cancelled_) return finish_error("cancelled", 0);
    // A fresh attempt: nothing of an earlier one's response survives.
    status_ = 0;
    body_.clear();
    sse_ = SseParser();
    finish_reason_.clear();
    stream_error_.clear();
    usage_ = {};
    request_ = {};
    request_.method(http::verb::post);
    request_.target(target_);
    request_.version(11);
    request_.set(http::field::host, sh_->url.host);
    request_.set(http::field::content_type, "application/json");
    request_.set(http::field::accept, req_.stream ? "text/event-stream" : "application/json");
    request_.set(http::field::connection, "keep-alive");
    if (!sh_->opt.api_key.empty()) request_.set(http::field::authorization, "Bearer " + sh_->opt.api_key);
    request_.body() = payload_;
    request_.prepare_payload();
    lowest().expires_after(std::min<Clock::duration>(secs(sh_->opt.first_byte_timeout_s), deadline_ - Clock::now()));
    sent_at_ = Clock::now();
    auto self = this->shared_from_this();
    http::async_write(*stream_, request_, [self](beast::error_code ec, size_t) {
      if (ec) return self->on_send_error(ec);
      self->parser_.emplace();
      self->parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
      self->buf_.clear();
      http::async_read_header(*self->stream_, self->buf_, *self->parser_,
                              [self](beast::error_code ec2, size_t) { self->on_header(ec2); });
    });
  }

  // A pooled connection the upstream closed while idle fails at once: open a
  // fresh one without counting a retry.
  void on_send_error(beast::error_code ec) {
    if (cancelled_) return finish_error("cancelled", 0);
    if (ec == beast::error::timeout) return fail("upstream did not answer within the first-byte timeout", 504, false);
    if (reused_) return connect();
    fail("upstream connection failed: " + ec.message(), 0, true);
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_send_error(ec);
    status_ = parser_->get().result_int();
    lowest().expires_at(deadline_);
    read_body();
  }

  void read_body() {
    parser_->get().body().data = chunk_;
    parser_->get().body().size = sizeof chunk_;
    auto self = this->shared_from_this();
    http::async_read_some(*stream_, buf_, *parser_, [self](beast::error_code ec, size_t) { self->on_body(ec); });
  }

  void on_body(beast::error_code ec) {
    if (ec == http::error::need_buffer) ec = {};
    size_t got = sizeof chunk_ - parser_->get().body().size;
    if (ec) {
      if (cancelled_) return finish_error("cancelled", 0);
      if (ec == beast::error::timeout) return fail("upstream exceeded the total timeout", 504, false);
      if (ec == http::error::end_of_stream || ec == net::error::eof) {
        if (!parser_->is_done() && !parser_->need_eof()) return fail("upstream closed the connection mid-response", 502, !delivered_);
      } else {
        return fail("upstream connection failed mid-response: " + ec.message(), 502, !delivered_);
      }
    }
    if (got > 0) on_bytes(std::string_view(chunk_, got));
    if (ec || parser_->is_done()) return on_complete();
    if (cancelled_) return finish_error("cancelled", 0);
    read_body();
  }

  void on_bytes(std::string_view bytes) {
    if (status_ != 200 || !req_.stream) {
      if (body_.size() < (64u << 20)) body_.append(bytes);
      return;
    }
    sse_.feed(bytes, [this](std::string&& data) {
      if (data == "[DONE]") return;
      json j = json::parse(data, nullptr, false);
      if (!j.is_object()) return;
      if (j.contains("error")) {
        stream_error_ = error_message_of(data);
        return;
      }
      WireDelta d = parse_chunk(req_.kind, j);
      if (d.has_usage) usage_ = d.usage;
      if (!d.finish_reason.empty()) finish_reason_ = d.finish_reason;
      if (d.text.empty() && d.logprobs.empty() && d.tool_calls.is_null()) return;
      BackendEvent ev;
      ev.text = std::move(d.text);
      ev.logprobs = std::move(d.logprobs);
      ev.logprobs_json = std::move(d.logprobs_json);
      ev.tool_calls = std::move(d.tool_calls);
      delivered_ = true;
      fn_(std::move(ev));
    });
  }

  void on_complete() {
    if (status_ != 200) {
      bool retry = status_ >= 500 || status_ == 429;
      return fail("upstream answered HTTP " + std::to_string(status_) + ": " + error_message_of(body_), status_, retry);
    }
    bool keep = parser_->is_done() && parser_->keep_alive();
    BackendEvent ev;
    ev.finished = true;
    ev.upstream_ms = std::chrono::duration<double, std::milli>(Clock::now() - sent_at_).count();
    if (req_.stream) {
      if (!stream_error_.empty()) return fail("upstream error: " + stream_error_, 502, !delivered_);
      ev.finish_reason = finish_reason_.empty() ? "stop" : finish_reason_;
      ev.usage = usage_;
    } else {
      json j = json::parse(body_, nullptr, false);
      if (!j.is_object()) return fail("upstream sent a response that is not JSON", 502, true);
      WireDelta d = parse_response(req_.kind, j);
      ev.text = std::move(d.text);
      ev.logprobs = std::move(d.logprobs);
      ev.logprobs_json = std::move(d.logprobs_json);
      ev.tool_calls = std::move(d.tool_calls);
      ev.finish_reason = d.finish_reason.empty() ? "stop" : d.finish_reason;
      ev.usage = d.usage;
    }
    if (keep) {
      lowest().expires_never();
      sh_->put_idle(std::move(stream_));
    }
    deliver_final(std::move(ev));
  }

  // A failure of this attempt: retried when allowed and nothing was
  // delivered yet, else the request's final error.
  void fail(std::string why, int http_status, bool retryable) {
    if (cancelled_) return finish_error("cancelled", 0);
    stream_.reset();
    if (retryable && !delivered_ && attempt_ < sh_->opt.max_retries && Clock::now() < deadline_) {
      ++attempt_;
      ++sh_->retries;
      double cap = std::min(sh_->opt.backoff_max_s, sh_->opt.backoff_initial_s * std::pow(2.0, attempt_ - 1));
      auto wait = std::min<Clock::duration>(secs(cap * jitter01()), deadline_ - Clock::now());
      timer_.emplace(executor_);
      timer_->expires_after(wait);
      auto self = this->shared_from_this();
      timer_->async_wait([self](beast::error_code) { self->connect(); });
      return;
    }
    if (attempt_ > 0) why += " (after " + std::to_string(attempt_ + 1) + " attempts)";
    finish_error(why, http_status);
  }

  void finish_error(const std::string& why, int http_status) {
    if (done_) return;
    ++sh_->failures;
    stream_.reset();
    BackendEvent ev;
    ev.finished = true;
    ev.finish_reason = "error";
    ev.error = cancelled_ ? Status(StatusCode::kCancelled, "cancelled") : IoError(sh_->opt.name + ": " + why);
    ev.http_status = http_status;
    ev.before_output = !delivered_;
    deliver_final(std::move(ev));
  }

  void deliver_final(BackendEvent ev) {
    if (done_) return;
    done_ = true;
    {
      std::lock_guard<std::mutex> lock(sh_->mu);
      sh_->calls.erase(id_);
    }
    EventFn fn = std::move(fn_);
    fn(std::move(ev));
  }

  std::shared_ptr<RemoteBackend::Shared> sh_;
  uint64_t id_;
  BackendRequest req_;
  EventFn fn_;
  Clock::time_point deadline_;
  Clock::time_point sent_at_;
  net::any_io_executor executor_;
  std::unique_ptr<Stream> stream_;
  bool reused_ = false;
  std::optional<tcp::resolver> resolver_;
  std::optional<net::steady_timer> timer_;
  std::string payload_, target_;
  http::request<http::string_body> request_;
  std::optional<http::response_parser<http::buffer_body>> parser_;
  beast::flat_buffer buf_;
  char chunk_[16384];
  int status_ = 0;
  std::string body_;
  SseParser sse_;
  std::string finish_reason_, stream_error_;
  TokenUsage usage_;
  int attempt_ = 0;
  bool delivered_ = false, cancelled_ = false, done_ = false;
};

}  // namespace

Result<std::unique_ptr<RemoteBackend>> RemoteBackend::create(net::io_context& io, RemoteOptions options) {
  auto url = parse_base_url(options.base_url);
  if (!url.ok()) return url.status();
  auto sh = std::make_shared<Shared>(io, std::move(options));
  sh->url = *url;
  beast::error_code ec;
  auto addr = net::ip::make_address(sh->url.host, ec);
  if (!ec) sh->endpoint = tcp::endpoint(addr, static_cast<uint16_t>(std::stoi(sh->url.port)));
  if (sh->url.tls) {
    sh->tls = std::make_unique<ssl::context>(ssl::context::tls_client);
    if (sh->opt.verify_tls) {
      if (sh->opt.ca_file.empty()) sh->tls->set_default_verify_paths(ec);
      else sh->tls->load_verify_file(sh->opt.ca_file, ec);
      if (ec) return InvalidArgument(sh->opt.name + ": cannot load CA certificates: " + ec.message());
      sh->tls->set_verify_mode(ssl::verify_peer);
    } else {
      sh->tls->set_verify_mode(ssl::verify_none);
    }
  }
  return std::unique_ptr<RemoteBackend>(new RemoteBackend(std::move(sh)));
}

RemoteBackend::RemoteBackend(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

RemoteBackend::~RemoteBackend() {
  std::vector<std::shared_ptr<CallBase>> live;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    for (auto& [id, w] : shared_->calls)
      if (auto c = w.lock()) live.push_back(std::move(c));
  }
  for (auto& c : live) c->cancel();
}

const std::string& RemoteBackend::name() const { return shared_->opt.name; }

uint64_t RemoteBackend::start(BackendRequest request, EventFn on_event) {
  uint64_t id = shared_->next_id++;
  ++shared_->requests;
  std::shared_ptr<CallBase> call;
  auto begin = [&](auto c) {
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      shared_->calls[id] = c;
    }
    c->begin();
  };
  if (shared_->url.tls) begin(std::make_shared<Call<TlsStream>>(shared_, id, std::move(request), std::move(on_event)));
  else begin(std::make_shared<Call<PlainStream>>(shared_, id, std::move(request), std::move(on_event)));
  return id;
}

void RemoteBackend::cancel(uint64_t handle) {
  std::shared_ptr<CallBase> c;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    auto it = shared_->calls.find(handle);
    if (it != shared_->calls.end()) c = it->second.lock();
  }
  if (c) c->cancel();
}

RemoteStats RemoteBackend::stats() const {
  RemoteStats s;
  s.requests = shared_->requests;
  s.retries = shared_->retries;
  s.failures = shared_->failures;
  s.connections_opened = shared_->opened;
  return s;
}

}  // namespace tern::opt
