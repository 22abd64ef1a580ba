// Metrics of one response from recorded streams: tokens, usage, cached
// tokens, TTFT and ITL from the arrival times of the bytes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "bench/response.h"

namespace tern::bench {
namespace {

std::string read_data(const std::string& name) {
  std::ifstream f(std::string(BENCH_TEST_DATA) + "/" + name, std::ios::binary);
  EXPECT_TRUE(f) << name;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

HttpResult status(int code) {
  HttpResult h;
  h.status = code;
  return h;
}

// Replays a stream event by event (split after each blank line), event k
// arriving at 100 + 10 k ms.
RequestRecord replay(const std::string& s, std::string* text = nullptr, HttpResult http = status(200)) {
  auto t0 = Clock::now();
  ResponseReader r(true, t0);
  size_t pos = 0;
  int k = 0;
  while (pos < s.size()) {
    size_t end = s.size();
    for (const char* sep : {"\n\n", "\r\n\r\n", "\r\r"})
      if (size_t e = s.find(sep, pos); e != std::string::npos) end = std::min(end, e + std::strlen(sep));
    r.on_data(std::string_view(s).substr(pos, end - pos), t0 + std::chrono::milliseconds(100 + 10 * k++));
    pos = end;
  }
  RequestRecord rec;
  r.finish(http, t0 + std::chrono::milliseconds(100 + 10 * k), &rec);
  if (text) *text = r.text();
  return rec;
}

TEST(Response, Vllm) {
  std::string text;
  RequestRecord r = replay(read_data("vllm_chat.sse"), &text);
  EXPECT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(text, "Once upon a time\u00e9\u00e8");
  EXPECT_EQ(r.chunks, 5);
  EXPECT_NEAR(r.ttft_ms, 110, 1e-6);  // the role chunk (event 0) carries no text
  ASSERT_EQ(r.itl_ms.size(), 4u);
  for (double g : r.itl_ms) EXPECT_NEAR(g, 10, 1e-6);
  EXPECT_TRUE(r.usage_reported);
  EXPECT_EQ(r.prompt_tokens, 12);
  EXPECT_EQ(r.output_tokens, 5);
  EXPECT_EQ(r.cached_tokens, 8);
}

TEST(Response, LlamaCppTimingsGiveCachedTokens) {
  std::string text;
  RequestRecord r = replay(read_data("llamacpp_chat.sse"), &text);
  EXPECT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(text, " Lily was happy.");
  EXPECT_NEAR(r.ttft_ms, 120, 1e-6);  // comment, role chunk, then text
  EXPECT_EQ(r.prompt_tokens, 20);
  EXPECT_EQ(r.output_tokens, 4);
  EXPECT_EQ(r.cached_tokens, 16);
}

TEST(Response, LlamaCppErrorEvent) {
  std::string text;
  RequestRecord r = replay(read_data("llamacpp_error.sse"), &text);
  EXPECT_EQ(r.error, "stream_error");
  EXPECT_EQ(text, "AB");
  EXPECT_EQ(r.output_tokens, 2);  // no usage: counted chunks
}

TEST(Response, Tern) {
  RequestRecord r = replay(read_data("tern_chat.sse"));
  EXPECT_TRUE(r.ok()) << r.error;
  EXPECT_TRUE(r.usage_reported);
  EXPECT_EQ(r.output_tokens, r.chunks);
  EXPECT_GT(r.prompt_tokens, 0);
  RequestRecord c = replay(read_data("tern_completions.sse"));
  EXPECT_TRUE(c.ok()) << c.error;
  EXPECT_EQ(c.output_tokens, c.chunks);
}

TEST(Response, HttpAndTransportErrors) {
  EXPECT_EQ(replay("{\"error\":{}}", nullptr, status(429)).error, "http_429");
  HttpResult t;
  t.error = "timeout";
  EXPECT_EQ(replay("data: {\"choices\":[{\"index\":0,\"text\":\"A\"}]}\n\n", nullptr, t).error, "timeout");
  EXPECT_EQ(replay("data: {\"error\":{\"message\":\"boom\"}}\n\ndata: [DONE]\n\n").error, "stream_error");
}

TEST(Response, NotStreamed) {
  auto t0 = Clock::now();
  ResponseReader r(false, t0);
  std::string body = R"({"choices":[{"index":0,"message":{"role":"assistant","content":"Hi there"}}],)"
                     R"("usage":{"prompt_tokens":9,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":4}}})";
  r.on_data(std::string_view(body).substr(0, 10), t0 + std::chrono::milliseconds(30));
  r.on_data(std::string_view(body).substr(10), t0 + std::chrono::milliseconds(31));
  RequestRecord rec;
  r.finish(status(200), t0 + std::chrono::milliseconds(40), &rec);
  EXPECT_TRUE(rec.ok()) << rec.error;
  EXPECT_EQ(r.text(), "Hi there");
  EXPECT_NEAR(rec.e2e_ms, 40, 1e-6);
  EXPECT_NEAR(rec.ttft_ms, 40, 1e-6);
  EXPECT_EQ(rec.output_tokens, 3);
  EXPECT_EQ(rec.cached_tokens, 4);
}

}  // namespace
}  // namespace tern::bench
