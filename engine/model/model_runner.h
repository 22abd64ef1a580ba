// ModelRunner: one forward pass of a Llama-family model over a batch of
// tokens that may belong to several sequences (llama.cpp's "ubatch").
//
// Every token carries its sequence, its position and the KV slot its keys and
// values are written to; a token attends to positions 0..pos of its own
// sequence, read through that sequence's block table (paged attention). A
// single sequence with consecutive blocks is the contiguous-cache case.
//
// Shapes: n = tokens in the batch, dim = embedding, q_dim = heads * head_dim,
// kv_dim = kv_heads * head_dim. Thread safety: one forward() at a time per
// runner; the Model may be shared by several runners.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/thread_pool.h"
#include "model/kv_pool.h"
#include "model/model.h"

namespace tern {

struct ForwardBatch {
  std::span<const TokenId> tokens;      // [n]
  std::span<const int32_t> positions;   // [n] position within its sequence
  std::span<const int32_t> seq_index;   // [n] index into block_tables
  std::vector<std::span<const int32_t>> block_tables;  // per sequence: block ids covering 0..max pos
  std::span<const int32_t> logit_rows;  // token indices (ascending) whose logits are wanted
};

class ModelRunner {
 public:
  ModelRunner(const Model& model, KvPool& kv, ThreadPool& pool);

  // Runs the batch; writes logits [logit_rows.size(), n_vocab] to `logits`.
  // Fails (without touching the cache) on out-of-range tokens, positions or slots.
  Status forward(const ForwardBatch& batch, float* logits);

  // Mean-pooled, L2-normalised final hidden states of the batch's tokens of
  // sequence 0 (embeddings). Runs the same forward; `out` is [dim].
  Status embed(const ForwardBatch& batch, float* out);

  const Model& model() const { return model_; }
  KvPool& kv() { return kv_; }

  // Layers forward() skips (self-speculative drafting, SWIFT-style): skip[l]
  // != 0 leaves layer l out (its K/V are not written). Empty: every layer.
  void set_skip_layers(std::vector<uint8_t> skip) { skip_ = std::move(skip); }
  const std::vector<uint8_t>& skip_layers() const { return skip_; }

 private:
  Status validate(const ForwardBatch& b) const;
  void run_layers(const ForwardBatch& b, int64_t n);  // embeddings + every layer into x_
  void layer(int l, const ForwardBatch& b, int64_t n);
  void attention(int l, const ForwardBatch& b, int64_t n);
  void resize(int64_t n);
  void fill_rope_table(const ForwardBatch& b, int64_t n);  // cos/sin per token, shared by heads and layers

  const Model& model_;
  KvPool& kv_;
  ThreadPool& pool_;
  // Scratch, grown to the largest batch seen.
  std::vector<float> x_, xb_, q_, k_, v_, att_, hb_, hb2_, rows_;
  std::vector<std::vector<float>> scores_;  // per thread: [context] attention weights
  std::vector<float> rope_cos_, rope_sin_;  // [n, n_rot / 2]
  std::vector<std::vector<const uint16_t*>> krows_, vrows_;  // per thread: gathered F16 K/V rows
  std::vector<uint8_t> skip_;  // [n_layers] or empty
};

}  // namespace tern
