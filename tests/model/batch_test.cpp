// The serving engine on a real model: batched == one-by-one (greedy), paged
// prefix reuse == recomputation, results unchanged under preemption,
// cancellation frees blocks, errors for bad requests.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <thread>

#include "engine_test_util.h"
#include "test_assets.h"

namespace tern {
namespace {

constexpr const char* kModel = "models/stories260K.gguf";

const std::vector<std::string> kPrompts = {
    "Once upon a time",        "Lily and Tom went to the park.", "The little bird was sad because",
    "Zoo",                     "One day, a boy named Ben",       "\"Can I play?\" asked Sue.",
    "The sun was shining and", "Once upon a time, there was a big dog",
};

std::unique_ptr<Engine> make_engine(EngineOptions o) {
  o.model_path = test::asset(kModel);
  if (o.threads == 0) o.threads = 2;
  auto e = Engine::create(o);
  EXPECT_TRUE(e.ok()) << e.status().message();
  return e.ok() ? std::move(e).value() : nullptr;
}

// Stats are published after the step whose events ended the requests.
void wait_idle(Engine& e) {
  for (int k = 0; k < 2000 && (e.stats().running > 0 || e.stats().kv_blocks_used > 0); ++k)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

GenerationRequest greedy(const std::string& prompt, int n) {
  GenerationRequest r;
  r.prompt = prompt;
  r.sampling = SamplingParams::greedy();
  r.stop.max_tokens = n;
  return r;
}

std::vector<test::Collected> run_all(Engine& engine, const std::vector<std::string>& prompts, int n) {
  test::Collector col;
  std::vector<size_t> ids;
  for (const auto& p : prompts) ids.push_back(col.add(engine, greedy(p, n)));
  col.wait_all();
  std::vector<test::Collected> out;
  for (size_t i : ids) out.push_back(col.get(i));
  return out;
}

std::vector<test::Collected> run_one_by_one(Engine& engine, const std::vector<std::string>& prompts, int n) {
  std::vector<test::Collected> out;
  for (const auto& p : prompts) out.push_back(run_all(engine, {p}, n)[0]);
  return out;
}

TEST(EngineTest, BatchedEqualsOneByOne) {
  TERN_REQUIRE_ASSET(kModel);
  EngineOptions o;
  o.kv_type = KvCacheType::kF32;
  o.prefix_caching = false;
  auto single = make_engine(o);
  o.max_batch_tokens = 7;  // forces chunked prefill interleaved with decodes
  auto batched = make_engine(o);
  ASSERT_TRUE(single && batched);
  const auto a = run_one_by_one(*single, kPrompts, 40);
  const auto b = run_all(*batched, kPrompts, 40);
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    EXPECT_EQ(a[i].tokens, b[i].tokens) << kPrompts[i];
    EXPECT_EQ(a[i].text, b[i].text);
    EXPECT_EQ(b[i].last.finish_reason, FinishReason::kLength);
    EXPECT_EQ(b[i].last.usage.completion_tokens, 40);
  }
  EXPECT_GT(batched->stats().steps, 0);
}

TEST(EngineTest, PrefixReuseGivesTheSameTokens) {
  TERN_REQUIRE_ASSET(kModel);
  EngineOptions o;
  o.kv_type = KvCacheType::kF32;
  o.block_size = 4;
  auto cached = make_engine(o);
  o.prefix_caching = false;
  auto plain = make_engine(o);
  ASSERT_TRUE(cached && plain);
  const std::string sys = "Once upon a time, there was a little girl named Lily. She loved to play outside.";
  std::vector<std::string> turns = {sys + " One day", sys + " One day, she saw a big", sys + " Lily had a cat"};
  const auto want = run_one_by_one(*plain, turns, 24);
  const auto got = run_one_by_one(*cached, turns, 24);
  for (size_t i = 0; i < turns.size(); ++i) EXPECT_EQ(want[i].tokens, got[i].tokens) << turns[i];
  // Later turns reuse the shared prefix from the cache.
  EXPECT_GT(got[1].last.usage.cached_tokens, 16);
  EXPECT_GT(got[2].last.usage.cached_tokens, 16);
  EXPECT_EQ(want[1].last.usage.cached_tokens, 0);
  const EngineStats st = cached->stats();
  EXPECT_GT(st.prefix_hit_tokens, 0);
  EXPECT_LE(st.prefix_hit_tokens, st.prefix_query_tokens);
}

TEST(EngineTest, PreemptionDoesNotChangeResults) {
  TERN_REQUIRE_ASSET(kModel);
  EngineOptions o;
  o.kv_type = KvCacheType::kF32;
  o.prefix_caching = false;
  auto roomy = make_engine(o);
  // 12 blocks of 8 tokens: eight sequences of ~60 tokens cannot all fit.
  o.block_size = 8;
  o.kv_memory_bytes = 12LL * 8 * 2 * 5 * 32 * 4;
  o.n_ctx = 96;
  auto tight = make_engine(o);
  ASSERT_TRUE(roomy && tight);
  const auto want = run_one_by_one(*roomy, kPrompts, 48);
  const auto got = run_all(*tight, kPrompts, 48);
  for (size_t i = 0; i < kPrompts.size(); ++i) EXPECT_EQ(want[i].tokens, got[i].tokens) << kPrompts[i];
  wait_idle(*tight);
  EXPECT_GT(tight->stats().preemptions, 0);
  EXPECT_EQ(tight->stats().kv_blocks_used, 0);
}

TEST(EngineTest, StopStringsMaxTokensAndEos) {
  TERN_REQUIRE_ASSET(kModel);
  auto engine = make_engine({});
  ASSERT_TRUE(engine);
  const auto plain = run_all(*engine, {"Once upon a time"}, 64)[0];
  ASSERT_NE(plain.text.find("Lily"), std::string::npos);
  test::Collector col;
  GenerationRequest r = greedy("Once upon a time", 64);
  r.stop.stop_strings = {"Lily"};
  const size_t i = col.add(*engine, r);
  col.wait_all();
  const auto got = col.get(i);
  EXPECT_EQ(got.text, plain.text.substr(0, plain.text.find("Lily")));
  EXPECT_EQ(got.last.finish_reason, FinishReason::kStop);
}

TEST(EngineTest, CancelFreesBlocksAndEndsTheStream) {
  TERN_REQUIRE_ASSET(kModel);
  auto engine = make_engine({});
  ASSERT_TRUE(engine);
  test::Collector col;
  GenerationRequest r = greedy("Once upon a time", -1);
  r.stop.ignore_eos = true;
  RequestId id = 0;
  const size_t i = col.add(*engine, r, nullptr, &id);
  while (engine->stats().generation_tokens < 5) std::this_thread::yield();
  engine->cancel(id);
  col.wait_all();
  EXPECT_EQ(col.get(i).last.finish_reason, FinishReason::kCancelled);
  wait_idle(*engine);
  EXPECT_EQ(engine->stats().running, 0);
  EXPECT_EQ(engine->stats().kv_usage, 0.0);
}

TEST(EngineTest, RejectsBadRequests) {
  TERN_REQUIRE_ASSET(kModel);
  EngineOptions o;
  o.n_ctx = 32;
  auto engine = make_engine(o);
  ASSERT_TRUE(engine);
  auto cb = [](const GenerationEvent&) {};
  GenerationRequest empty;
  empty.add_special = false;  // "" with BOS is a valid one-token prompt
  EXPECT_EQ(engine->submit(empty, cb).status().code(), StatusCode::kInvalidArgument);
  GenerationRequest long_prompt = greedy(std::string(400, 'a'), 4);
  EXPECT_EQ(engine->submit(long_prompt, cb).status().code(), StatusCode::kOutOfRange);
  GenerationRequest bad_temp = greedy("hi", 4);
  bad_temp.sampling.temperature = std::nanf("");
  EXPECT_EQ(engine->submit(bad_temp, cb).status().code(), StatusCode::kInvalidArgument);
  GenerationRequest bad_token;
  bad_token.prompt_tokens = {1, 99999};
  EXPECT_EQ(engine->submit(bad_token, cb).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(engine->submit(greedy("hi", 4), nullptr).ok());
  // The context bounds generation: finish_reason "length" at n_ctx.
  test::Collector col;
  GenerationRequest r = greedy("Once upon a time", -1);
  r.stop.ignore_eos = true;
  const size_t i = col.add(*engine, r);
  col.wait_all();
  EXPECT_EQ(col.get(i).last.finish_reason, FinishReason::kLength);
  EXPECT_EQ(col.get(i).last.usage.prompt_tokens + col.get(i).last.usage.completion_tokens, 32);
}

TEST(EngineTest, EmbeddingsArePooledAndNormalised) {
  TERN_REQUIRE_ASSET(kModel);
  auto engine = make_engine({});
  ASSERT_TRUE(engine);
  test::Collector col;
  GenerationRequest a, b, c;
  a.prompt = "The cat sat on the mat";
  a.want_embedding = true;
  b = a;
  c = a;
  c.prompt = "A big red ball";
  const size_t ia = col.add(*engine, a), ib = col.add(*engine, b), ic = col.add(*engine, c);
  col.wait_all();
  const auto ea = col.get(ia).last.embedding, eb = col.get(ib).last.embedding, ec = col.get(ic).last.embedding;
  ASSERT_EQ(ea.size(), 64u);
  double norm = 0, same = 0, diff = 0;
  for (size_t k = 0; k < ea.size(); ++k) {
    norm += ea[k] * ea[k];
    same += ea[k] * eb[k];
    diff += ea[k] * ec[k];
  }
  EXPECT_NEAR(norm, 1.0, 1e-4);
  EXPECT_NEAR(same, 1.0, 1e-4);
  EXPECT_LT(diff, 0.9999);
}

TEST(EngineTest, LoadErrorsAreOneLine) {
  EngineOptions o;
  o.model_path = "/nonexistent.gguf";
  auto e = Engine::create(o);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message().find('\n'), std::string::npos);
  EXPECT_NE(e.status().message().find("/nonexistent.gguf"), std::string::npos);
}

}  // namespace
}  // namespace tern
