// Sampler: turns one row of logits into one token, per SamplingParams.
//
//   Sampler sampler(params, n_vocab);             // allocates O(n_vocab) once
//   TokenId t = sampler.sample(logits, history);  // per token, no allocation
//   float lp = Sampler::logprob(logits, t);       // raw log-softmax, as OpenAI reports
//
// Stages, in this order (include/tern/types.h):
//   1. logit bias         logit += bias                     (params.logit_bias)
//   2. repetition penalty CTRL-style: logit / r if > 0, logit * r otherwise,
//                         once per distinct token in the window
//   3. presence/frequency logit -= presence * (count > 0) + frequency * count
//   4. top-k              keep the k largest logits
//   5. top-p              keep the smallest set, best first, whose probability
//                         (softmax over what is left) reaches p; at least one
//   6. min-p              drop tokens with prob < min_p * max prob
//   7. temperature        logit / T, softmax over the kept set
//   8. draw               one uniform from the seeded RNG against the CDF
// The penalty window is the last penalty_last_n tokens of `history` (-1: all
// of it, 0: penalties off); what history holds (prompt and/or output) is the
// caller's choice. temperature <= 0 is greedy: argmax after stages 1-3, ties
// to the lowest id, stages 4-8 and the RNG untouched.
//
// Ties everywhere are broken by token id (the lower id ranks first), so the
// kept sets are exact sets, not artifacts of a sort. NaN logits count as
// -infinity.
//
// Determinism: the RNG is std::mt19937_64, whose output the standard fixes,
// and uniforms are built from its bits here (53 bits -> [0, 1)), not by
// std::uniform_real_distribution. Weights use sample::exp_weight (exp.h), not
// libm's exp, and the candidate order comes from this file's own selection
// code or a sort by the total order, never from std::nth_element or a heap
// layout. So the same seed and logits give the same token with any compiler,
// standard library and libm, as long as float arithmetic is IEEE (no
// -ffast-math; FMA contraction can move a draw only when the uniform lands
// within an ulp or so of a CDF boundary).
//
// Cost per call (V = n_vocab), all O(V) passes over contiguous floats:
// copy + bias + penalties (O(V + window)); greedy: an argmax. With top-k: one
// heap pass, O(V log k) worst, about one compare per token in practice, then
// O(k log k). Without top-k: a vectorized exp pass, a sum, and, for top-p, an
// exponent histogram that bounds the nucleus from above, so only tokens that
// can be in it (or pass min-p) are copied and quickselected (O(kept)
// expected; after 2 log2(n) + 4 rounds the rest is sorted: O(kept log kept)).
// Measured on 152k logits drawn from N(0, 2.5), -O3, one core (CPU time):
// greedy 60 us, defaults (top-k 40) 125 us, top-k off + min-p 0.05 380 us,
// no truncation 760 us, top-p 0.95 alone 2.2 ms (that flat distribution puts
// 19% of the vocabulary in the nucleus; model logits are peakier).
// No allocation after construction.
//
// Thread safety: none; one Sampler per sequence (it owns that sequence's RNG).
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "tern/status.h"
#include "tern/types.h"

namespace tern {

class Sampler {
 public:
  // Checks params against n_vocab: finite numbers, repetition_penalty > 0,
  // penalty_last_n >= -1, n_probs >= 0, logit_bias ids inside the vocabulary,
  // no NaN bias. Call it on request input before constructing a Sampler.
  static Status validate(const SamplingParams& params, int32_t n_vocab);

  // Precondition: validate(params, n_vocab).ok(). A seed of
  // 0xFFFFFFFFFFFFFFFF draws a fresh one from std::random_device; seed()
  // reports the one in use.
  Sampler(const SamplingParams& params, int32_t n_vocab);

  // One token from logits [n_vocab]. history: tokens so far, oldest first;
  // its ids must be in [0, n_vocab). The logits are not modified.
  // If every logit is -infinity after stage 1-3 (all banned) the result is 0.
  TokenId sample(std::span<const float> logits, std::span<const TokenId> history);

  // The distribution sample() would draw from after all stages, written to
  // out [n_vocab] (zero outside the kept set, sums to 1; one-hot at the argmax
  // when greedy). Does not advance the RNG. For speculative decoding: accept a
  // draft token with probability min(1, p_target / p_draft).
  void probs(std::span<const float> logits, std::span<const TokenId> history, std::span<float> out);
  std::vector<float> probs(std::span<const float> logits, std::span<const TokenId> history);

  // A uniform double in [0, 1) from this sampler's RNG (53 random bits).
  double uniform();
  // Index drawn from non-negative, unnormalized weights with this sampler's
  // RNG (for the residual max(0, p - q) of speculative rejection). All-zero
  // weights give index 0.
  int32_t draw(std::span<const float> weights);

  // log-softmax of raw logits: the n best (logprob desc, id asc) and one
  // token's. O(V log n); they allocate only the returned vector.
  static std::vector<std::pair<TokenId, float>> top_logprobs(std::span<const float> logits, int n);
  static float logprob(std::span<const float> logits, TokenId token);

  const SamplingParams& params() const { return params_; }
  int32_t n_vocab() const { return n_vocab_; }
  uint64_t seed() const { return seed_; }

 private:
  struct Candidate {
    float logit;
    float weight;  // unnormalized probability, exp((logit - max) / T)
    TokenId id;
  };

  // Stages 1-7 into cand_[0, n); returns n. Greedy: n == 1, the argmax.
  size_t prepare(std::span<const float> logits, std::span<const TokenId> history);
  void apply_penalties(std::span<const TokenId> history);
  size_t top_k(size_t k);                           // work_ -> cand_[0, k), best first
  size_t select_best(size_t n);                     // cand_[0, n) -> its best
  size_t top_p(size_t n, double p, double total);  // total: mass of all candidates
  size_t min_p(size_t n, float min_p);

  SamplingParams params_;
  int32_t n_vocab_;
  uint64_t seed_;
  std::mt19937_64 rng_;
  // Buffers reused by every call.
  std::vector<float> work_;        // [n_vocab] logits after bias and penalties
  std::vector<float> weight_;      // [n_vocab] exp(work - max), when top-k is off
  std::vector<Candidate> cand_;    // [n_vocab] the candidates the stages narrow
  std::vector<int32_t> counts_;    // [n_vocab] all zero between calls
};

}  // namespace tern
