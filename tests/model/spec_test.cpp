// Speculative decoding in the engine on the test model: greedy output with
// each drafter (n-gram, a Q8_0 draft copy, a 2-layer truncated draft copy,
// self-speculation) equals plain decoding, alone and in a batch of
// concurrent requests with different drafters and draft lengths under
// prefix caching and chunked prefill; sampled output keeps the target's
// distribution (two-sample chi-square against plain sampling); metrics.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "draft_models.h"
#include "engine_test_util.h"
#include "test_assets.h"

namespace tern {
namespace {

constexpr const char* kModel = "models/stories260K.gguf";

const std::vector<std::string> kPrompts = {
    "Once upon a time",        "Lily and Tom went to the park. Lily and Tom", "The little bird was sad because",
    "One day, a boy named Ben", "The sun was shining and",                   "Once upon a time, there was a big dog",
};

class SpecTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(test::asset(kModel))) return;
    q8_ = test::temp_path("q8.gguf");
    trunc_ = test::temp_path("trunc2.gguf");
    ASSERT_TRUE(test::write_draft_model(test::asset(kModel), q8_, true, 0).ok());
    ASSERT_TRUE(test::write_draft_model(test::asset(kModel), trunc_, false, 2).ok());
    trunc4_ = test::temp_path("trunc4.gguf");
    ASSERT_TRUE(test::write_draft_model(test::asset(kModel), trunc4_, false, 4).ok());
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    if (!q8_.empty()) std::filesystem::remove_all(std::filesystem::path(q8_).parent_path(), ec);
  }
  static std::string q8_, trunc_, trunc4_;

  static std::unique_ptr<Engine> make(SpeculativeOptions spec, int max_batch_tokens = 512, bool prefix = true,
                                      int max_seqs = 64) {
    EngineOptions o;
    o.model_path = test::asset(kModel);
    o.threads = 2;
    o.max_batch_tokens = max_batch_tokens;
    o.prefix_caching = prefix;
    o.max_queue = 4096;
    o.max_num_seqs = max_seqs;
    o.speculative = std::move(spec);
    auto e = Engine::create(o);
    EXPECT_TRUE(e.ok()) << e.status().message();
    return e.ok() ? std::move(e).value() : nullptr;
  }
};
std::string SpecTest::q8_, SpecTest::trunc_, SpecTest::trunc4_;

GenerationRequest greedy(const std::string& prompt, int n, SpeculativeParams sp = {}) {
  GenerationRequest r;
  r.prompt = prompt;
  r.sampling = SamplingParams::greedy();
  r.stop.max_tokens = n;
  r.speculative = sp;
  return r;
}

std::vector<std::vector<TokenId>> run(Engine& e, const std::vector<GenerationRequest>& reqs) {
  test::Collector col;
  std::vector<size_t> idx;
  for (const auto& r : reqs) idx.push_back(col.add(e, r));
  col.wait_all();
  std::vector<std::vector<TokenId>> out;
  for (size_t i : idx) {
    const test::Collected c = col.get(i);
    EXPECT_NE(c.last.finish_reason, FinishReason::kError) << c.last.error.message();
    out.push_back(c.tokens);
  }
  return out;
}

std::vector<std::vector<TokenId>> plain_outputs(int n) {
  SpeculativeOptions off;
  auto e = SpecTest::make(off);
  std::vector<std::vector<TokenId>> out;
  for (const auto& p : kPrompts) out.push_back(run(*e, {greedy(p, n)})[0]);
  return out;
}

TEST_F(SpecTest, GreedyEqualsPlainWithEachDrafter) {
  TERN_REQUIRE_ASSET(kModel);
  constexpr int kN = 80;
  const auto plain = plain_outputs(kN);
  struct Case {
    const char* name;
    SpecMethod method;
    std::string draft;
  };
  const std::vector<Case> cases = {{"ngram", SpecMethod::kNgram, ""},
                                   {"draft q8", SpecMethod::kDraftModel, q8_},
                                   {"draft 2 layers", SpecMethod::kDraftModel, trunc_},
                                   {"self-spec", SpecMethod::kSelfSpec, ""}};
  for (const Case& c : cases) {
    SpeculativeOptions so;
    so.method = c.method;
    so.draft_model_path = c.draft;
    so.max_draft_tokens = 4;
    so.adaptive = false;  // always draft, so every path runs
    auto e = make(so);
    ASSERT_TRUE(e);
    for (size_t i = 0; i < kPrompts.size(); ++i) EXPECT_EQ(run(*e, {greedy(kPrompts[i], kN)})[0], plain[i]) << c.name << ": " << kPrompts[i];
    const EngineStats st = e->stats();
    EXPECT_GT(st.spec_draft_tokens, 0) << c.name;
    EXPECT_GT(st.spec_accepted_tokens, 0) << c.name;
    EXPECT_LE(st.spec_accepted_tokens, st.spec_draft_tokens);
    if (c.method == SpecMethod::kDraftModel && c.draft == q8_) {  // a near-copy agrees almost always
      EXPECT_GT(st.spec_accepted_tokens * 10, st.spec_draft_tokens * 8) << st.spec_accepted_tokens << "/" << st.spec_draft_tokens;
    }
    ASSERT_EQ(st.spec_accepted_per_pos.size(), 4u);
    EXPECT_GE(st.spec_accepted_per_pos[0], st.spec_accepted_per_pos[3]);
  }
}

TEST_F(SpecTest, BatchOfMixedDraftersWithPrefixCachingAndChunkedPrefill) {
  TERN_REQUIRE_ASSET(kModel);
  constexpr int kN = 60;
  const auto plain = plain_outputs(kN);
  SpeculativeOptions so;
  so.method = SpecMethod::kNgram;
  so.draft_model_path = q8_;
  so.max_draft_tokens = 6;
  so.adaptive = false;
  auto e = make(so, /*max_batch_tokens=*/24);  // prefill chunks next to verification chunks
  ASSERT_TRUE(e);
  const SpeculativeParams kinds[] = {{SpecMethod::kDefault, 2}, {SpecMethod::kDraftModel, 5}, {SpecMethod::kSelfSpec, 3},
                                     {SpecMethod::kOff, 0},     {SpecMethod::kNgram, 6},      {SpecMethod::kDraftModel, 1}};
  // Twice: the second round adopts cached prefixes of the first.
  for (int round = 0; round < 2; ++round) {
    std::vector<GenerationRequest> reqs;
    for (size_t i = 0; i < kPrompts.size(); ++i) reqs.push_back(greedy(kPrompts[i], kN, kinds[(i + round) % 6]));
    const auto out = run(*e, reqs);
    for (size_t i = 0; i < kPrompts.size(); ++i) EXPECT_EQ(out[i], plain[i]) << "round " << round << ": " << kPrompts[i];
  }
  const EngineStats st = e->stats();
  EXPECT_GT(st.prefix_hit_tokens, 0);
  EXPECT_GT(st.spec_accepted_tokens, 0);
}

TEST_F(SpecTest, AdaptiveIsLosslessToo) {
  TERN_REQUIRE_ASSET(kModel);
  constexpr int kN = 60;
  const auto plain = plain_outputs(kN);
  SpeculativeOptions so;
  so.method = SpecMethod::kNgram;
  auto e = make(so);
  ASSERT_TRUE(e);
  std::vector<GenerationRequest> reqs;
  for (const auto& p : kPrompts) reqs.push_back(greedy(p, kN));
  EXPECT_EQ(run(*e, reqs), plain);
}

TEST_F(SpecTest, BadRequestsAreRejected) {
  TERN_REQUIRE_ASSET(kModel);
  SpeculativeOptions so;
  auto e = make(so);
  ASSERT_TRUE(e);
  test::Collector col;
  Status st;
  col.add(*e, greedy("Hi", 4, {SpecMethod::kDraftModel, 0}), &st);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("draft model"), std::string::npos) << st.message();
  col.add(*e, greedy("Hi", 4, {SpecMethod::kNgram, -1}), &st);
  EXPECT_FALSE(st.ok());
  EngineOptions o;
  o.model_path = test::asset(kModel);
  o.speculative.method = SpecMethod::kDraftModel;
  EXPECT_FALSE(Engine::create(o).ok());  // no draft model path
  o.speculative.draft_model_path = "/nonexistent.gguf";
  EXPECT_FALSE(Engine::create(o).ok());
  o.speculative.method = SpecMethod::kSelfSpec;
  o.speculative.draft_model_path.clear();
  o.speculative.self_spec_skip_layers = {7};
  EXPECT_FALSE(Engine::create(o).ok());
}

// Sampled requests: the tokens after the prompt must follow the target's
// distribution. Plain and speculative sampling (a 2-layer draft that often
// disagrees with the target, so both the kept and the residual branch run)
// are compared by a two-sample chi-square test of homogeneity on the 2nd and
// 3rd generated tokens (the first verified positions). Bins with fewer than
// 10 samples in total are pooled. Bound: the 1 - 1e-6 quantile, so a correct
// implementation fails with probability ~1e-6 (fixed seeds: deterministic).
double chi2_quantile_1e6(int df) {
  // Wilson-Hilferty approximation of the chi-square quantile, z = 4.753 (1e-6).
  const double z = 4.753, k = df;
  const double a = 1 - 2 / (9 * k) + z * std::sqrt(2 / (9 * k));
  return k * a * a * a;
}

double homogeneity_chi2(const std::map<TokenId, int>& a, const std::map<TokenId, int>& b, int* df) {
  std::map<TokenId, std::pair<double, double>> bins;
  for (auto [t, n] : a) bins[t].first += n;
  for (auto [t, n] : b) bins[t].second += n;
  std::vector<std::pair<double, double>> cells;
  std::pair<double, double> pooled{0, 0};
  for (auto& [t, c] : bins) {
    if (c.first + c.second < 10) {
      pooled.first += c.first;
      pooled.second += c.second;
    } else {
      cells.push_back(c);
    }
  }
  if (pooled.first + pooled.second > 0) cells.push_back(pooled);
  double na = 0, nb = 0;
  for (auto& c : cells) {
    na += c.first;
    nb += c.second;
  }
  double chi = 0;
  for (auto& c : cells) {
    const double tot = c.first + c.second;
    const double ea = tot * na / (na + nb), eb = tot * nb / (na + nb);
    chi += (c.first - ea) * (c.first - ea) / ea + (c.second - eb) * (c.second - eb) / eb;
  }
  *df = static_cast<int>(cells.size()) - 1;
  return chi;
}

TEST_F(SpecTest, SampledOutputKeepsTheTargetDistribution) {
  TERN_REQUIRE_ASSET(kModel);
#if defined(__SANITIZE_ADDRESS__)
  constexpr int kRequests = 1000;  // sanitizers: the paths run; the release build has the statistical power
#else
  constexpr int kRequests = 4000;  // enough to reject a rule that accepts with 2 p/q or skips the residual
#endif
  auto sample_tokens = [&](Engine& e, SpecMethod m, uint64_t seed0) {
    std::vector<GenerationRequest> reqs;
    for (int i = 0; i < kRequests; ++i) {
      GenerationRequest r;
      r.prompt = "Once upon a time, there was a little";
      r.sampling.temperature = 1.0f;
      r.sampling.top_k = 0;
      r.sampling.top_p = 1.0f;
      r.sampling.min_p = 0.0f;
      r.sampling.seed = seed0 + static_cast<uint64_t>(i);
      r.stop.max_tokens = 4;
      r.stop.ignore_eos = true;
      r.speculative = {m, 3};
      reqs.push_back(r);
    }
    return run(e, reqs);
  };
  SpeculativeOptions so;
  so.draft_model_path = trunc4_;
  so.adaptive = false;
  auto e = make(so, 2048, true, 256);
  ASSERT_TRUE(e);
  const auto plain = sample_tokens(*e, SpecMethod::kOff, 1);
  const EngineStats before = e->stats();
  const auto spec = sample_tokens(*e, SpecMethod::kDraftModel, 10000000);
  const EngineStats after = e->stats();
  const int64_t drafted = after.spec_draft_tokens - before.spec_draft_tokens;
  const int64_t kept = after.spec_accepted_tokens - before.spec_accepted_tokens;
  EXPECT_GT(kept, drafted / 100) << "drafts must be kept sometimes";
  EXPECT_LT(kept, drafted * 9 / 10) << "and rejected often";
  for (size_t pos : {1, 2}) {
    std::map<TokenId, int> a, b;
    for (const auto& t : plain) ++a[t.at(pos)];
    for (const auto& t : spec) ++b[t.at(pos)];
    int df = 0;
    const double chi = homogeneity_chi2(a, b, &df);
    ASSERT_GT(df, 2);
    EXPECT_LT(chi, chi2_quantile_1e6(df)) << "token " << pos << ", df " << df;
  }
}

}  // namespace
}  // namespace tern
