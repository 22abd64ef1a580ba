// Golden tests against an independent implementation (llama.cpp, CPU, F32):
// prompt token ids, top-5 logits at every prompt position, 64 greedy tokens.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "model_test_util.h"
#include "test_assets.h"

namespace tern {
namespace {

constexpr const char* kModel = "models/stories260K.gguf";
constexpr const char* kReference = "reference/stories260K-greedy.json";
// The reference engine (llama.cpp, CPU) stores K/V as F16 and rounds q and
// the softmax weights to f16 (non-flash attention). tern follows its
// arithmetic for F32 weights and an F16 cache (the default): the same f16
// roundings, and the same summation order in the F32 matmuls, the attention
// dots and the softmax sum (kernels/matmul.h, kernels/ops.h), so the logits
// agree to ~1e-5, except where the two engines' exp() differ by an ulp and an
// f16 rounding flips (up to 8.7e-4 on these prompts). The bound is the
// issue's: 1e-3. An F32 cache rounds nothing and differs by up to 2e-2.
constexpr float kLogitToleranceF16 = 1e-3f;
constexpr float kLogitToleranceF32 = 3e-2f;

class GoldenTest : public ::testing::TestWithParam<KvType> {};

TEST_P(GoldenTest, PromptTokensLogitsAndGreedyMatchReference) {
  TERN_REQUIRE_ASSET(kModel);
  TERN_REQUIRE_ASSET(kReference);
  auto model = Model::load(test::asset(kModel));
  ASSERT_TRUE(model.ok()) << model.status().message();
  const Model& m = **model;
  const int vocab = m.config().n_vocab;
  std::ifstream in(test::asset(kReference));
  const nlohmann::json ref = nlohmann::json::parse(in);
  ASSERT_FALSE(ref.empty());

  ThreadPool pool(2);
  const float kLogitTolerance = GetParam() == KvType::kF16 ? kLogitToleranceF16 : kLogitToleranceF32;
  for (const auto& c : ref) {
    SCOPED_TRACE(c["prompt"].get<std::string>());
    const std::vector<TokenId> expected_tokens = c["tokens"].get<std::vector<TokenId>>();
    const std::vector<TokenId> tokens = m.tokenizer().encode(c["prompt"].get<std::string>(), true, false);
    ASSERT_EQ(tokens, expected_tokens);

    KvPool kv(m.config().n_layers, m.config().kv_dim(), 16, 16, GetParam());
    ModelRunner runner(m, kv, pool);
    test::ContiguousSequence seq(kv);
    const std::vector<float> logits = test::run_tokens(runner, seq, tokens, 0, true);
    const auto& top = c["top_logits"];
    ASSERT_EQ(top.size(), tokens.size());
    float max_err = 0;
    for (size_t t = 0; t < tokens.size(); ++t) {
      const float* row = &logits[t * static_cast<size_t>(vocab)];
      for (size_t r = 0; r < top[t].size(); ++r) {
        const int id = top[t][r][0].get<int>();
        const float want = top[t][r][1].get<float>();
        max_err = std::max(max_err, std::abs(row[id] - want));
        EXPECT_NEAR(row[id], want, kLogitTolerance) << "position " << t << " rank " << r << " token " << id;
      }
      EXPECT_EQ(test::argmax(row, vocab), top[t][0][0].get<int>()) << "position " << t;
    }
    RecordProperty("max_logit_error", std::to_string(max_err));
    std::printf("%-24.24s max |logit - reference| = %.6f\n", c["prompt"].get<std::string>().c_str(), max_err);

    // Greedy continuation, one token at a time.
    const std::vector<TokenId> want_greedy = c["greedy"].get<std::vector<TokenId>>();
    std::vector<TokenId> got;
    TokenId next = test::argmax(&logits[(tokens.size() - 1) * static_cast<size_t>(vocab)], vocab);
    int32_t pos = static_cast<int32_t>(tokens.size());
    while (got.size() < want_greedy.size()) {
      got.push_back(next);
      const std::vector<float> l = test::run_tokens(runner, seq, {next}, pos++, false);
      next = test::argmax(l.data(), vocab);
    }
    EXPECT_EQ(got, want_greedy);
    std::string text;
    for (TokenId t : got) text += m.tokenizer().token_to_piece(t);
    EXPECT_EQ(text, c["greedy_text"].get<std::string>());
  }
}

INSTANTIATE_TEST_SUITE_P(KvTypes, GoldenTest, ::testing::Values(KvType::kF32, KvType::kF16),
                         [](const auto& info) { return info.param == KvType::kF32 ? "F32" : "F16"; });

// Chunked prefill (several chunks) must give the same logits as one batch.
TEST(ModelTest, ChunkedPrefillEqualsSingleBatch) {
  TERN_REQUIRE_ASSET(kModel);
  auto model = Model::load(test::asset(kModel));
  ASSERT_TRUE(model.ok()) << model.status().message();
  const Model& m = **model;
  ThreadPool pool(2);
  const std::vector<TokenId> tokens =
      m.tokenizer().encode("Lily and Tom went to the park. They saw a big dog and a little cat.", true, false);
  KvPool kv1(m.config().n_layers, m.config().kv_dim(), 16, 8, KvType::kF32);
  KvPool kv2(m.config().n_layers, m.config().kv_dim(), 16, 8, KvType::kF32);
  ModelRunner r1(m, kv1, pool), r2(m, kv2, pool);
  test::ContiguousSequence s1(kv1), s2(kv2);
  const std::vector<float> whole = test::run_tokens(r1, s1, tokens, 0, false);
  std::vector<float> last;
  for (size_t start = 0; start < tokens.size(); start += 5) {
    std::vector<TokenId> chunk(tokens.begin() + static_cast<long>(start),
                               tokens.begin() + static_cast<long>(std::min(tokens.size(), start + 5)));
    last = test::run_tokens(r2, s2, chunk, static_cast<int32_t>(start), false);
  }
  ASSERT_EQ(whole.size(), last.size());
  for (size_t i = 0; i < whole.size(); ++i) EXPECT_NEAR(whole[i], last[i], 1e-4f) << i;
}

TEST(ModelTest, RejectsBadBatches) {
  TERN_REQUIRE_ASSET(kModel);
  auto model = Model::load(test::asset(kModel));
  ASSERT_TRUE(model.ok());
  ThreadPool pool(1);
  KvPool kv((*model)->config().n_layers, (*model)->config().kv_dim(), 16, 2, KvType::kF32);
  ModelRunner runner(**model, kv, pool);
  test::ContiguousSequence seq(kv);
  std::vector<float> logits(512);
  std::vector<TokenId> bad_token = {100000};
  std::vector<int32_t> pos = {0}, sidx = {0}, rows = {0};
  EXPECT_FALSE(runner.forward({bad_token, pos, sidx, {seq.table}, rows}, logits.data()).ok());
  std::vector<TokenId> ok_token = {1};
  std::vector<int32_t> far = {32};  // 2 blocks of 16 hold positions 0..31
  EXPECT_EQ(runner.forward({ok_token, far, sidx, {seq.table}, rows}, logits.data()).code(), StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace tern
