// Speculative decoding at the server's edges: the per-request "speculative"
// field, the serve options, and the spec_decode metrics.
#include <gtest/gtest.h>

#include "config/serve_options.h"
#include "metrics/server_metrics.h"
#include "openai/parse.h"

namespace tern::server {
namespace {

SpeculativeParams parsed(const std::string& body) {
  auto p = parse_completion_request(body);
  if (auto* e = std::get_if<ApiError>(&p)) {
    ADD_FAILURE() << "unexpected error: " << e->message;
    return {};
  }
  return std::get<CompletionRequest>(p).gen.speculative;
}

std::string error_of(const std::string& body) {
  auto p = parse_chat_request(body);
  auto* e = std::get_if<ApiError>(&p);
  return e ? e->message : "";
}

TEST(SpecRequest, MethodNameOrObject) {
  EXPECT_EQ(parsed(R"({"prompt":"x"})").method, SpecMethod::kDefault);
  EXPECT_EQ(parsed(R"({"prompt":"x","speculative":"off"})").method, SpecMethod::kOff);
  EXPECT_EQ(parsed(R"({"prompt":"x","speculative":"self-spec"})").method, SpecMethod::kSelfSpec);
  const SpeculativeParams p = parsed(R"({"prompt":"x","speculative":{"method":"ngram","max_draft_tokens":6}})");
  EXPECT_EQ(p.method, SpecMethod::kNgram);
  EXPECT_EQ(p.max_draft_tokens, 6);
  EXPECT_EQ(parsed(R"({"prompt":"x","speculative":{"max_draft_tokens":2}})").max_draft_tokens, 2);
  EXPECT_EQ(parsed(R"({"prompt":"x","speculative":{"method":"draft-model"}})").method, SpecMethod::kDraftModel);
}

TEST(SpecRequest, BadValuesAreErrors) {
  const std::string chat = R"({"messages":[{"role":"user","content":"hi"}],"speculative":)";
  EXPECT_NE(error_of(chat + R"("fast"})").find("'speculative'"), std::string::npos);
  EXPECT_NE(error_of(chat + R"(3})").find("'speculative'"), std::string::npos);
  EXPECT_NE(error_of(chat + R"({"method":"ngram","k":3}})").find("speculative.k"), std::string::npos);
  EXPECT_NE(error_of(chat + R"({"max_draft_tokens":99}})").find("max_draft_tokens"), std::string::npos);
  EXPECT_NE(error_of(chat + R"({"max_draft_tokens":-1}})").find("max_draft_tokens"), std::string::npos);
  EXPECT_EQ(error_of(chat + R"({"method":"ngram"}})"), "");
}

TEST(SpecServeOptions, ParsedAndValidated) {
  auto no_env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  auto o = resolve_serve_options({{"model", "m.gguf"}, {"spec", "ngram"}, {"draft-max", "5"}, {"spec-adaptive", "false"}},
                                 no_env);
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o->spec, "ngram");
  EXPECT_EQ(o->draft_max, 5);
  EXPECT_FALSE(o->spec_adaptive);
  EXPECT_FALSE(resolve_serve_options({{"model", "m.gguf"}, {"spec", "turbo"}}, no_env).ok());
  EXPECT_FALSE(resolve_serve_options({{"model", "m.gguf"}, {"draft-max", "0"}}, no_env).ok());
  auto env = [](const std::string& k) -> std::optional<std::string> {
    if (k == "TERN_DRAFT_MODEL") return std::string("d.gguf");
    return std::nullopt;
  };
  auto e = resolve_serve_options({{"model", "m.gguf"}}, env);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->draft_model, "d.gguf");
}

TEST(SpecMetrics, VllmNamesAndDerivedGauges) {
  ServerMetrics m;
  EngineStats st;
  st.spec_drafts = 10;
  st.spec_draft_tokens = 40;
  st.spec_accepted_tokens = 30;
  st.spec_accepted_per_pos = {9, 8, 7, 6};
  const std::string out = m.render(st, "m");
  EXPECT_NE(out.find("vllm:spec_decode_num_drafts_total{model_name=\"m\"} 10\n"), std::string::npos) << out;
  EXPECT_NE(out.find("vllm:spec_decode_num_draft_tokens_total{model_name=\"m\"} 40\n"), std::string::npos);
  EXPECT_NE(out.find("vllm:spec_decode_num_accepted_tokens_total{model_name=\"m\"} 30\n"), std::string::npos);
  EXPECT_NE(out.find("vllm:spec_decode_num_accepted_tokens_per_pos_total{model_name=\"m\",position=\"3\"} 6\n"),
            std::string::npos);
  EXPECT_NE(out.find("tern:spec_decode_acceptance_rate{model_name=\"m\"} 0.75\n"), std::string::npos);
  EXPECT_NE(out.find("tern:spec_decode_mean_accepted_length{model_name=\"m\"} 4\n"), std::string::npos);
}

}  // namespace
}  // namespace tern::server
