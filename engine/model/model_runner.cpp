#include "model/model_runner.h"

#include <cmath>
#include <cstring>

#include "kernels/ops.h"
#include "kernels/quant.h"

namespace tern {

ModelRunner::ModelRunner(const Model& model, KvPool& kv, ThreadPool& pool)
    : model_(model), kv_(kv), pool_(pool) {
  scores_.resize(static_cast<size_t>(pool.size()));
  krows_.resize(static_cast<size_t>(pool.size()));
  vrows_.resize(static_cast<size_t>(pool.size()));
}

void ModelRunner::resize(int64_t n) {
  const ModelConfig& c = model_.config();
  auto grow = [](std::vector<float>& v, int64_t size) {
    if (static_cast<int64_t>(v.size()) < size) v.resize(static_cast<size_t>(size));
  };
  grow(x_, n * c.dim);
  grow(xb_, n * c.dim);
  grow(q_, n * c.q_dim());
  grow(k_, n * c.kv_dim());
  grow(v_, n * c.kv_dim());
  grow(att_, n * c.q_dim());
  grow(hb_, n * c.ffn_dim);
  grow(hb2_, n * c.ffn_dim);
}

Status ModelRunner::validate(const ForwardBatch& b) const {
  const int64_t n = static_cast<int64_t>(b.tokens.size());
  if (n == 0) return InvalidArgument("empty batch");
  if (static_cast<int64_t>(b.positions.size()) != n || static_cast<int64_t>(b.seq_index.size()) != n)
    return InvalidArgument("batch arrays differ in length");
  const int bs = kv_.block_size();
  for (int64_t i = 0; i < n; ++i) {
    if (b.tokens[i] < 0 || b.tokens[i] >= model_.config().n_vocab)
      return InvalidArgument("token id " + std::to_string(b.tokens[i]) + " is out of range");
    const int32_t s = b.seq_index[i];
    if (s < 0 || s >= static_cast<int32_t>(b.block_tables.size())) return InvalidArgument("bad sequence index");
    const int32_t pos = b.positions[i];
    if (pos < 0 || pos / bs >= static_cast<int32_t>(b.block_tables[s].size()))
      return OutOfRange("position " + std::to_string(pos) + " is past the sequence's blocks");
  }
  for (const auto& table : b.block_tables)
    for (int32_t blk : table)
      if (blk < 0 || blk >= kv_.n_blocks()) return OutOfRange("block id out of range");
  for (size_t i = 0; i < b.logit_rows.size(); ++i)
    if (b.logit_rows[i] < 0 || b.logit_rows[i] >= n || (i > 0 && b.logit_rows[i] <= b.logit_rows[i - 1]))
      return InvalidArgument("logit rows must be ascending token indices");
  return Status::Ok();
}

// x[t] = token_embd[tokens[t]], then every layer.       x: [n, dim]
void ModelRunner::run_layers(const ForwardBatch& b, int64_t n) {
  const ModelConfig& c = model_.config();
  const ModelWeights& w = model_.weights();
  resize(n);
  const int64_t emb_row = row_bytes(w.token_embd.type, c.dim);
  for (int64_t t = 0; t < n; ++t)
    kernels::dequantize_row(w.token_embd.type, static_cast<const uint8_t*>(w.token_embd.data) + b.tokens[t] * emb_row,
                            &x_[t * c.dim], c.dim);
  fill_rope_table(b, n);
  for (int l = 0; l < c.n_layers; ++l)
    if (skip_.empty() || !skip_[static_cast<size_t>(l)]) layer(l, b, n);
}

Status ModelRunner::forward(const ForwardBatch& b, float* logits) {
  TERN_RETURN_IF_ERROR(validate(b));
  const ModelConfig& c = model_.config();
  const ModelWeights& w = model_.weights();
  run_layers(b, static_cast<int64_t>(b.tokens.size()));

  // logits[r] = output @ rmsnorm(x[logit_rows[r]])     [n_out, vocab]
  const int64_t n_out = static_cast<int64_t>(b.logit_rows.size());
  if (n_out == 0) return Status::Ok();
  if (static_cast<int64_t>(rows_.size()) < n_out * c.dim) rows_.resize(static_cast<size_t>(n_out * c.dim));
  for (int64_t r = 0; r < n_out; ++r)
    kernels::rmsnorm(&x_[b.logit_rows[r] * c.dim], w.output_norm, &rows_[r * c.dim], c.dim, c.rms_eps);
  kernels::matmul(pool_, w.output, rows_.data(), n_out, logits);
  return Status::Ok();
}

Status ModelRunner::embed(const ForwardBatch& b, float* out) {
  TERN_RETURN_IF_ERROR(validate(b));
  const ModelConfig& c = model_.config();
  const ModelWeights& w = model_.weights();
  const int64_t n = static_cast<int64_t>(b.tokens.size());
  run_layers(b, n);
  std::vector<float> row(static_cast<size_t>(c.dim));
  std::fill(out, out + c.dim, 0.0f);
  int64_t count = 0;
  for (int64_t t = 0; t < n; ++t) {
    if (b.seq_index[t] != 0) continue;
    kernels::rmsnorm(&x_[t * c.dim], w.output_norm, row.data(), c.dim, c.rms_eps);
    kernels::add(out, row.data(), c.dim);
    ++count;
  }
  double norm = 0;
  for (int i = 0; i < c.dim; ++i) norm += static_cast<double>(out[i]) * out[i];
  const float inv = norm > 0 ? static_cast<float>(1.0 / std::sqrt(norm)) : 0.0f;
  for (int i = 0; i < c.dim; ++i) out[i] *= count ? inv : 0.0f;
  return Status::Ok();
}

void ModelRunner::fill_rope_table(const ForwardBatch& b, int64_t n) {
  const ModelConfig& c = model_.config();
  const kernels::RopeParams rp{c.n_rot, c.rope_base, c.rope_freq_scale, c.rope_neox, model_.weights().rope_freqs};
  const size_t half = static_cast<size_t>(c.n_rot / 2);
  rope_cos_.resize(static_cast<size_t>(n) * half);
  rope_sin_.resize(static_cast<size_t>(n) * half);
  for (int64_t t = 0; t < n; ++t)
    kernels::rope_table(b.positions[t], rp, &rope_cos_[static_cast<size_t>(t) * half], &rope_sin_[static_cast<size_t>(t) * half]);
}

void ModelRunner::layer(int l, const ForwardBatch& b, int64_t n) {
  const ModelConfig& c = model_.config();
  const LayerWeights& L = model_.weights().layers[static_cast<size_t>(l)];
  const int64_t dim = c.dim, qd = c.q_dim(), kvd = c.kv_dim(), ffn = c.ffn_dim;

  // Attention block: xb = rmsnorm(x); q,k,v = xb @ Wq,Wk,Wv (+ bias); rope.
  for (int64_t t = 0; t < n; ++t) kernels::rmsnorm(&x_[t * dim], L.attn_norm, &xb_[t * dim], dim, c.rms_eps);
  kernels::matmul(pool_, L.wq, xb_.data(), n, q_.data());  // [n, q_dim]
  kernels::matmul(pool_, L.wk, xb_.data(), n, k_.data());  // [n, kv_dim]
  kernels::matmul(pool_, L.wv, xb_.data(), n, v_.data());  // [n, kv_dim]
  const kernels::RopeParams rp{c.n_rot, c.rope_base, c.rope_freq_scale, c.rope_neox, model_.weights().rope_freqs};
  for (int64_t t = 0; t < n; ++t) {
    if (L.bq) {
      kernels::add(&q_[t * qd], L.bq, qd);
      kernels::add(&k_[t * kvd], L.bk, kvd);
      kernels::add(&v_[t * kvd], L.bv, kvd);
    }
    const float* cs = &rope_cos_[static_cast<size_t>(t * (c.n_rot / 2))];
    const float* sn = &rope_sin_[static_cast<size_t>(t * (c.n_rot / 2))];
    for (int h = 0; h < c.n_heads; ++h) kernels::rope_apply(&q_[t * qd + h * c.head_dim], cs, sn, rp);
    for (int h = 0; h < c.n_kv_heads; ++h) kernels::rope_apply(&k_[t * kvd + h * c.head_dim], cs, sn, rp);
    const auto& table = b.block_tables[static_cast<size_t>(b.seq_index[t])];
    const int bs = kv_.block_size();
    const int64_t slot = int64_t{table[static_cast<size_t>(b.positions[t] / bs)]} * bs + b.positions[t] % bs;
    kv_.write(l, slot, &k_[t * kvd], &v_[t * kvd]);
  }
  attention(l, b, n);
  kernels::matmul(pool_, L.wo, att_.data(), n, xb_.data());  // [n, dim]
  for (int64_t t = 0; t < n; ++t) kernels::add(&x_[t * dim], &xb_[t * dim], dim);

  // Feed-forward block: x += W_down @ (silu(W_gate @ xb) * (W_up @ xb)).
  for (int64_t t = 0; t < n; ++t) kernels::rmsnorm(&x_[t * dim], L.ffn_norm, &xb_[t * dim], dim, c.rms_eps);
  kernels::matmul(pool_, L.w_gate, xb_.data(), n, hb_.data());  // [n, ffn]
  kernels::matmul(pool_, L.w_up, xb_.data(), n, hb2_.data());   // [n, ffn]
  kernels::swiglu(hb_.data(), hb2_.data(), hb_.data(), n * ffn);
  kernels::matmul(pool_, L.w_down, hb_.data(), n, xb_.data());  // [n, dim]
  for (int64_t t = 0; t < n; ++t) kernels::add(&x_[t * dim], &xb_[t * dim], dim);
}

// att[t, h] = softmax(q[t,h] . K[0..pos] / sqrt(hd)) @ V[0..pos] per token and
// head, K/V read through the token's block table. Parallel over (token, head).
// With an F16 cache the operands meet the cache's precision as in llama.cpp:
// q is rounded to f16 before q.k, and the softmax weights before weights @ V
// (f16 products, f32 sums); this keeps logits within ~1e-4 of llama.cpp's.
void ModelRunner::attention(int l, const ForwardBatch& b, int64_t n) {
  const ModelConfig& c = model_.config();
  const int hd = c.head_dim, group = c.n_heads / c.n_kv_heads;
  const int64_t qd = c.q_dim();
  const int bs = kv_.block_size();
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const bool f32 = kv_.type() == KvType::kF32;
  auto round_f16 = [](float x) { return kernels::fp16_to_f32(kernels::f32_to_fp16(x)); };
  pool_.parallel_for(n * c.n_heads, 1, [&](int64_t begin, int64_t end, int ti) {
    std::vector<float>& sc = scores_[static_cast<size_t>(ti)];
    float qh[512];
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / c.n_heads;
      const int h = static_cast<int>(job % c.n_heads), g = h / group;
      const int32_t pos = b.positions[t];
      const auto& table = b.block_tables[static_cast<size_t>(b.seq_index[t])];
      if (static_cast<int32_t>(sc.size()) < pos + 1) sc.resize(static_cast<size_t>(pos) + 1);
      const float* q = &q_[t * qd + h * hd];
      if (!f32) {
        for (int i = 0; i < hd; ++i) qh[i] = round_f16(q[i]);
        q = qh;
      }
      float* out = &att_[t * qd + h * hd];
      if (f32) {
        for (int32_t p = 0; p <= pos; ++p) {
          const int64_t slot = int64_t{table[static_cast<size_t>(p / bs)]} * bs + p % bs;
          sc[static_cast<size_t>(p)] = kernels::dot_f32(q, static_cast<const float*>(kv_.k_row(l, slot)) + g * hd, hd) * scale;
        }
        kernels::softmax(sc.data(), pos + 1);
        std::memset(out, 0, sizeof(float) * static_cast<size_t>(hd));
        for (int32_t p = 0; p <= pos; ++p) {
          const int64_t slot = int64_t{table[static_cast<size_t>(p / bs)]} * bs + p % bs;
          kernels::axpy(out, sc[static_cast<size_t>(p)], static_cast<const float*>(kv_.v_row(l, slot)) + g * hd, hd);
        }
        continue;
      }
      // F16 cache: gather the rows of positions 0..pos once per (token, head),
      // then scores, softmax and weights @ V in two kernels. The weights are
      // rounded to f16 first (f16 products, f32 sums), as in llama.cpp's
      // non-flash attention.
      std::vector<const uint16_t*>& kr = krows_[static_cast<size_t>(ti)];
      std::vector<const uint16_t*>& vr = vrows_[static_cast<size_t>(ti)];
      kr.resize(static_cast<size_t>(pos) + 1);
      vr.resize(static_cast<size_t>(pos) + 1);
      for (int32_t p = 0; p <= pos; ++p) {
        const int64_t slot = int64_t{table[static_cast<size_t>(p / bs)]} * bs + p % bs;
        kr[static_cast<size_t>(p)] = static_cast<const uint16_t*>(kv_.k_row(l, slot)) + g * hd;
        vr[static_cast<size_t>(p)] = static_cast<const uint16_t*>(kv_.v_row(l, slot)) + g * hd;
      }
      kernels::dot_rows_f16(q, kr.data(), pos + 1, hd, sc.data());
      for (int32_t p = 0; p <= pos; ++p) sc[static_cast<size_t>(p)] *= scale;
      kernels::softmax(sc.data(), pos + 1);
      for (int32_t p = 0; p <= pos; ++p) sc[static_cast<size_t>(p)] = round_f16(sc[static_cast<size_t>(p)]);
      kernels::weighted_sum_f16(sc.data(), vr.data(), pos + 1, hd, out);
    }
  });
}

}  // namespace tern
