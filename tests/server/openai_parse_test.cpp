// Parsing and validation of OpenAI request bodies: accepted shapes, defaults,
// and the 400 errors (status, param, message) for each kind of bad input.
#include <gtest/gtest.h>

#include "openai/parse.h"

namespace tern::server {
namespace {

template <typename T>
const T& ok(const Parsed<T>& p) {
  if (auto* e = std::get_if<ApiError>(&p)) ADD_FAILURE() << "unexpected error: " << e->message;
  return std::get<T>(p);
}

template <typename T>
ApiError err(const Parsed<T>& p) {
  EXPECT_TRUE(std::holds_alternative<ApiError>(p)) << "expected an error";
  return std::holds_alternative<ApiError>(p) ? std::get<ApiError>(p) : ApiError{};
}

TEST(ParseChat, MinimalRequestGetsOpenAIDefaults) {
  auto r = ok(parse_chat_request(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})"));
  EXPECT_EQ(r.gen.model, "m");
  EXPECT_FLOAT_EQ(r.gen.sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(r.gen.sampling.top_p, 1.0f);
  EXPECT_EQ(r.gen.stop.max_tokens, -1);
  EXPECT_EQ(r.gen.n, 1);
  EXPECT_FALSE(r.gen.stream);
  EXPECT_EQ(r.messages_json, R"([{"content":"hi","role":"user"}])");
}

TEST(ParseChat, AllSamplingFields) {
  auto r = ok(parse_chat_request(R"({"messages":[{"role":"user","content":"x"}],
    "temperature":0,"top_p":0.5,"top_k":7,"min_p":0.1,"presence_penalty":1.5,"frequency_penalty":-1,
    "repetition_penalty":1.1,"seed":42,"stop":["a","b"],"n":3,"max_tokens":10,"max_completion_tokens":12,
    "stream":true,"stream_options":{"include_usage":true},"logprobs":true,"top_logprobs":3,
    "logit_bias":{"5":-100}})"));
  EXPECT_FLOAT_EQ(r.gen.sampling.temperature, 0.0f);
  EXPECT_FLOAT_EQ(r.gen.sampling.top_p, 0.5f);
  EXPECT_EQ(r.gen.sampling.top_k, 7);
  EXPECT_FLOAT_EQ(r.gen.sampling.min_p, 0.1f);
  EXPECT_FLOAT_EQ(r.gen.sampling.presence_penalty, 1.5f);
  EXPECT_FLOAT_EQ(r.gen.sampling.frequency_penalty, -1.0f);
  EXPECT_FLOAT_EQ(r.gen.sampling.repetition_penalty, 1.1f);
  EXPECT_EQ(r.gen.sampling.seed, 42u);
  EXPECT_EQ(r.gen.stop.stop_strings, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.gen.n, 3);
  EXPECT_EQ(r.gen.stop.max_tokens, 12);  // max_completion_tokens wins
  EXPECT_TRUE(r.gen.stream);
  EXPECT_TRUE(r.gen.include_usage);
  EXPECT_TRUE(r.gen.logprobs);
  EXPECT_EQ(r.gen.top_logprobs, 3);
  ASSERT_EQ(r.gen.sampling.logit_bias.size(), 1u);
  EXPECT_EQ(r.gen.sampling.logit_bias[0].first, 5);
}

TEST(ParseChat, StopAsStringAndNullFieldsAsAbsent) {
  auto r = ok(parse_chat_request(R"({"messages":[{"role":"user","content":"x"}],"stop":"\n","temperature":null})"));
  EXPECT_EQ(r.gen.stop.stop_strings, (std::vector<std::string>{"\n"}));
  EXPECT_FLOAT_EQ(r.gen.sampling.temperature, 1.0f);
}

TEST(ParseChat, ContentPartsAreFlattened) {
  auto r = ok(parse_chat_request(
      R"({"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]})"));
  EXPECT_EQ(r.messages_json, R"([{"content":"ab","role":"user"}])");
}

TEST(ParseChat, Errors) {
  struct Case {
    const char* body;
    const char* param;
  };
  const Case cases[] = {
      {R"({"messages":[{"role":"user","content":"x"}],"temperature":3})", "temperature"},
      {R"({"messages":[{"role":"user","content":"x"}],"temperature":"hot"})", "temperature"},
      {R"({"messages":[{"role":"user","content":"x"}],"top_p":0})", "top_p"},
      {R"({"messages":[{"role":"user","content":"x"}],"n":0})", "n"},
      {R"({"messages":[{"role":"user","content":"x"}],"n":1.5})", "n"},
      {R"({"messages":[{"role":"user","content":"x"}],"max_tokens":0})", "max_tokens"},
      {R"({"messages":[{"role":"user","content":"x"}],"max_tokens":"ten"})", "max_tokens"},
      {R"({"messages":[{"role":"user","content":"x"}],"presence_penalty":-3})", "presence_penalty"},
      {R"({"messages":[{"role":"user","content":"x"}],"stop":[1]})", "stop"},
      {R"({"messages":[{"role":"user","content":"x"}],"stream":"yes"})", "stream"},
      {R"({"messages":[{"role":"user","content":"x"}],"top_logprobs":3})", "top_logprobs"},
      {R"({"messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":21})", "top_logprobs"},
      {R"({"messages":[{"role":"user","content":"x"}],"logit_bias":{"x":1}})", "logit_bias"},
      {R"({"messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":1}})", "stream_options"},
      {R"({"messages":[]})", "messages"},
      {R"({"model":"m"})", "messages"},
      {R"({"messages":[{"content":"x"}]})", "messages"},
      {R"({"messages":[{"role":"wizard","content":"x"}]})", "messages"},
      {R"({"messages":[{"role":"user","content":[{"type":"image_url"}]}]})", "messages"},
      {R"({"messages":"hi"})", "messages"},
      {R"({"model":7,"messages":[{"role":"user","content":"x"}]})", "model"},
  };
  for (const auto& c : cases) {
    ApiError e = err(parse_chat_request(c.body));
    EXPECT_EQ(e.status, 400) << c.body;
    EXPECT_EQ(e.type, "invalid_request_error") << c.body;
    EXPECT_EQ(e.param, c.param) << c.body << " → " << e.message;
    EXPECT_FALSE(e.message.empty());
  }
}

TEST(ParseChat, InvalidJson) {
  for (const char* body : {"", "{", "not json", "[1,2]", "\"str\""}) {
    ApiError e = err(parse_chat_request(body));
    EXPECT_EQ(e.status, 400) << body;
  }
  EXPECT_EQ(err(parse_chat_request("{")).code, "invalid_json");
}

TEST(ParseCompletion, PromptShapes) {
  auto a = ok(parse_completion_request(R"({"prompt":"hello"})"));
  ASSERT_EQ(a.prompts.size(), 1u);
  EXPECT_EQ(a.prompts[0].text, "hello");
  EXPECT_EQ(a.gen.stop.max_tokens, 16);  // the completions API's default
  auto b = ok(parse_completion_request(R"({"prompt":["a","b"],"n":2})"));
  EXPECT_EQ(b.prompts.size(), 2u);
  auto c = ok(parse_completion_request(R"({"prompt":[1,2,3]})"));
  ASSERT_EQ(c.prompts.size(), 1u);
  EXPECT_TRUE(c.prompts[0].is_tokens);
  EXPECT_EQ(c.prompts[0].tokens, (std::vector<TokenId>{1, 2, 3}));
  auto d = ok(parse_completion_request(R"({"prompt":[[1],[2,3]],"logprobs":2,"echo":true})"));
  EXPECT_EQ(d.prompts.size(), 2u);
  EXPECT_TRUE(d.gen.logprobs);
  EXPECT_EQ(d.gen.top_logprobs, 2);
  EXPECT_TRUE(d.echo);
}

TEST(ParseCompletion, Errors) {
  for (const char* body : {R"({})", R"({"prompt":5})", R"({"prompt":[]})", R"({"prompt":[1,"a"]})",
                           R"({"prompt":[-1]})", R"({"prompt":"x","best_of":3})", R"({"prompt":"x","suffix":"y"})",
                           R"({"prompt":"x","logprobs":true})"}) {
    ApiError e = err(parse_completion_request(body));
    EXPECT_EQ(e.status, 400) << body;
  }
}

TEST(ParseEmbedding, InputsAndFormat) {
  auto a = ok(parse_embedding_request(R"({"input":"hi","model":"m"})"));
  EXPECT_EQ(a.inputs.size(), 1u);
  EXPECT_FALSE(a.base64);
  auto b = ok(parse_embedding_request(R"({"input":["a","b"],"encoding_format":"base64"})"));
  EXPECT_EQ(b.inputs.size(), 2u);
  EXPECT_TRUE(b.base64);
  for (const char* body : {R"({})", R"({"input":""})", R"({"input":"x","encoding_format":"hex"})",
                           R"({"input":"x","dimensions":4})", R"({"input":{}})"}) {
    EXPECT_EQ(err(parse_embedding_request(body)).status, 400) << body;
  }
}

}  // namespace
}  // namespace tern::server
