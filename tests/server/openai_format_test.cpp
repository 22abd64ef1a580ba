// Response shapes, SSE framing, error JSON and the Status → HTTP mapping.
#include <gtest/gtest.h>

#include "openai/errors.h"
#include "openai/format.h"

namespace tern::server {
namespace {

TEST(Sse, Framing) {
  EXPECT_EQ(sse_data(json{{"a", 1}}), "data: {\"a\":1}\n\n");
  EXPECT_STREQ(sse_done(), "data: [DONE]\n\n");
}

TEST(Json, InvalidUtf8IsReplacedNotThrown) {
  std::string bad = "x\xff";
  EXPECT_NO_THROW({
    std::string s = dump_json(json{{"t", bad}});
    EXPECT_NE(s.find("\xEF\xBF\xBD"), std::string::npos);
  });
}

TEST(Usage, CachedTokensDetail) {
  Usage u{.prompt_tokens = 10, .cached_tokens = 4, .completion_tokens = 5};
  json j = usage_json(u);
  EXPECT_EQ(j["total_tokens"], 15);
  EXPECT_EQ(j["prompt_tokens_details"]["cached_tokens"], 4);
}

TEST(Chat, CompletionShape) {
  ResponseMeta m{"chatcmpl-1", "stories", 123};
  ChoiceResult c;
  c.text = "Once";
  c.finish = FinishReason::kLength;
  json j = chat_completion_json(m, {c}, Usage{3, 0, 1});
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Once");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(j["usage"]["prompt_tokens"], 3);
}

TEST(Chat, ChunkShapes) {
  ResponseMeta m{"chatcmpl-1", "stories", 123};
  json role = chat_chunk_json(m, 0, {{"role", "assistant"}, {"content", ""}}, nullptr, nullptr, true);
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  EXPECT_TRUE(role.contains("usage"));
  EXPECT_TRUE(role["usage"].is_null());
  EXPECT_TRUE(role["choices"][0]["finish_reason"].is_null());
  json fin = chat_chunk_json(m, 2, json::object(), nullptr, finish_reason_json(FinishReason::kStop), false);
  EXPECT_FALSE(fin.contains("usage"));
  EXPECT_EQ(fin["choices"][0]["index"], 2);
  EXPECT_EQ(fin["choices"][0]["finish_reason"], "stop");
  json u = usage_chunk_json(m, "chat.completion.chunk", Usage{3, 1, 2});
  EXPECT_TRUE(u["choices"].empty());
  EXPECT_EQ(u["usage"]["total_tokens"], 5);
}

TEST(Logprobs, ChatAndCompletionShapes) {
  TokenLogprobs lp;
  lp.tokens = {1, 2};
  lp.logprobs = {-0.5f, -1.0f};
  lp.top = {{{1, -0.5f}, {3, -2.0f}}, {{2, -1.0f}, {4, -1.5f}}};
  auto text = [](TokenId t) { return "t" + std::to_string(t); };
  json c = chat_logprobs_json(lp, 1, text);
  ASSERT_EQ(c["content"].size(), 2u);
  EXPECT_EQ(c["content"][0]["token"], "t1");
  EXPECT_FLOAT_EQ(c["content"][0]["logprob"].get<float>(), -0.5f);
  EXPECT_EQ(c["content"][0]["bytes"], json({116, 49}));
  EXPECT_EQ(c["content"][0]["top_logprobs"].size(), 1u);
  json k = completion_logprobs_json(lp, 2, text, 5);
  EXPECT_EQ(k["tokens"], json({"t1", "t2"}));
  EXPECT_EQ(k["text_offset"], json({5, 7}));
  EXPECT_EQ(k["top_logprobs"][1].size(), 2u);
}

TEST(Embeddings, Base64IsLittleEndianFloat32) {
  EXPECT_EQ(base64_floats({1.0f}), "AACAPw==");  // 0x3F800000 little-endian
  EXPECT_EQ(base64_floats({1.0f, -2.0f}), "AACAPwAAAMA=");
  json j = embeddings_json("m", {{0.6f, 0.8f}}, false, 4);
  EXPECT_EQ(j["data"][0]["object"], "embedding");
  EXPECT_EQ(j["data"][0]["embedding"].size(), 2u);
  EXPECT_EQ(j["usage"]["prompt_tokens"], 4);
}

TEST(Models, ListShape) {
  json j = models_json("stories", 1, 512);
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["data"][0]["id"], "stories");
  EXPECT_EQ(j["data"][0]["object"], "model");
}

TEST(Errors, OpenAIShapeAndStatus) {
  json j = json::parse(error_body(bad_request("bad", "temperature")));
  EXPECT_EQ(j["error"]["message"], "bad");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "temperature");
  EXPECT_TRUE(j["error"]["code"].is_null());
  EXPECT_EQ(unauthorized().status, 401);
  EXPECT_EQ(model_not_found("x").status, 404);
  EXPECT_EQ(route_not_found("GET", "/x").status, 404);
  EXPECT_EQ(payload_too_large("big").status, 413);
}

TEST(Errors, StatusMapping) {
  EXPECT_EQ(from_status(InvalidArgument("x")).status, 400);
  ApiError ctx = from_status(OutOfRange("prompt too long"));
  EXPECT_EQ(ctx.status, 400);
  EXPECT_EQ(ctx.code, "context_length_exceeded");
  ApiError full = from_status(ResourceExhausted("queue full"));
  EXPECT_EQ(full.status, 429);
  HttpResponse r = error_response(full);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "Retry-After");
  EXPECT_EQ(error_response(unavailable("bye")).status, 503);
  EXPECT_EQ(from_status(Internal("x")).status, 500);
}

}  // namespace
}  // namespace tern::server
