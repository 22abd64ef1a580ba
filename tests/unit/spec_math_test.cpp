// Speculative decoding math without a model: greedy and sampled verification
// (a chi-square test that the rejection rule keeps the target distribution),
// prompt lookup, the acceptance estimate, the step-cost model and the
// adaptive draft-length plan.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "spec/controller.h"
#include "spec/model_drafter.h"
#include "spec/ngram_drafter.h"
#include "spec/verify.h"

namespace tern::spec {
namespace {

TEST(VerifyGreedy, KeepsMatchingPrefixThenTheTargetsToken) {
  const std::vector<TokenId> d = {5, 6, 7};
  auto r = verify_greedy(d, std::vector<TokenId>{5, 6, 9, 1});
  EXPECT_EQ(r.num_accepted, 2);
  EXPECT_EQ(r.tokens, (std::vector<TokenId>{5, 6, 9}));
  r = verify_greedy(d, std::vector<TokenId>{5, 6, 7, 8});  // all kept: the bonus token
  EXPECT_EQ(r.num_accepted, 3);
  EXPECT_EQ(r.tokens, (std::vector<TokenId>{5, 6, 7, 8}));
  r = verify_greedy(d, std::vector<TokenId>{4, 6, 7, 8});  // first rejected
  EXPECT_EQ(r.num_accepted, 0);
  EXPECT_EQ(r.tokens, (std::vector<TokenId>{4}));
  r = verify_greedy({}, std::vector<TokenId>{3});
  EXPECT_EQ(r.tokens, (std::vector<TokenId>{3}));
}

std::vector<float> normalized(std::vector<float> w) {
  double s = 0;
  for (float x : w) s += x;
  for (float& x : w) x = static_cast<float>(x / s);
  return w;
}

// Pearson chi-square of observed counts against probabilities p over n draws.
double chi_square(const std::vector<int64_t>& counts, const std::vector<float>& p, int64_t n) {
  double chi = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double e = p[i] * static_cast<double>(n);
    if (e == 0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " has probability 0";
      continue;
    }
    chi += (counts[i] - e) * (counts[i] - e) / e;
  }
  return chi;
}

// 99.9999th percentile of chi-square with 7 degrees of freedom (8 tokens):
// a correct rule fails this with probability 1e-6 per test (seeds are fixed,
// so the outcome is deterministic anyway); a wrong one (e.g. dropping the
// residual draw, or always keeping drafts) exceeds it by orders of magnitude.
constexpr double kChi7 = 41.3;

struct Rng {
  std::mt19937_64 g{12345};
  double uniform() { return static_cast<double>(g() >> 11) * 0x1.0p-53; }
};

TEST(VerifySampled, RejectionRuleKeepsTargetDistribution) {
  const std::vector<float> p = normalized({0.30f, 0.05f, 0.20f, 0.0f, 0.15f, 0.10f, 0.12f, 0.08f});
  const std::vector<float> q = normalized({0.05f, 0.40f, 0.10f, 0.20f, 0.05f, 0.10f, 0.05f, 0.05f});
  Rng rng;
  UniformFn u = [&] { return rng.uniform(); };
  DrawFn draw = [&](std::span<const float> w) { return draw_index(w, rng.uniform()); };
  constexpr int64_t kN = 200000;
  std::vector<int64_t> counts(p.size(), 0);
  std::vector<float> scratch;
  int64_t kept = 0;
  for (int64_t i = 0; i < kN; ++i) {
    const TokenId x = draw_index(q, rng.uniform());  // the draft samples from q
    TokenId out = x;
    if (accept_or_resample(p, q, x, u, draw, &scratch, &out)) ++kept;
    else EXPECT_NE(out, -1);
    ++counts[static_cast<size_t>(out)];
  }
  EXPECT_LT(chi_square(counts, p, kN), kChi7);
  // Acceptance rate is sum(min(p, q)).
  double overlap = 0;
  for (size_t i = 0; i < p.size(); ++i) overlap += std::min(p[i], q[i]);
  EXPECT_NEAR(static_cast<double>(kept) / kN, overlap, 0.005);

  // Without the residual draw (emit a fresh draw from p on rejection) the
  // output is biased; the test statistic must see it.
  std::vector<int64_t> wrong(p.size(), 0);
  for (int64_t i = 0; i < kN; ++i) {
    const TokenId x = draw_index(q, rng.uniform());
    const bool keep = rng.uniform() * q[static_cast<size_t>(x)] < p[static_cast<size_t>(x)];
    ++wrong[static_cast<size_t>(keep ? x : draw_index(p, rng.uniform()))];
  }
  EXPECT_GT(chi_square(wrong, p, kN), 10 * kChi7);
}

TEST(VerifySampled, DeterministicProposalIsOneHotDraft) {
  // Prompt lookup proposes token 2 always: keep it with probability p(2),
  // otherwise draw from p without token 2.
  const std::vector<float> p = normalized({0.1f, 0.2f, 0.35f, 0.05f, 0.1f, 0.05f, 0.1f, 0.05f});
  Rng rng;
  UniformFn u = [&] { return rng.uniform(); };
  DrawFn draw = [&](std::span<const float> w) { return draw_index(w, rng.uniform()); };
  constexpr int64_t kN = 200000;
  std::vector<int64_t> counts(p.size(), 0);
  std::vector<float> scratch;
  for (int64_t i = 0; i < kN; ++i) {
    TokenId out = 2;
    accept_or_resample(p, {}, 2, u, draw, &scratch, &out);
    ++counts[static_cast<size_t>(out)];
  }
  EXPECT_LT(chi_square(counts, p, kN), kChi7);
}

TEST(VerifySampled, WholeChunkFirstTokenAndLengths) {
  // k = 3 drafts from q at every position; p differs per position. The first
  // emitted token must follow p(0); the number of tokens is 1..4.
  const std::vector<std::vector<float>> ps = {normalized({1, 2, 3, 4, 5, 6, 7, 8}), normalized({8, 7, 6, 5, 4, 3, 2, 1}),
                                              normalized({1, 1, 1, 1, 4, 4, 4, 4}), normalized({2, 2, 2, 2, 2, 2, 2, 2})};
  const std::vector<float> q = normalized({3, 3, 3, 3, 1, 1, 1, 1});
  Rng rng;
  UniformFn u = [&] { return rng.uniform(); };
  DrawFn draw = [&](std::span<const float> w) { return draw_index(w, rng.uniform()); };
  constexpr int64_t kN = 100000;
  std::vector<int64_t> counts(8, 0), lengths(5, 0);
  for (int64_t i = 0; i < kN; ++i) {
    std::vector<TokenId> d;
    for (int j = 0; j < 3; ++j) d.push_back(draw_index(q, rng.uniform()));
    auto r = verify_sampled(
        d, [&](int32_t j) { return std::span<const float>(ps[static_cast<size_t>(j)]); },
        [&](int32_t) { return std::span<const float>(q); }, u, draw,
        [&] { return draw_index(ps[3], rng.uniform()); });
    ASSERT_GE(r.tokens.size(), 1u);
    ASSERT_LE(r.tokens.size(), 4u);
    EXPECT_EQ(static_cast<int32_t>(r.tokens.size()), r.num_accepted + 1);
    ++counts[static_cast<size_t>(r.tokens[0])];
    ++lengths[r.tokens.size()];
  }
  EXPECT_LT(chi_square(counts, ps[0], kN), kChi7);
  EXPECT_GT(lengths[4], 0);
}

TEST(NgramLookup, ContinuesTheLatestMatchOfTheLongestSuffix) {
  // ... 1 2 3 [7 8 9] ... 1 2 3 -> 7 8 9
  const std::vector<TokenId> t = {1, 2, 3, 7, 8, 9, 4, 5, 1, 2, 3};
  EXPECT_EQ(ngram_lookup(t, 3, 1, 4), (std::vector<TokenId>{7, 8, 9}));
  EXPECT_EQ(ngram_lookup(t, 2, 1, 4), (std::vector<TokenId>{7, 8}));
  // The latest occurrence wins: 3 -> 5 here.
  const std::vector<TokenId> u = {3, 4, 3, 5, 6, 3};
  EXPECT_EQ(ngram_lookup(u, 2, 1, 1), (std::vector<TokenId>{5, 6}));
  // A proposal stops at the end of the context.
  const std::vector<TokenId> v = {7, 7, 7};
  EXPECT_EQ(ngram_lookup(v, 5, 1, 2), (std::vector<TokenId>{7}));
  EXPECT_TRUE(ngram_lookup(std::vector<TokenId>{1, 2, 3}, 4, 1, 3).empty());
  EXPECT_TRUE(ngram_lookup(std::vector<TokenId>{1}, 4, 1, 3).empty());
  EXPECT_TRUE(ngram_lookup(t, 0, 1, 3).empty());
  // min_n: a 1-token match is not enough at min_n 2.
  EXPECT_TRUE(ngram_lookup(std::vector<TokenId>{5, 1, 9, 5}, 2, 2, 3).empty());
}

TEST(Acceptance, TracksTheRateAndDriftsBackWhenIdle) {
  Acceptance a(0.5, 2.0, 0.9);
  EXPECT_DOUBLE_EQ(a.rate(), 0.5);
  for (int i = 0; i < 50; ++i) a.update(4, 4);
  EXPECT_GT(a.rate(), 0.95);
  for (int i = 0; i < 50; ++i) a.update(4, 0);
  EXPECT_LT(a.rate(), 0.15);
  const double low = a.rate();
  for (int i = 0; i < 200; ++i) a.idle();
  EXPECT_GT(a.rate(), low + 0.2);
}

TEST(StepCost, InterpolatesAndExtrapolates) {
  StepCost c(512, 1.0);
  EXPECT_FALSE(c.known());
  c.observe(1, 10.0);
  c.observe(8, 12.0);
  ASSERT_TRUE(c.known());
  EXPECT_DOUBLE_EQ(c.seconds(1), 10.0);
  EXPECT_NEAR(c.seconds(4), 10.0 + 2.0 * 3 / 7, 1e-9);
  EXPECT_NEAR(c.seconds(15), 12.0 + 2.0 / 7 * 7, 1e-9);  // the 1..8 slope continued
  c.observe(200, 50.0);
  EXPECT_GT(c.seconds(100), 12.0);
  EXPECT_LT(c.seconds(100), 50.0);
}

TEST(Plan, SpeculatesWhenMemoryBoundAndNotWhenComputeBound) {
  // Memory-bound: a pass over n tokens costs 10 + 0.2 n.
  StepCost mem(512, 1.0);
  for (int n : {1, 2, 4, 8, 16, 32, 64}) mem.observe(n, 10 + 0.2 * n);
  PlanConfig cfg;
  cfg.base_tokens = 1;
  std::vector<PlanInput> one = {{0.8, 8, false}};
  auto k = plan_draft_lengths(one, mem, cfg);
  EXPECT_GE(k[0], 5);
  // Low acceptance: a short draft at most.
  one[0].acceptance = 0.05;
  EXPECT_LE(plan_draft_lengths(one, mem, cfg)[0], 1);
  // Compute-bound (cost proportional to tokens): never.
  StepCost cpu(512, 1.0);
  for (int n : {1, 2, 4, 8, 16, 32, 64}) cpu.observe(n, 1.0 * n);
  one[0].acceptance = 0.8;
  EXPECT_EQ(plan_draft_lengths(one, cpu, cfg)[0], 0);
  // A model drafter whose position costs as much as a target pass: never.
  cfg.draft_step_seconds = 10;
  one[0].model_drafter = true;
  EXPECT_EQ(plan_draft_lengths(one, mem, cfg)[0], 0);
  // Nothing known yet: no speculation.
  EXPECT_EQ(plan_draft_lengths(one, StepCost(), PlanConfig{})[0], 0);
}

TEST(Plan, LargeBatchSwitchesOffAndBudgetIsRespected) {
  // Cost flat up to 16 tokens, then linear (compute-bound): a batch of 16
  // decodes gains nothing from more tokens.
  StepCost c(512, 1.0);
  for (int n : {1, 2, 4, 8, 16}) c.observe(n, 10.0);
  for (int n : {24, 32, 64, 128}) c.observe(n, 10.0 * n / 16);
  std::vector<PlanInput> many(16, PlanInput{0.7, 8, false});
  PlanConfig cfg;
  cfg.base_tokens = 16;
  for (int32_t k : plan_draft_lengths(many, c, cfg)) EXPECT_EQ(k, 0);
  // Two sequences with room to grow: drafts, within the budget, and the more
  // likely sequence gets the longer draft.
  std::vector<PlanInput> two = {{0.9, 8, false}, {0.5, 8, false}};
  cfg.base_tokens = 2;
  cfg.max_extra = 6;
  auto k = plan_draft_lengths(two, c, cfg);
  EXPECT_LE(k[0] + k[1], 6);
  EXPECT_GT(k[0], k[1]);
  // Caps are respected.
  two[0].max_draft = 2;
  cfg.max_extra = 100;
  EXPECT_LE(plan_draft_lengths(two, c, cfg)[0], 2);
}

TEST(Plan, AttentionCostAtLongContextsMakesDraftsCostly) {
  // Matmul part flat (memory-bound), but each attended position costs: at a
  // context of 8000 tokens an extra token costs 8 units, twice a short step.
  StepCost c(512, 1.0);
  for (int n : {1, 2, 4, 8, 16}) c.observe(n, 4.0);
  c.set_attention_cost(1e-3);
  EXPECT_DOUBLE_EQ(c.seconds(4, 100), 4.1);
  std::vector<PlanInput> seq = {{0.6, 8, false, 20}};
  PlanConfig cfg;
  cfg.base_tokens = 1;
  cfg.base_attended = 20;
  EXPECT_GT(plan_draft_lengths(seq, c, cfg)[0], 0);  // short context: drafts pay
  seq[0].context = 8000;
  cfg.base_attended = 8000;
  EXPECT_EQ(plan_draft_lengths(seq, c, cfg)[0], 0);  // long context: they do not
  // Observations are net of the attention term.
  c.observe(2, 4.0 + 1e-3 * 1000, 1000);
  EXPECT_DOUBLE_EQ(c.seconds(2), 4.0);
}

TEST(ExpectedTokens, GeometricSum) {
  EXPECT_DOUBLE_EQ(expected_tokens(0.5, 0), 1.0);
  EXPECT_DOUBLE_EQ(expected_tokens(0.5, 2), 1.75);
  EXPECT_DOUBLE_EQ(expected_tokens(1.0, 4), 5.0);
}

TEST(OutcomeCheck, ProbesAndVetoesWithBackoff) {
  OutcomeCheck oc;
  EXPECT_TRUE(oc.may_draft(1));
  EXPECT_FALSE(oc.may_draft(16));  // every 16th step is a plain probe
  oc.record(16, false, 1.0, 1);    // plain: 1 s per token
  // Drafting at 1.5 s per token: no veto on the first steps (noise), then one.
  int64_t step = 17;
  for (int i = 1; i < OutcomeCheck::kMinEvidence; ++i) {
    oc.record(step++, true, 3.0, 2);
    EXPECT_EQ(oc.veto_until(), 0) << i;
  }
  oc.record(step, true, 3.0, 2);
  EXPECT_EQ(oc.veto_until(), step + OutcomeCheck::kMinVeto);
  EXPECT_FALSE(oc.may_draft(step + 1));
  EXPECT_FALSE(oc.may_draft(step + OutcomeCheck::kMinVeto - 1));
  EXPECT_TRUE(oc.may_draft(step + OutcomeCheck::kMinVeto));
  // Losing again after each veto: the veto doubles, up to the cap.
  for (int64_t want = 2 * OutcomeCheck::kMinVeto; want <= 2 * OutcomeCheck::kMaxVeto; want *= 2) {
    step = oc.veto_until();
    for (int i = 0; i < OutcomeCheck::kMinEvidence; ++i) oc.record(++step, true, 3.0, 2);
    EXPECT_EQ(oc.veto_until() - step, std::min(want, OutcomeCheck::kMaxVeto));
  }
  // Drafting that clearly pays (0.5 s per token) resets the backoff.
  step = oc.veto_until();
  for (int i = 0; i < OutcomeCheck::kMinEvidence; ++i) oc.record(++step, true, 1.0, 2);
  EXPECT_EQ(oc.veto_length(), OutcomeCheck::kMinVeto);
  EXPECT_TRUE(oc.may_draft(step + 1));
}

TEST(OutcomeCheck, ToleratesNoiseWithinFivePercent) {
  OutcomeCheck oc;
  oc.record(1, false, 1.0, 1);
  for (int64_t s = 2; s < 40; ++s) oc.record(s, true, 2.08, 2);  // 1.04 s per token
  EXPECT_EQ(oc.veto_until(), 0);
}

TEST(OutcomeCheck, NoVetoWithoutAPlainMeasurement) {
  OutcomeCheck oc;
  for (int64_t s = 1; s < 10; ++s) oc.record(s, true, 10.0, 1);
  EXPECT_EQ(oc.veto_until(), 0);
  EXPECT_TRUE(oc.may_draft(10));
  oc.record(10, true, 0.0, 1);  // nonsense timings are ignored
  oc.record(11, false, 1.0, 0);
  EXPECT_TRUE(oc.may_draft(11));
}

TEST(SkipLayers, CandidatesKeepFirstAndLastLayer) {
  for (int32_t n : {3, 5, 12, 32}) {
    auto sets = skip_layer_candidates(n);
    ASSERT_FALSE(sets.empty()) << n;
    for (const auto& s : sets) {
      ASSERT_FALSE(s.empty());
      for (int32_t l : s) {
        EXPECT_GT(l, 0);
        EXPECT_LT(l, n - 1);
      }
    }
  }
  EXPECT_TRUE(skip_layer_candidates(2).empty());
}

}  // namespace
}  // namespace tern::spec
