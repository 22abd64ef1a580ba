// RemoteBackend against a scripted upstream (fake_upstream.h): bodies and
// headers sent, SSE pass-through, retries with backoff on 5xx/429/connect
// errors, no retry on 4xx or timeouts, keep-alive reuse, cancel; plus the
// wire helpers (URL, SSE framing, chunk parsing).
#include <gtest/gtest.h>

#include <future>

#include <boost/asio/executor_work_guard.hpp>

#include "backend/openai_wire.h"
#include "backend/remote_backend.h"
#include "fake_upstream.h"

namespace tern::opt {
namespace {

using test::FakeUpstream;
using nlohmann::json;

// One io_context thread, as the gateway runs its remote backends.
class RemoteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    work_.emplace(io_.get_executor());
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    backend_.reset();
    work_.reset();
    io_.stop();
    thread_.join();
  }
  RemoteBackend& make(RemoteOptions o) {
    o.name = o.name.empty() ? "up" : o.name;
    auto b = RemoteBackend::create(io_, o);
    EXPECT_TRUE(b.ok()) << b.status().message();
    backend_ = std::move(*b);
    return *backend_;
  }
  // Runs one request to completion; returns every event.
  std::vector<BackendEvent> run(RemoteBackend& b, BackendRequest r, std::function<void(uint64_t, const BackendEvent&)> peek = {}) {
    auto done = std::make_shared<std::promise<void>>();
    auto events = std::make_shared<std::vector<BackendEvent>>();
    auto handle = std::make_shared<std::atomic<uint64_t>>(0);
    uint64_t h = b.start(std::move(r), [=](BackendEvent ev) {
      if (peek) peek(handle->load(), ev);
      bool fin = ev.finished;
      events->push_back(std::move(ev));
      if (fin) done->set_value();
    });
    handle->store(h);
    EXPECT_EQ(done->get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
    return *events;
  }
  static BackendRequest chat(bool stream) {
    BackendRequest r;
    r.kind = ApiKind::kChat;
    r.body = {{"model", "client-name"}, {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}, {"temperature", 0}};
    r.stream = stream;
    return r;
  }

  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread thread_;
  std::unique_ptr<RemoteBackend> backend_;
};

TEST_F(RemoteTest, NonStreamedChatSendsTheRewrittenBody) {
  FakeUpstream up([](const auto&, auto& s, int) {
    FakeUpstream::send(s, 200, FakeUpstream::chat_json("hello there", 7, 2));
    return true;
  });
  RemoteOptions o;
  o.base_url = up.url();
  o.api_key = "sk-up";
  o.model = "upstream-model";
  auto ev = run(make(o), chat(false));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(ev[0].finished);
  ASSERT_TRUE(ev[0].error.ok()) << ev[0].error.message();
  EXPECT_EQ(ev[0].text, "hello there");
  EXPECT_EQ(ev[0].finish_reason, "stop");
  EXPECT_EQ(ev[0].usage.prompt_tokens, 7);
  EXPECT_EQ(ev[0].usage.completion_tokens, 2);
  auto seen = up.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].target(), "/v1/chat/completions");
  EXPECT_EQ(seen[0][boost::beast::http::field::authorization], "Bearer sk-up");
  json sent = json::parse(seen[0].body());
  EXPECT_EQ(sent["model"], "upstream-model");
  EXPECT_EQ(sent["stream"], false);
  EXPECT_EQ(sent["temperature"], 0);
  EXPECT_FALSE(sent.contains("stream_options"));
}

TEST_F(RemoteTest, StreamsDeltasInOrderWithUsage) {
  FakeUpstream up([](const auto&, auto& s, int) {
    FakeUpstream::begin_sse(s);
    // Events split across chunk boundaries on purpose.
    std::string all = FakeUpstream::delta_event("Once") + FakeUpstream::delta_event(" upon") + ": comment\n\n" +
                      FakeUpstream::delta_event(" a time") + FakeUpstream::finish_event("length", 4, 3);
    for (size_t i = 0; i < all.size(); i += 37) {
      FakeUpstream::chunk(s, all.substr(i, 37));
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    FakeUpstream::end_sse(s);
    return true;
  });
  RemoteOptions o;
  o.base_url = up.url();
  auto ev = run(make(o), chat(true));
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0].text, "Once");
  EXPECT_EQ(ev[1].text, " upon");
  EXPECT_EQ(ev[2].text, " a time");
  EXPECT_FALSE(ev[2].finished);
  EXPECT_TRUE(ev[3].finished);
  EXPECT_TRUE(ev[3].error.ok());
  EXPECT_EQ(ev[3].finish_reason, "length");
  EXPECT_EQ(ev[3].usage.prompt_tokens, 4);
  EXPECT_EQ(ev[3].usage.completion_tokens, 3);
  json sent = json::parse(up.seen()[0].body());
  EXPECT_EQ(sent["stream"], true);
  EXPECT_EQ(sent["stream_options"]["include_usage"], true);
  EXPECT_EQ(sent["model"], "client-name");  // no upstream model configured: kept
}

TEST_F(RemoteTest, RetriesServerErrorsAndRateLimitsThenSucceeds) {
  FakeUpstream up([](const auto&, auto& s, int n) {
    if (n == 1) FakeUpstream::send(s, 503, R"({"error":{"message":"overloaded"}})");
    else if (n == 2) FakeUpstream::send(s, 429, R"({"error":{"message":"slow down"}})");
    else FakeUpstream::send(s, 200, FakeUpstream::chat_json("ok"));
    return true;
  });
  RemoteOptions o;
  o.base_url = up.url();
  o.max_retries = 2;
  o.backoff_initial_s = 0.01;
  auto& b = make(o);
  auto ev = run(b, chat(false));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(ev[0].error.ok()) << ev[0].error.message();
  EXPECT_EQ(ev[0].text, "ok");
  EXPECT_EQ(up.requests(), 3);
  EXPECT_EQ(b.stats().retries, 2);
}

TEST_F(RemoteTest, GivesUpAfterTheRetriesWithTheUpstreamMessage) {
  FakeUpstream up([](const auto&, auto& s, int) {
    FakeUpstream::send(s, 500, R"({"error":{"message":"boom"}})");
    return true;
  });
  RemoteOptions o;
  o.base_url = up.url();
  o.max_retries = 2;
  o.backoff_initial_s = 0.001;
  auto ev = run(make(o), chat(true));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_FALSE(ev[0].error.ok());
  EXPECT_EQ(ev[0].http_status, 500);
  EXPECT_TRUE(ev[0].before_output);
  EXPECT_NE(ev[0].error.message().find("boom"), std::string::npos) << ev[0].error.message();
  EXPECT_NE(ev[0].error.message().find("after 3 attempts"), std::string::npos) << ev[0].error.message();
  EXPECT_EQ(up.requests(), 3);
}

TEST_F(RemoteTest, ClientErrorsAreNotRetried) {
  FakeUpstream up([](const auto&, auto& s, int) {
    FakeUpstream::send(s, 400, R"({"error":{"message":"bad max_tokens"}})");
    return true;
  });
  RemoteOptions o;
  o.base_url = up.url();
  auto ev = run(make(o), chat(false));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].http_status, 400);
  EXPECT_EQ(up.requests(), 1);
}

TEST_F(RemoteTest, ConnectionRefusedIsRetriedThenReported) {
  int port = 0;
  {
    FakeUpstream closed([](const auto&, auto&, int) { return false; });
    port = closed.port();
  }  // nothing listens there any more
  RemoteOptions o;
  o.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  o.max_retries = 1;
  o.backoff_initial_s = 0.001;
  auto& b = make(o);
  auto ev = run(b, chat(false));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_FALSE(ev[0].error.ok());
  EXPECT_NE(ev[0].error.message().find("cannot connect"), std::string::npos) << ev[0].error.message();
  EXPECT_EQ(b.stats().retries, 1);
}

TEST_F(RemoteTest, FirstByteTimeoutIsNotRetried) {
  FakeUpstream up([](const auto&, auto& s, int) {
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    FakeUpstream::send(s, 200, FakeUpstream::chat_json("late"));
    return true;
  });
  RemoteOptions o;
  o.base_url = up.url();
  o.first_byte_timeout_s = 0.1;
  o.max_retries = 3;
  auto ev = run(make(o), chat(false));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].http_status, 504);
  EXPECT_NE(ev[0].error.message().find("first-byte timeout"), std::string::npos) << ev[0].error.message();
  EXPECT_EQ(up.requests(), 1);
}

TEST_F(RemoteTest, TotalTimeoutEndsASlowStream) {
  FakeUpstream up([](const auto&, auto& s, int) {
    FakeUpstream::begin_sse(s);
    for (int i = 0; i < 20; ++i) {
      FakeUpstream::chunk(s, FakeUpstream::delta_event("x"));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FakeUpstream::end_sse(s);
    return false;
  });
  RemoteOptions o;
  o.base_url = up.url();
  o.total_timeout_s = 0.2;
  auto ev = run(make(o), chat(true));
  ASSERT_GE(ev.size(), 2u);
  EXPECT_EQ(ev[0].text, "x");
  EXPECT_FALSE(ev.back().error.ok());
  EXPECT_FALSE(ev.back().before_output);  // text was delivered: no fallback possible
  EXPECT_NE(ev.back().error.message().find("total timeout"), std::string::npos) << ev.back().error.message();
}

TEST_F(RemoteTest, KeepAliveConnectionsAreReused) {
  FakeUpstream up([](const auto&, auto& s, int) {
    FakeUpstream::send(s, 200, FakeUpstream::chat_json("ok"));
    return true;
  });
  RemoteOptions o;
  o.base_url = up.url();
  auto& b = make(o);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(run(b, chat(false)).back().error.ok());
  EXPECT_EQ(up.requests(), 3);
  EXPECT_EQ(up.connections(), 1);
  EXPECT_EQ(b.stats().connections_opened, 1);
}

TEST_F(RemoteTest, StaleIdleConnectionIsReplacedWithoutARetry) {
  FakeUpstream up([](const auto&, auto& s, int) {
    FakeUpstream::send(s, 200, FakeUpstream::chat_json("ok"));
    return false;  // close after each answer, although it said keep-alive
  });
  RemoteOptions o;
  o.base_url = up.url();
  o.max_retries = 0;
  auto& b = make(o);
  ASSERT_TRUE(run(b, chat(false)).back().error.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto ev = run(b, chat(false));
  EXPECT_TRUE(ev.back().error.ok()) << ev.back().error.message();
  EXPECT_EQ(up.connections(), 2);
}

TEST_F(RemoteTest, CancelEndsAStreamWithCancelled) {
  FakeUpstream up([](const auto&, auto& s, int) {
    FakeUpstream::begin_sse(s);
    for (int i = 0; i < 25; ++i) {
      FakeUpstream::chunk(s, FakeUpstream::delta_event("y"));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  });
  RemoteOptions o;
  o.base_url = up.url();
  auto& b = make(o);
  auto ev = run(b, chat(true), [&b](uint64_t h, const BackendEvent& e) {
    if (!e.finished) b.cancel(h);
  });
  ASSERT_GE(ev.size(), 2u);
  EXPECT_EQ(ev.back().error.code(), StatusCode::kCancelled);
}

TEST_F(RemoteTest, AsksForAndParsesLogprobs) {
  FakeUpstream up([](const auto&, auto& s, int) {
    json j = json::parse(FakeUpstream::chat_json("ab"));
    j["choices"][0]["logprobs"] = {{"content", {{{"token", "a"}, {"logprob", -0.5}}, {{"token", "b"}, {"logprob", -1.5}}}}};
    FakeUpstream::send(s, 200, j.dump());
    return true;
  });
  RemoteOptions o;
  o.base_url = up.url();
  BackendRequest r = chat(false);
  r.want_logprobs = true;
  auto ev = run(make(o), r);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].logprobs, (std::vector<float>{-0.5f, -1.5f}));
  EXPECT_EQ(json::parse(up.seen()[0].body())["logprobs"], true);
}

TEST_F(RemoteTest, CompletionsUseTheirPathAndTextField) {
  FakeUpstream up([](const auto&, auto& s, int) {
    FakeUpstream::send(s, 200, R"({"object":"text_completion","choices":[{"index":0,"text":" there","finish_reason":"length","logprobs":{"token_logprobs":[-0.25]}}],"usage":{"prompt_tokens":2,"completion_tokens":1}})");
    return true;
  });
  RemoteOptions o;
  o.base_url = up.url();
  BackendRequest r;
  r.kind = ApiKind::kCompletion;
  r.body = {{"prompt", "hi"}};
  r.want_logprobs = true;
  auto ev = run(make(o), r);
  EXPECT_EQ(up.seen()[0].target(), "/v1/completions");
  EXPECT_EQ(json::parse(up.seen()[0].body())["logprobs"], 1);
  EXPECT_EQ(ev[0].text, " there");
  EXPECT_EQ(ev[0].finish_reason, "length");
  EXPECT_EQ(ev[0].logprobs, (std::vector<float>{-0.25f}));
}

TEST(Wire, ParseBaseUrl) {
  auto a = parse_base_url("http://127.0.0.1:8080/v1/");
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->tls);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, "8080");
  EXPECT_EQ(a->prefix, "/v1");
  auto b = parse_base_url("https://api.openai.com/v1");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->tls);
  EXPECT_EQ(b->port, "443");
  auto c = parse_base_url("http://[::1]:9/x");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, "9");
  EXPECT_FALSE(parse_base_url("ftp://x").ok());
  EXPECT_FALSE(parse_base_url("http://:80").ok());
  EXPECT_FALSE(parse_base_url("http://x:99999").ok());
  EXPECT_FALSE(parse_base_url("http://x:8o").ok());
}

TEST(Wire, SseParserHandlesSplitsCrlfAndMultilineData) {
  SseParser p;
  std::vector<std::string> got;
  auto on = [&](std::string&& d) { got.push_back(d); };
  p.feed("data: a", on);
  p.feed("bc\r\n\r\n: ping\n\nevent: x\ndata: 1\ndata: 2\n", on);
  EXPECT_EQ(got, (std::vector<std::string>{"abc"}));
  p.feed("\ndata:[DONE]\n\n", on);
  EXPECT_EQ(got, (std::vector<std::string>{"abc", "1\n2", "[DONE]"}));
}

TEST(Wire, ChunkAndErrorParsing) {
  WireDelta d = parse_chunk(ApiKind::kChat, json::parse(R"({"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1"}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":2}}})"));
  EXPECT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(d.finish_reason, "tool_calls");
  EXPECT_TRUE(d.has_usage);
  EXPECT_EQ(d.usage.cached_tokens, 2);
  EXPECT_EQ(error_message_of(R"({"error":{"message":"nope"}})"), "nope");
  EXPECT_EQ(error_message_of("plain"), "plain");
}

}  // namespace
}  // namespace tern::opt
