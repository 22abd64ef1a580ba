// HttpServer over real sockets with a scripted handler: keep-alive, chunked
// framing, the body limit, a throwing handler, disconnect notification and
// shutdown. The client is a bare POSIX socket so the bytes are exact.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "http/http_server.h"

namespace tern::server {
namespace {

class Client {
 public:
  explicit Client(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Client() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void send(const std::string& s) { ASSERT_EQ(::send(fd_, s.data(), s.size(), MSG_NOSIGNAL), (ssize_t)s.size()); }
  // Reads until `until` appears (or the peer closes / 5 s pass).
  std::string read_until(const std::string& until) {
    std::string out;
    char buf[4096];
    while (out.find(until) == std::string::npos) {
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int fd_ = -1;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void start(Handler h, int64_t max_body = 1024) {
    HttpServerOptions o;
    o.port = 0;
    o.max_body_bytes = max_body;
    o.handle_signals = false;
    o.log_requests = false;
    server_ = std::make_unique<HttpServer>(o, std::move(h));
    std::promise<int> port;
    auto f = port.get_future();
    thread_ = std::thread([this, &port] {
      Status st = server_->run([&port](int p) { port.set_value(p); });
      EXPECT_TRUE(st.ok());
    });
    port_ = f.get();
  }
  void TearDown() override {
    if (server_) server_->request_stop();
    if (thread_.joinable()) thread_.join();
  }
  std::unique_ptr<HttpServer> server_;
  std::shared_ptr<Exchange> held_;  // touched on the connection's strand only
  std::thread thread_;
  int port_ = 0;
};

Handler echo_handler() {
  return [](const HttpRequest& req, std::shared_ptr<Exchange> ex) {
    HttpResponse r;
    r.content_type = "text/plain";
    r.body = req.method + " " + req.path + " " + req.body;
    ex->respond(std::move(r));
  };
}

TEST_F(HttpServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  start(echo_handler());
  Client c(port_);
  c.send("GET /a?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string r1 = c.read_until("GET /a ");
  EXPECT_NE(r1.find("HTTP/1.1 200 OK"), std::string::npos);
  EXPECT_NE(r1.find("Connection: keep-alive"), std::string::npos);
  c.send("POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  std::string r2 = c.read_until("POST /b abc");
  EXPECT_NE(r2.find("POST /b abc"), std::string::npos) << r2;
}

TEST_F(HttpServerTest, PipelinedRequestsAnsweredInOrder) {
  start(echo_handler());
  Client c(port_);
  c.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string r = c.read_until("GET /2 ");
  EXPECT_LT(r.find("GET /1 "), r.find("GET /2 ")) << r;
}

TEST_F(HttpServerTest, ChunkedStreamFraming) {
  start([](const HttpRequest&, std::shared_ptr<Exchange> ex) {
    ex->begin_stream(200, "text/event-stream");
    ex->write("data: a\n\n");
    ex->write("data: [DONE]\n\n");
    ex->end_stream();
  });
  Client c(port_);
  c.send("GET /s HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string r = c.read_until("0\r\n\r\n");
  EXPECT_NE(r.find("Content-Type: text/event-stream"), std::string::npos);
  EXPECT_NE(r.find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_NE(r.find("\r\n\r\n9\r\ndata: a\n\n\r\ne\r\ndata: [DONE]\n\n\r\n0\r\n\r\n"), std::string::npos) << r;
}

TEST_F(HttpServerTest, BodyOverLimitIs413) {
  start(echo_handler(), 1024);
  Client c(port_);
  c.send("POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'x'));
  std::string r = c.read_until("}}");
  EXPECT_NE(r.find("HTTP/1.1 413"), std::string::npos) << r;
  EXPECT_NE(r.find("\"error\""), std::string::npos) << r;
}

TEST_F(HttpServerTest, MalformedRequestIs400) {
  start(echo_handler());
  Client c(port_);
  c.send("THIS IS NOT HTTP\r\n\r\n");
  std::string r = c.read_until("}}");
  EXPECT_NE(r.find("HTTP/1.1 400"), std::string::npos) << r;
}

TEST_F(HttpServerTest, ThrowingHandlerIs500AndServerSurvives) {
  start([](const HttpRequest& req, std::shared_ptr<Exchange> ex) {
    if (req.path == "/throw") throw std::runtime_error("boom");
    ex->respond(HttpResponse{200, "text/plain", "fine", {}});
  });
  Client c(port_);
  c.send("GET /throw HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(c.read_until("}}").find("HTTP/1.1 500"), std::string::npos);
  Client d(port_);
  d.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(d.read_until("fine").find("fine"), std::string::npos);
}

TEST_F(HttpServerTest, DisconnectMidStreamRunsOnClose) {
  std::promise<void> closed;
  std::atomic<bool> once{false};
  start([&](const HttpRequest&, std::shared_ptr<Exchange> ex) {
    ex->begin_stream(200, "text/event-stream");
    ex->write("data: first\n\n");
    ex->on_close([&] {
      if (!once.exchange(true)) closed.set_value();
    });
    held_ = ex;  // as a request still generating would hold it
  });
  {
    Client c(port_);
    c.send("GET /s HTTP/1.1\r\nHost: x\r\n\r\n");
    c.read_until("first");
  }
  EXPECT_EQ(closed.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  // Let go on the strand, as a job does after its last event; the drain then ends at once.
  auto ex = held_;
  ex->post([this] { held_.reset(); });
  ex.reset();
}

}  // namespace
}  // namespace tern::server
