// A scripted OpenAI-compatible upstream for backend and gateway tests: a
// Beast HTTP server on 127.0.0.1 (ephemeral port) whose answers a test
// function writes, raw, on the socket (full JSON, SSE chunks with delays,
// errors, silence).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

namespace tern::test {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

class FakeUpstream {
 public:
  using Request = http::request<http::string_body>;
  // Called on the connection's thread for each request; n counts requests
  // (from 1) across connections. Returns false to close the connection.
  using Handler = std::function<bool(const Request&, tcp::socket&, int n)>;

  explicit FakeUpstream(Handler h) : handler_(std::move(h)), acceptor_(io_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~FakeUpstream() {
    net::post(io_, [this] { acceptor_.close(); });
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      for (auto& s : sockets_) {
        boost::system::error_code ec;
        s->shutdown(tcp::socket::shutdown_both, ec);
      }
    }
    io_.stop();
    thread_.join();
    for (auto& t : conns_) t.join();
  }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  int requests() const { return requests_; }
  int connections() const { return connections_; }
  std::vector<Request> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

  static void send(tcp::socket& s, int status, const std::string& body, const std::string& type = "application/json") {
    std::string r = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: " + type +
                    "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: keep-alive\r\n\r\n" + body;
    boost::system::error_code ec;
    net::write(s, net::buffer(r), ec);
  }
  static void begin_sse(tcp::socket& s) {
    std::string h = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n";
    boost::system::error_code ec;
    net::write(s, net::buffer(h), ec);
  }
  static void chunk(tcp::socket& s, const std::string& data) {
    char len[32];
    std::snprintf(len, sizeof len, "%zx\r\n", data.size());
    std::string c = len + data + "\r\n";
    boost::system::error_code ec;
    net::write(s, net::buffer(c), ec);
  }
  static void end_sse(tcp::socket& s) {
    boost::system::error_code ec;
    net::write(s, net::buffer(std::string("0\r\n\r\n")), ec);
  }

  // An OpenAI chat response / chunk.
  static std::string chat_json(const std::string& text, int prompt = 5, int completion = 3) {
    nlohmann::json j = {{"id", "x"}, {"object", "chat.completion"}, {"created", 1}, {"model", "up"},
                        {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", text}}}, {"finish_reason", "stop"}}}},
                        {"usage", {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}}}};
    return j.dump();
  }
  static std::string delta_event(const std::string& text) {
    nlohmann::json j = {{"id", "x"}, {"object", "chat.completion.chunk"}, {"created", 1}, {"model", "up"},
                        {"choices", {{{"index", 0}, {"delta", {{"content", text}}}, {"finish_reason", nullptr}}}}};
    return "data: " + j.dump() + "\n\n";
  }
  static std::string finish_event(const char* reason, int prompt, int completion) {
    nlohmann::json j = {{"id", "x"}, {"object", "chat.completion.chunk"}, {"created", 1}, {"model", "up"},
                        {"choices", {{{"index", 0}, {"delta", nlohmann::json::object()}, {"finish_reason", reason}}}}};
    nlohmann::json u = {{"id", "x"}, {"object", "chat.completion.chunk"}, {"created", 1}, {"model", "up"}, {"choices", nlohmann::json::array()},
                        {"usage", {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}}}};
    return "data: " + j.dump() + "\n\ndata: " + u.dump() + "\n\ndata: [DONE]\n\n";
  }

 private:
  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec) return;
      ++connections_;
      auto sock = std::make_shared<tcp::socket>(std::move(s));
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      sockets_.push_back(sock);
      conns_.emplace_back([this, sock] { serve(*sock); });
      accept();
    });
  }
  void serve(tcp::socket& s) {
    boost::beast::flat_buffer buf;
    for (;;) {
      Request req;
      boost::system::error_code ec;
      http::read(s, buf, req, ec);
      if (ec) return;
      int n = ++requests_;
      {
        std::lock_guard<std::mutex> lock(mu_);
        seen_.push_back(req);
      }
      if (!handler_(req, s, n)) {
        s.shutdown(tcp::socket::shutdown_both, ec);
        return;
      }
    }
  }

  Handler handler_;
  net::io_context io_;
  tcp::acceptor acceptor_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  bool stopping_ = false;
  std::vector<std::shared_ptr<tcp::socket>> sockets_;
  std::vector<std::thread> conns_;
  std::vector<Request> seen_;
  std::atomic<int> requests_{0}, connections_{0};
};

}  // namespace tern::test
