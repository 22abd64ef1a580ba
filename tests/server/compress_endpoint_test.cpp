// POST /v1/compress and the per-request "tern" stages of
// /v1/chat/completions, through the real router and HTTP server on an
// ephemeral port, with stories260K as the served (and scoring) model.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "handlers/router.h"
#include "http/http_server.h"
#include "openai/parse.h"
#include "test_assets.h"

namespace tern::server {
namespace {

using json = nlohmann::json;
constexpr const char* kModel = "models/stories260K.gguf";

struct Reply {
  int status = 0;
  json body;
};

// One request on a fresh connection (Connection: close), body parsed as JSON.
Reply request(int port, const std::string& method, const std::string& path, const std::string& body) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string req = method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
                          "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  EXPECT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  std::string out;
  char buf[8192];
  for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  Reply r;
  if (out.rfind("HTTP/1.1 ", 0) == 0) r.status = std::stoi(out.substr(9, 3));
  const size_t b = out.find("\r\n\r\n");
  if (b != std::string::npos) r.body = json::parse(out.substr(b + 4), nullptr, false);
  return r;
}

Reply post(int port, const std::string& path, const std::string& body) { return request(port, "POST", path, body); }

class CompressEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(test::asset(kModel))) GTEST_SKIP() << "asset " << test::asset(kModel) << " not found";
    EngineOptions eo;
    eo.model_path = test::asset(kModel);
    eo.threads = 2;
    auto e = Engine::create(eo);
    ASSERT_TRUE(e.ok()) << e.status().message();
    engine_ = std::move(e).value();
    ctx_.engine = engine_.get();
    ctx_.metrics = &metrics_;
    ctx_.model_id = "stories";
    // As `tern serve` does: blocking work on a pool of its own. The test can
    // hold the pool's jobs (hold_ = true) to see the I/O thread stay free.
    ctx_.offload = [this](std::function<void()> fn) {
      boost::asio::post(pool_, [this, fn = std::move(fn)] {
        {
          std::unique_lock lk(m_);
          ++started_;
          cv_.notify_all();
          cv_.wait(lk, [this] { return !hold_; });
        }
        fn();
      });
    };
    HttpServerOptions o;
    o.port = 0;
    o.threads = 1;
    o.handle_signals = false;
    o.log_requests = false;
    server_ = std::make_unique<HttpServer>(o, make_router(ctx_));
    std::promise<int> port;
    auto f = port.get_future();
    thread_ = std::thread([this, &port] { EXPECT_TRUE(server_->run([&port](int p) { port.set_value(p); }).ok()); });
    port_ = f.get();
  }
  void TearDown() override {
    release();
    if (server_) server_->request_stop();
    if (thread_.joinable()) thread_.join();
    pool_.join();  // before the server goes: finished jobs post into it
  }
  void release() {
    std::lock_guard lk(m_);
    hold_ = false;
    cv_.notify_all();
  }
  boost::asio::thread_pool pool_{1};
  std::mutex m_;
  std::condition_variable cv_;
  bool hold_ = false;
  int started_ = 0;
  std::unique_ptr<Engine> engine_;
  ServerMetrics metrics_;
  ServerContext ctx_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  int port_ = 0;
};

const std::string kText =
    "Once upon a time, there was a little girl named Lily. She loved to play in the park with her friend Tom. "
    "One day they found a big red ball under the tree near gate_7, and the ball cost $4.99 at the shop on "
    "2024-05-01. Lily was very happy and they played all day until the sun went down.\n\n"
    "The next day Tom brought his dog to the park. The dog ran after the ball and everyone laughed. "
    "Mom said \"time for lunch\" and they all went home to eat sandwiches and drink milk.";

TEST_F(CompressEndpointTest, CompressesAPromptKeepingProtectedSpans) {
  const json req = {{"prompt", kText}, {"ratio", 2.5}, {"question", "What did they find?"}, {"force_tokens", {"Lily"}}};
  const Reply r = post(port_, "/v1/compress", req.dump());
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["object"], "compression");
  EXPECT_EQ(r.body["model"], "stories");
  const std::string out = r.body["compressed_prompt"];
  for (const char* kept : {"gate_7", "$4.99", "2024-05-01", "\"time for lunch\"", "Lily", "What did they find?"})
    EXPECT_NE(out.find(kept), std::string::npos) << kept << " missing from: " << out;
  EXPECT_LT(r.body["compressed_tokens"].get<int>(), r.body["origin_tokens"].get<int>());
  EXPECT_GT(r.body["ratio"].get<double>(), 1.8);
  EXPECT_GT(r.body["model_calls"].get<int>(), 0);
}

TEST_F(CompressEndpointTest, CompressesMessagesKeepingSystemAndLastUserVerbatim) {
  const json msgs = json::array({{{"role", "system"}, {"content", "You are a helpful assistant."}},
                                 {{"role", "user"}, {"content", kText}},
                                 {{"role", "assistant"}, {"content", "They found a red ball and played all day long."}},
                                 {{"role", "user"}, {"content", "What did Tom bring?"}}});
  const Reply r = post(port_, "/v1/compress", json{{"messages", msgs}, {"ratio", 2}}.dump());
  ASSERT_EQ(r.status, 200) << r.body.dump();
  const json& out = r.body["messages"];
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0], msgs[0]);
  EXPECT_EQ(out[3], msgs[3]);
  EXPECT_LT(out[1]["content"].get<std::string>().size(), kText.size());
  EXPECT_LT(r.body["compressed_tokens"].get<int>(), r.body["origin_tokens"].get<int>());
  // Iterative scoring (windows conditioned on the compressed prefix).
  const Reply it = post(port_, "/v1/compress", json{{"prompt", kText}, {"ratio", 2}, {"iterative", true}}.dump());
  ASSERT_EQ(it.status, 200) << it.body.dump();
  EXPECT_LT(it.body["compressed_tokens"].get<int>(), it.body["origin_tokens"].get<int>());
  EXPECT_EQ(post(port_, "/v1/compress", json{{"prompt", kText}, {"iterative", 1}}.dump()).status, 400);
  // Both levels off: nothing may go.
  const Reply off = post(port_, "/v1/compress", json{{"messages", msgs}, {"ratio", 2}, {"coarse", false}, {"fine", false}}.dump());
  ASSERT_EQ(off.status, 200) << off.body.dump();
  EXPECT_EQ(off.body["messages"], msgs);
}

// Compression waits for the engine, so it runs off the connection's thread:
// with one I/O thread and the compression held, /health still answers.
TEST_F(CompressEndpointTest, CompressionDoesNotBlockTheIoThread) {
  {
    std::lock_guard lk(m_);
    hold_ = true;
  }
  auto pending = std::async(std::launch::async, [this] {
    return post(port_, "/v1/compress", json{{"prompt", kText}, {"ratio", 2}}.dump());
  });
  {
    std::unique_lock lk(m_);
    ASSERT_TRUE(cv_.wait_for(lk, std::chrono::seconds(20), [this] { return started_ == 1; }));
  }
  const Reply health = request(port_, "GET", "/health", "");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(pending.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  release();
  const Reply r = pending.get();
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_LT(r.body["compressed_tokens"].get<int>(), r.body["origin_tokens"].get<int>());
}

// "toon": true on a prompt: the JSON becomes TOON, which compression then
// keeps whole (its words are data).
TEST_F(CompressEndpointTest, ToonBlocksSurviveCompression) {
  // (nlohmann::json sorts keys: carrier, note, status)
  const json data = {{"order", {{"status", "shipped"}, {"note", "left at the front door"}, {"carrier", "UPS"}}}};
  const std::string prompt = kText + "\n\n" + data.dump(2);
  const Reply r = post(port_, "/v1/compress", json{{"prompt", prompt}, {"toon", true}, {"ratio", 4}}.dump());
  ASSERT_EQ(r.status, 200) << r.body.dump();
  const std::string out = r.body["compressed_prompt"];
  EXPECT_NE(out.find("order:\n  carrier: UPS\n  note: left at the front door\n  status: shipped"), std::string::npos) << out;
  EXPECT_LT(r.body["compressed_tokens"].get<int>(), r.body["origin_tokens"].get<int>());
}

TEST_F(CompressEndpointTest, BadRequestsAre400WithTheField) {
  Reply r = post(port_, "/v1/compress", R"({"prompt": "x", "ratio": 0.5})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["param"], "ratio");
  r = post(port_, "/v1/compress", R"({"ratio": 2})");
  EXPECT_EQ(r.status, 400);
  r = post(port_, "/v1/compress", R"({"prompt": "x", "messages": []})");
  EXPECT_EQ(r.status, 400);
  r = post(port_, "/v1/compress", R"({"prompt": 5})");
  EXPECT_EQ(r.status, 400);
  r = post(port_, "/v1/compress", R"({"messages": [{"content": "no role"}]})");
  EXPECT_EQ(r.status, 400);
  r = post(port_, "/v1/compress", "not json");
  EXPECT_EQ(r.status, 400);
  r = post(port_, "/v1/compress", R"({"prompt": "x", "model": "other"})");
  EXPECT_EQ(r.status, 404);
}

TEST_F(CompressEndpointTest, ChatRequestOptsIntoCompressionAndToon) {
  json rows = json::array();
  for (int i = 0; i < 12; ++i) rows.push_back({{"id", i}, {"name", "item" + std::to_string(i)}, {"price", i * 3}});
  const json msgs = json::array({{{"role", "user"}, {"content", kText}},
                                 {{"role", "tool"}, {"tool_call_id", "c1"}, {"content", json{{"items", rows}}.dump(2)}},
                                 {{"role", "user"}, {"content", "Tell me a story."}}});
  json plain = {{"messages", msgs}, {"max_tokens", 1}, {"temperature", 0}};
  json staged = plain;
  staged["tern"] = {{"toon", true}, {"compress", {{"ratio", 2}}}};
  const Reply a = post(port_, "/v1/chat/completions", plain.dump());
  const Reply b = post(port_, "/v1/chat/completions", staged.dump());
  ASSERT_EQ(a.status, 200) << a.body.dump();
  ASSERT_EQ(b.status, 200) << b.body.dump();
  const int before = a.body["usage"]["prompt_tokens"], after = b.body["usage"]["prompt_tokens"];
  EXPECT_LT(after, before * 0.8) << before << " -> " << after;

  json bad = plain;
  bad["tern"] = {{"compress", {{"ratio", 0}}}};
  const Reply c = post(port_, "/v1/chat/completions", bad.dump());
  EXPECT_EQ(c.status, 400);
  EXPECT_NE(c.body["error"]["message"].get<std::string>().find("tern.compress.ratio"), std::string::npos)
      << c.body.dump();
}

// "tern": {"compact": ...}: the served model writes the summary of the old
// turns; the prompt the model then sees is shorter, system and question kept.
TEST_F(CompressEndpointTest, ChatRequestOptsIntoCompaction) {
  json msgs = json::array({{{"role", "system"}, {"content", "You are a helpful assistant."}}});
  for (int t = 0; t < 4; ++t) {
    msgs.push_back({{"role", "user"}, {"content", "Tell me part " + std::to_string(t) + " of the story about Lily."}});
    msgs.push_back({{"role", "assistant"},
                    {"content", "Lily went to the park with her mom and saw a big red ball near the old tree."}});
  }
  msgs.push_back({{"role", "user"}, {"content", "What did Lily see?"}});
  json plain = {{"messages", msgs}, {"max_tokens", 1}, {"temperature", 0}};
  json compacted = plain;
  compacted["tern"] = {{"compact", {{"context_tokens", 160}, {"keep_recent", 2}}}};
  const Reply a = post(port_, "/v1/chat/completions", plain.dump());
  const Reply b = post(port_, "/v1/chat/completions", compacted.dump());
  ASSERT_EQ(a.status, 200) << a.body.dump();
  ASSERT_EQ(b.status, 200) << b.body.dump();
  const int before = a.body["usage"]["prompt_tokens"], after = b.body["usage"]["prompt_tokens"];
  EXPECT_LT(after, before) << before << " -> " << after;

  compacted["tern"] = {{"compact", {{"trigger", 0.3}, {"target", 0.5}}}};
  const Reply c = post(port_, "/v1/chat/completions", compacted.dump());
  EXPECT_EQ(c.status, 400);
  EXPECT_NE(c.body["error"]["message"].get<std::string>().find("tern.compact.target"), std::string::npos) << c.body.dump();
}

TEST(TernStagesParseTest, FieldsAndErrors) {
  auto ok = parse_chat_request(
      R"({"messages":[{"role":"user","content":"hi"}],"tern":{"toon":true,"compress":{"ratio":3,"target_tokens":100,"force_tokens":["a","b"],"iterative":true}}})");
  ASSERT_TRUE(std::holds_alternative<ChatRequest>(ok));
  const TernStages& st = std::get<ChatRequest>(ok).stages;
  EXPECT_TRUE(st.toon);
  EXPECT_TRUE(st.compress);
  EXPECT_EQ(st.ratio, 3.0);
  EXPECT_EQ(st.target_tokens, 100);
  EXPECT_EQ(st.force, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(st.iterative);
  auto flag = parse_chat_request(R"({"messages":[{"role":"user","content":"hi"}],"tern":{"compress":true}})");
  ASSERT_TRUE(std::holds_alternative<ChatRequest>(flag));
  EXPECT_TRUE(std::get<ChatRequest>(flag).stages.compress);
  EXPECT_FALSE(std::get<ChatRequest>(flag).stages.toon);
  auto compact = parse_chat_request(
      R"({"messages":[{"role":"user","content":"hi"}],"tern":{"compact":{"context_tokens":4096,"trigger":0.8,"target":0.3,"keep_recent":4,"tool_output_tokens":100}}})");
  ASSERT_TRUE(std::holds_alternative<ChatRequest>(compact));
  const TernStages& cs = std::get<ChatRequest>(compact).stages;
  EXPECT_TRUE(cs.compact);
  EXPECT_EQ(cs.context_tokens, 4096);
  EXPECT_EQ(cs.trigger, 0.8);
  EXPECT_EQ(cs.target, 0.3);
  EXPECT_EQ(cs.keep_recent, 4);
  EXPECT_EQ(cs.tool_output_tokens, 100);
  for (const char* bad : {R"({"messages":[{"role":"user","content":"hi"}],"tern":{"compact":{"keep_recent":0}}})",
                          R"({"messages":[{"role":"user","content":"hi"}],"tern":{"compact":{"trigger":2}}})",
                          R"({"messages":[{"role":"user","content":"hi"}],"tern":{"compact":{"size":2}}})",
                          R"({"messages":[{"role":"user","content":"hi"}],"tern":{"compact":"yes"}})",
                          R"({"messages":[{"role":"user","content":"hi"}],"tern":5})",
                          R"({"messages":[{"role":"user","content":"hi"}],"tern":{"zip":true}})",
                          R"({"messages":[{"role":"user","content":"hi"}],"tern":{"toon":"yes"}})",
                          R"({"messages":[{"role":"user","content":"hi"}],"tern":{"compress":{"force_tokens":[1]}}})",
                          R"({"messages":[{"role":"user","content":"hi"}],"tern":{"compress":"fast"}})"}) {
    auto r = parse_chat_request(bad);
    ASSERT_TRUE(std::holds_alternative<ApiError>(r)) << bad;
    EXPECT_EQ(std::get<ApiError>(r).param, "tern") << bad;
  }
}

}  // namespace
}  // namespace tern::server
