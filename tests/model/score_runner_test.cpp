// ScoreRunner (the prompt-scoring pass) on the real model: its logprobs equal
// a log-softmax over a ModelRunner's full logits with an F32 cache, with the
// packed-panel GEMM and with the model's own weights, for short and long
// (several row blocks, logit chunks and layer chunks) sequences; bad input
// fails.
#include <gtest/gtest.h>

#include <cmath>
#include <span>
#include <vector>

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
    // 1100: three row chunks of the layers (512, 512, 76), the last ending
    // inside a block of 16 keys.
    for (size_t n : {size_t{1}, size_t{2}, size_t{19}, size_t{300}, size_t{1100}}) {
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

// score_many: every sequence scored as score() scores it alone (the per-
// thread pass runs the same kernels in the same order: bitwise equal), with
// 1 and 2 threads, packed and unpacked; a bad sequence fails alone.
TEST(ScoreRunnerTest, ScoreManyEqualsScoreOneByOne) {
  TERN_REQUIRE_ASSET(kModel);
  auto model = Model::load(test::asset(kModel));
  ASSERT_TRUE(model.ok()) << model.status().message();
  const int32_t vocab = (*model)->config().n_vocab;
  std::vector<std::vector<TokenId>> seqs;
  for (size_t n : {size_t{300}, size_t{1}, size_t{47}, size_t{1100}, size_t{512}, size_t{2}, size_t{130}}) {
    std::vector<TokenId>& t = seqs.emplace_back(n);
    t[0] = 1;
    for (size_t i = 1; i < n; ++i) t[i] = static_cast<TokenId>(3 + (i * 53 + n * 7 + i * i) % 500);
  }
  seqs.push_back({1, 5, vocab});  // out of range: fails alone
  seqs.push_back({});             // empty: fails alone
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    for (int64_t max_packed : {ScoreRunner::kDefaultMaxPackedBytes, int64_t{0}}) {
      ScoreRunner one(**model, pool, max_packed), many(**model, pool, max_packed);
      std::vector<std::vector<float>> got(seqs.size());
      std::vector<std::span<const TokenId>> in;
      std::vector<float*> out;
      for (size_t i = 0; i < seqs.size(); ++i) {
        got[i].assign(seqs[i].size(), 7.0f);
        in.emplace_back(seqs[i]);
        out.push_back(got[i].data());
      }
      for (int round = 0; round < 2; ++round) {  // the second reuses grown scratch
        const std::vector<Status> st = many.score_many(in, out);
        ASSERT_EQ(st.size(), seqs.size());
        for (size_t i = 0; i < seqs.size(); ++i) {
          std::vector<float> want(seqs[i].size(), 0.0f);
          const Status alone = one.score(seqs[i], want.data());
          ASSERT_EQ(st[i].code(), alone.code()) << "sequence " << i;
          if (!alone.ok()) continue;
          for (size_t k = 0; k < want.size(); ++k)
            ASSERT_EQ(got[i][k], want[k]) << "threads " << threads << " packed " << many.packed() << " seq " << i
                                          << " token " << k;
        }
      }
    }
  }
}

}  // namespace
}  // namespace tern
