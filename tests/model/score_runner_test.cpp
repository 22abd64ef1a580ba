// ScoreRunner (the prompt-scoring pass) on the real model: its logprobs equal
// a log-softmax over a ModelRunner's full logits with an F32 cache, with the
// packed-panel GEMM and with the model's own weights, for short and long
// (several row blocks, several logit chunks) sequences; bad input fails.
#include <gtest/gtest.h>

#include <cmath>

#include "model/score_runner.h"
#include "model_test_util.h"
#include "test_assets.h"

namespace tern {
namespace {

constexpr const char* kModel = "models/stories260K.gguf";

TEST(ScoreRunnerTest, EqualsModelRunnerLogSoftmax) {
  TERN_REQUIRE_ASSET(kModel);
  auto model = Model::load(test::asset(kModel));
  ASSERT_TRUE(model.ok()) << model.status().message();
  const Model& m = **model;
  const ModelConfig& c = m.config();
  ThreadPool pool(2);
  for (int64_t max_packed : {ScoreRunner::kDefaultMaxPackedBytes, int64_t{0}}) {
    ScoreRunner scorer(m, pool, max_packed);
    EXPECT_EQ(scorer.packed(), max_packed > 0);
    for (size_t n : {size_t{1}, size_t{2}, size_t{19}, size_t{300}}) {
      std::vector<TokenId> tokens(n);
      tokens[0] = 1;  // BOS
      for (size_t i = 1; i < n; ++i) tokens[i] = static_cast<TokenId>(3 + (i * 37 + i * i) % 500);
      std::vector<float> got(n, 1.0f);
      ASSERT_TRUE(scorer.score(tokens, got.data()).ok());
      EXPECT_EQ(got[0], 0.0f);
      KvPool kv(c.n_layers, c.kv_dim(), 16, static_cast<int>((n + 15) / 16), KvType::kF32);
      ModelRunner runner(m, kv, pool);
      test::ContiguousSequence seq(kv);
      const std::vector<float> logits = test::run_tokens(runner, seq, tokens, 0, true);
      for (size_t i = 1; i < n; ++i)
        ASSERT_NEAR(got[i], test::direct_logprob(&logits[(i - 1) * c.n_vocab], c.n_vocab, tokens[i]), 2e-4)
            << "n " << n << " token " << i << " packed " << scorer.packed();
    }
  }
}

TEST(ScoreRunnerTest, BadInputFails) {
  TERN_REQUIRE_ASSET(kModel);
  auto model = Model::load(test::asset(kModel));
  ASSERT_TRUE(model.ok());
  ThreadPool pool(1);
  ScoreRunner scorer(**model, pool);
  float out[4];
  EXPECT_EQ(scorer.score({}, out).code(), StatusCode::kInvalidArgument);
  const std::vector<TokenId> bad = {1, 5, (*model)->config().n_vocab};
  EXPECT_EQ(scorer.score(bad, out).code(), StatusCode::kInvalidArgument);
  const std::vector<TokenId> neg = {1, -2};
  EXPECT_EQ(scorer.score(neg, out).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tern
