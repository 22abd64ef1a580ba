// Verification of draft tokens: which of k proposed tokens a target model
// keeps, and which token it adds after them. Plain math over probability
// rows; no model, no KV cache (engine/api runs the forward pass and rolls the
// cache back to what this returns).
//
//   positions     target rows p[0..k] come from one forward pass over
//                 [last, d_1 .. d_k]: p[j] is the target's distribution of
//                 the token after d_j (d_0 = last).
//   greedy        t_j = argmax-pipeline(p[j]); keep d_1..d_m while d_j == t_j,
//                 then emit t_{m+1} (the correction, or the bonus when m == k).
//                 Output equals plain greedy decoding token for token.
//   sampled       (Leviathan et al. 2023; Chen et al. 2023) for j = 1..k:
//                 keep d_j with probability min(1, p_j(d_j) / q_j(d_j)); on the
//                 first rejection emit a draw from norm(max(0, p_j - q_j)) and
//                 stop; when all k are kept emit a draw from p_{k+1}. Each
//                 emitted token is distributed exactly as the target's p,
//                 whatever q is (q_j(d_j) > 0, d_j ~ q_j). A drafter that
//                 proposes deterministically (n-gram) has q_j one-hot at d_j:
//                 keep with probability p_j(d_j), else draw from p_j without d_j.
//
// The uniform source is the request's own sampler RNG, so a seeded request is
// reproducible (though not the same stream as non-speculative sampling).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "tern/types.h"

namespace tern::spec {

struct VerifyResult {
  int32_t num_accepted = 0;        // drafts kept, 0..k
  std::vector<TokenId> tokens;     // d_1..d_m then the correction/bonus token (m + 1 tokens)
};

// Greedy: targets[j] is the target's choice after d_j (j = 0..k); targets has
// draft.size() + 1 entries.
VerifyResult verify_greedy(std::span<const TokenId> draft, std::span<const TokenId> targets);

// One step of the sampled rule at one position. p: target distribution
// [n_vocab] (sums to 1); q: draft distribution [n_vocab], or empty for a
// deterministic proposal (one-hot at `token`). Returns true when `token` is
// kept; otherwise *replacement is drawn from the residual. `uniform` returns
// numbers in [0, 1); `draw` picks an index from unnormalized weights.
using UniformFn = std::function<double()>;
using DrawFn = std::function<int32_t(std::span<const float>)>;
bool accept_or_resample(std::span<const float> p, std::span<const float> q, TokenId token, const UniformFn& uniform,
                        const DrawFn& draw, std::vector<float>* scratch, TokenId* replacement);

// Whole chunk, sampled. p(j) returns the target distribution after d_j
// (j = 0..k), computed lazily (only positions that are reached are built);
// q(j) the draft distribution of d_{j+1} (j = 0..k-1), empty for one-hot.
// bonus() draws the token after d_k from p(k) when every draft is kept.
VerifyResult verify_sampled(std::span<const TokenId> draft, const std::function<std::span<const float>(int32_t)>& p,
                            const std::function<std::span<const float>(int32_t)>& q, const UniformFn& uniform,
                            const DrawFn& draw, const std::function<TokenId()>& bonus);

// Index drawn from non-negative unnormalized weights with one uniform; all
// zero gives 0. (The same rule as Sampler::draw, for tests without a Sampler.)
int32_t draw_index(std::span<const float> weights, double u);

}  // namespace tern::spec
