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
//  * runs the per-token steps (norms, rope, SwiGLU, residuals) on every
//    thread, and stacks Q/K/V and gate/up into one GEMM each;
//  * never materialises more than 64 rows of logits: each chunk of rows is
//    reduced to log-sum-exp and the target logit at once.
// Results equal ModelRunner's F32-cache logprobs up to f32 summation order
// (tests/model/score_runner_test.cpp: within 2e-4 on stories260K).
//
// Several sequences (score_many): with packed weights and more than one
// thread, each sequence runs whole on one thread with its own scratch, the
// longest first, claimed by whichever thread is free. On narrow models the
// per-layer hand-offs of a parallel pass cost about as much as they save
// (2 threads gave 1.3-1.5x); independent sequences side by side give close
// to 2x.
//
// Thread safety: one score() or score_many() at a time per runner (it owns
// its scratch and runs on the caller's pool); the Model may be shared.
#pragma once

#include <cstdint>
#include <functional>
#include <new>
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

  // score() of every seqs[i] into out[i] (seqs[i].size() floats); one Status
  // per sequence, and a sequence that fails leaves the others unharmed.
  std::vector<Status> score_many(std::span<const std::span<const TokenId>> seqs, std::span<float* const> out);

  // True when the weights were packed into panels (the fast GEMM path).
  bool packed() const { return packed_; }

 private:
  // A linear layer, possibly several stacked ([Wq; Wk; Wv], [W_gate; W_up])
  // so that one GEMM writes their outputs side by side: packed panels, or
  // the model's own matrices multiplied one by one.
  struct Linear {
    std::vector<kernels::WeightView> parts;
    kernels::PanelMatrix panels;
    int64_t rows = 0;  // sum of the parts' rows: the output row stride
  };
  // 64-byte aligned, so that threads writing neighbouring parts of a row
  // never share a cache line.
  template <typename T>
  struct Aligned64 {
    using value_type = T;
    Aligned64() = default;
    template <typename U>
    Aligned64(const Aligned64<U>&) {}
    T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{64})); }
    void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t{64}); }
    bool operator==(const Aligned64&) const { return true; }
  };
  using Buffer = std::vector<float, Aligned64<float>>;
  // One pass's scratch, grown to the longest sequence it scored.
  struct Work {
    Buffer x, xb, qkv, att, gu, hb, kt, vt, logits, part;
    std::vector<float> rope_cos, rope_sin;
    std::vector<std::vector<float>> attn;  // per thread of the pass: [4 * stride]
  };

  Status check(std::span<const TokenId> tokens) const;
  // One checked sequence through the model. pool == nullptr: on the calling thread alone.
  void run(Work& w, ThreadPool* pool, std::span<const TokenId> tokens, float* logprobs);
  // Layer l for token rows [r0, r1), rows before r0 done (their K/V in place).
  void layer(Work& w, ThreadPool* pool, int l, int64_t r0, int64_t r1, int64_t stride);
  void apply(Work& w, ThreadPool* pool, const Linear& lin, const float* x, int64_t n, float* y);
  // fn(t0, t1) over token rows [0, n), split across the pool when worth it.
  static void for_rows(ThreadPool* pool, int64_t n, const std::function<void(int64_t, int64_t)>& fn);

  const Model& model_;
  ThreadPool& pool_;
  bool packed_ = false;
  std::vector<Linear> lin_;  // per layer: qkv, o, gate_up, down; then output
  std::vector<Work> work_;   // [0]: score(); [i]: thread i of score_many()
};

}  // namespace tern
