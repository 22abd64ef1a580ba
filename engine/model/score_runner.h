// ScoreRunner: the prompt-scoring forward pass. Given a whole token sequence
// it returns log P(token i | tokens 0..i-1) for every i, in one causal pass
// with no KV cache to manage (GenerationRequest::want_prompt_logprobs; prompt
// compression's self-information, opt/compress).
//
// Compared with ModelRunner::forward over a scratch cache it
//  * keeps K and V of the pass transposed per KV head (K^T [head_dim, n]),
//    so attention scores and outputs run 16 keys per vector for any head_dim
//    (kernels::attend_causal), parallel over (head, row block);
//  * multiplies by weights packed in 16-row panels (kernels::gemm_panels)
//    when the model is small enough to hold them as f32 (up to 64 MiB of
//    packed weights, e.g. stories260K or a 15M model), else by the model's own
//    weights through kernels::matmul;
//  * never materialises more than 64 rows of logits: each chunk of rows is
//    reduced to log-sum-exp and the target logit at once.
// Results equal ModelRunner's F32-cache logprobs up to f32 summation order
// (tests/model/score_runner_test.cpp: within 2e-4 on stories260K).
//
// Thread safety: one score() at a time per runner (it owns its scratch and
// runs on the caller's pool); the Model may be shared.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/score.h"
#include "model/model.h"

namespace tern {

class ScoreRunner {
 public:
  // Weights are packed into panels when that takes at most max_packed_bytes.
  static constexpr int64_t kDefaultMaxPackedBytes = int64_t{64} << 20;
  ScoreRunner(const Model& model, ThreadPool& pool, int64_t max_packed_bytes = kDefaultMaxPackedBytes);

  // logprobs[i] = log P(tokens[i] | tokens[0..i-1]) for i in [1, n); logprobs[0] = 0.
  // `logprobs` holds n floats. Fails on an empty sequence or an out-of-range token.
  Status score(std::span<const TokenId> tokens, float* logprobs);

  // True when the weights were packed into panels (the fast GEMM path).
  bool packed() const { return packed_; }

 private:
  // A linear layer: packed panels, or the model's weights as they are.
  struct Linear {
    kernels::WeightView view;
    kernels::PanelMatrix panels;
  };
  void apply(const Linear& w, const float* x, int64_t n, float* y);
  void layer(int l, int64_t n, int64_t stride);

  const Model& model_;
  ThreadPool& pool_;
  bool packed_ = false;
  std::vector<Linear> lin_;  // per layer: q, k, v, o, gate, up, down; then output
  // Scratch, grown to the longest sequence scored.
  std::vector<float> x_, xb_, q_, k_, v_, att_, hb_, hb2_, kt_, vt_, logits_;
  std::vector<float> rope_cos_, rope_sin_;
  std::vector<std::vector<float>> attn_scratch_;  // per thread: [4 * stride]
};

}  // namespace tern
