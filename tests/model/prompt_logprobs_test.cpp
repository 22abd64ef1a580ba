// Prompt scoring (GenerationRequest::want_prompt_logprobs) on the real model:
// the engine's per-token logprobs equal a direct log-softmax over a
// ModelRunner's full logits (also for heads too wide for ScoreRunner, scored
// in chunks), agree with the logprobs generation reports for the same
// tokens, and bad requests fail.
#include <gtest/gtest.h>

#include <cmath>
#include <future>
#include <map>
#include <mutex>
#include <numeric>

#include "engine_test_util.h"
#include "model_test_util.h"
#include "synthetic_models.h"
#include "test_assets.h"

namespace tern {
namespace {

constexpr const char* kModel = "models/stories260K.gguf";
constexpr const char* kText =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her "
    "friend Tom. One day, they found a big red ball under a tree.";

std::unique_ptr<Engine> make_engine(EngineOptions o) {
  o.model_path = test::asset(kModel);
  o.threads = 2;
  o.kv_type = KvCacheType::kF32;
  auto e = Engine::create(o);
  EXPECT_TRUE(e.ok()) << e.status().message();
  return e.ok() ? std::move(e).value() : nullptr;
}

GenerationEvent score(Engine& engine, const std::vector<TokenId>& tokens) {
  test::Collector col;
  GenerationRequest r;
  r.prompt_tokens = tokens;
  r.want_prompt_logprobs = true;
  Status st;
  const size_t i = col.add(engine, r, &st);
  EXPECT_TRUE(st.ok()) << st.message();
  col.wait_all();
  return col.get(i).last;
}

TEST(PromptLogprobsTest, EqualsDirectLogSoftmax) {
  TERN_REQUIRE_ASSET(kModel);
  auto engine = make_engine({});
  ASSERT_TRUE(engine);
  const std::vector<TokenId> tokens = engine->tokenize(kText, true, false);
  ASSERT_GT(tokens.size(), 20u);
  const GenerationEvent ev = score(*engine, tokens);
  ASSERT_EQ(ev.finish_reason, FinishReason::kStop) << ev.error.message();
  ASSERT_EQ(ev.prompt_logprobs.size(), tokens.size());
  EXPECT_EQ(ev.usage.prompt_tokens, static_cast<int32_t>(tokens.size()));
  EXPECT_TRUE(ev.tokens.empty());
  EXPECT_EQ(ev.prompt_logprobs[0], 0.0f);

  // Independent computation: one forward over the whole prompt, all logits.
  auto model = Model::load(test::asset(kModel));
  ASSERT_TRUE(model.ok());
  const ModelConfig& c = (*model)->config();
  ThreadPool pool(2);
  KvPool kv(c.n_layers, c.kv_dim(), 16, static_cast<int>((tokens.size() + 15) / 16), KvType::kF32);
  ModelRunner runner(**model, kv, pool);
  test::ContiguousSequence seq(kv);
  const std::vector<float> logits = test::run_tokens(runner, seq, tokens, 0, true);
  double total = 0;
  for (size_t i = 1; i < tokens.size(); ++i) {
    const double want = test::direct_logprob(&logits[(i - 1) * c.n_vocab], c.n_vocab, tokens[i]);
    EXPECT_NEAR(ev.prompt_logprobs[i], want, 1e-4) << "token " << i;
    EXPECT_LE(ev.prompt_logprobs[i], 0.0f);
    total += want;
  }
  // A story-trained model finds its own domain likely: mean below 3 nats/token.
  EXPECT_GT(total / static_cast<double>(tokens.size() - 1), -3.0);
}

// Heads wider than ScoreRunner takes (512 here, a synthetic model) are
// scored in chunks of max_batch_tokens through a scratch cache: the
// logprobs equal a direct log-softmax over one whole-prompt forward, for
// chunks of 7 tokens (across cache blocks) as for one chunk.
TEST(PromptLogprobsTest, WideHeadsScoreInChunksLikeOneForward) {
  TERN_REQUIRE_ASSET(kModel);
  auto vocab = GgufFile::open(test::asset(kModel));
  ASSERT_TRUE(vocab.ok());
  test::SynthSpec spec;
  spec.dim = 1024;
  spec.heads = 2;
  spec.kv_heads = 1;
  spec.ffn = 256;
  const std::string path = test::write_synthetic_model(spec, **vocab);
  auto model = Model::load(path);
  ASSERT_TRUE(model.ok()) << model.status().message();
  const ModelConfig& c = (*model)->config();
  ASSERT_EQ(c.head_dim, 512);

  auto make = [&](int32_t max_batch_tokens) {
    EngineOptions o;
    o.model_path = path;
    o.threads = 2;
    o.kv_type = KvCacheType::kF32;
    o.max_batch_tokens = max_batch_tokens;
    auto e = Engine::create(o);
    EXPECT_TRUE(e.ok()) << e.status().message();
    return e.ok() ? std::move(e).value() : nullptr;
  };
  auto whole = make(512), chunked = make(7);
  ASSERT_TRUE(whole && chunked);
  const std::vector<TokenId> tokens = whole->tokenize(kText, true, false);
  ASSERT_GT(tokens.size(), 30u);  // several chunks of 7, across 16-token blocks

  ThreadPool pool(2);
  KvPool kv(c.n_layers, c.kv_dim(), 16, static_cast<int>((tokens.size() + 15) / 16), KvType::kF32);
  ModelRunner runner(**model, kv, pool);
  test::ContiguousSequence seq(kv);
  const std::vector<float> logits = test::run_tokens(runner, seq, tokens, 0, true);
  for (Engine* e : {whole.get(), chunked.get()}) {
    const GenerationEvent ev = score(*e, tokens);
    ASSERT_EQ(ev.finish_reason, FinishReason::kStop) << ev.error.message();
    ASSERT_EQ(ev.prompt_logprobs.size(), tokens.size());
    for (size_t i = 1; i < tokens.size(); ++i)
      EXPECT_NEAR(ev.prompt_logprobs[i], test::direct_logprob(&logits[(i - 1) * c.n_vocab], c.n_vocab, tokens[i]), 1e-4)
          << "token " << i << (e == chunked.get() ? " (chunks of 7)" : " (one chunk)");
  }
  std::filesystem::remove(path);
}

TEST(PromptLogprobsTest, AgreesWithGenerationLogprobs) {
  TERN_REQUIRE_ASSET(kModel);
  auto engine = make_engine({});
  ASSERT_TRUE(engine);
  GenerationRequest g;
  g.prompt = "Once upon a time";
  g.sampling = SamplingParams::greedy();
  g.sampling.n_probs = 1;
  g.stop.max_tokens = 12;
  g.stop.ignore_eos = true;
  std::vector<TokenLogprob> gen_lp;
  std::vector<TokenId> gen;
  std::promise<void> done;
  auto id = engine->submit(g, [&](const GenerationEvent& ev) {  // engine thread; read after `done`
    gen.insert(gen.end(), ev.tokens.begin(), ev.tokens.end());
    gen_lp.insert(gen_lp.end(), ev.logprobs.begin(), ev.logprobs.end());
    if (ev.finished) done.set_value();
  });
  ASSERT_TRUE(id.ok());
  done.get_future().wait();
  ASSERT_EQ(gen.size(), 12u);
  ASSERT_EQ(gen_lp.size(), 12u);
  std::vector<TokenId> all = engine->tokenize(g.prompt, true, false);
  const size_t n_prompt = all.size();
  all.insert(all.end(), gen.begin(), gen.end());
  const auto lp = score(*engine, all).prompt_logprobs;
  ASSERT_EQ(lp.size(), all.size());
  for (size_t i = 0; i < gen.size(); ++i) EXPECT_NEAR(lp[n_prompt + i], gen_lp[i].logprob, 1e-3) << "token " << i;
}

TEST(PromptLogprobsTest, FullContextAcceptedLongerRejected) {
  TERN_REQUIRE_ASSET(kModel);
  EngineOptions o;
  o.n_ctx = 64;
  auto engine = make_engine(o);
  ASSERT_TRUE(engine);
  const int32_t n_ctx = engine->model_info().n_ctx;
  std::vector<TokenId> tokens(static_cast<size_t>(n_ctx));
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<TokenId>(1 + (i * 7) % 500);
  EXPECT_EQ(score(*engine, tokens).prompt_logprobs.size(), tokens.size());

  GenerationRequest r;
  r.prompt_tokens = tokens;
  r.prompt_tokens.push_back(5);
  r.want_prompt_logprobs = true;
  auto too_long = engine->submit(r, [](const GenerationEvent&) {});
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.status().code(), StatusCode::kOutOfRange);

  r.prompt_tokens.resize(4);
  r.want_embedding = true;
  auto both = engine->submit(r, [](const GenerationEvent&) {});
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(both.status().message().find('\n'), std::string::npos);
}

TEST(PromptLogprobsTest, OneTokenPromptHasOnlyTheUnscoredEntry) {
  TERN_REQUIRE_ASSET(kModel);
  auto engine = make_engine({});
  ASSERT_TRUE(engine);
  const auto ev = score(*engine, {1});
  EXPECT_EQ(ev.finish_reason, FinishReason::kStop);
  ASSERT_EQ(ev.prompt_logprobs.size(), 1u);
  EXPECT_EQ(ev.prompt_logprobs[0], 0.0f);
}

// submit_batch: scoring requests that arrive together run side by side (one
// sequence per thread) and give exactly what each gives alone; a generation
// request in the same batch still generates; one bad request rejects the
// whole batch, naming its index, and nothing of it runs.
TEST(PromptLogprobsTest, SubmitBatchScoresEachAsAlone) {
  TERN_REQUIRE_ASSET(kModel);
  auto engine = make_engine({});
  ASSERT_TRUE(engine);
  const std::vector<TokenId> base = engine->tokenize(kText, true, false);
  std::vector<std::vector<TokenId>> seqs;
  for (size_t n : {base.size(), size_t{1}, size_t{9}, base.size() / 2}) seqs.emplace_back(base.begin(), base.begin() + n);
  std::vector<GenerationRequest> rs;
  for (const auto& t : seqs) {
    GenerationRequest& r = rs.emplace_back();
    r.prompt_tokens = t;
    r.want_prompt_logprobs = true;
  }
  GenerationRequest& g = rs.emplace_back();
  g.prompt = "Once upon a time";
  g.sampling = SamplingParams::greedy();
  g.stop.max_tokens = 5;
  g.stop.ignore_eos = true;

  std::mutex mu;
  std::map<RequestId, GenerationEvent> last;
  std::map<RequestId, size_t> generated;
  std::promise<void> done;
  auto ids = engine->submit_batch(rs, [&](const GenerationEvent& ev) {
    std::lock_guard<std::mutex> lock(mu);
    generated[ev.id] += ev.tokens.size();
    if (!ev.finished) return;
    last[ev.id] = ev;
    if (last.size() == rs.size()) done.set_value();
  });
  ASSERT_TRUE(ids.ok()) << ids.status().message();
  ASSERT_EQ(ids->size(), rs.size());
  done.get_future().wait();
  for (size_t i = 0; i < seqs.size(); ++i) {
    const GenerationEvent& ev = last.at((*ids)[i]);
    ASSERT_EQ(ev.finish_reason, FinishReason::kStop) << ev.error.message();
    const std::vector<float> alone = score(*engine, seqs[i]).prompt_logprobs;
    ASSERT_EQ(ev.prompt_logprobs.size(), seqs[i].size());
    for (size_t k = 0; k < alone.size(); ++k) EXPECT_EQ(ev.prompt_logprobs[k], alone[k]) << "request " << i << " token " << k;
  }
  EXPECT_EQ(generated.at(ids->back()), 5u);

  rs[2].prompt_tokens = {1, engine->model_info().n_vocab};
  bool called = false;
  auto bad = engine->submit_batch(rs, [&](const GenerationEvent&) { called = true; });
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("request 2"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(engine->submit_batch({}, [](const GenerationEvent&) {}).ok());
  EXPECT_EQ(score(*engine, seqs[0]).prompt_logprobs.size(), seqs[0].size());  // still serving
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace tern
