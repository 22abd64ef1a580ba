#include "model/score_runner.h"

#include <algorithm>
#include <cmath>

#include "kernels/ops.h"
#include "kernels/quant.h"

namespace tern {

namespace {
constexpr int64_t kLogitRows = 64;  // rows of logits materialised at once
constexpr int64_t kRowBlock = 16;   // attention rows per job

template <typename T>
void grow(std::vector<T>& v, int64_t size) {
  if (static_cast<int64_t>(v.size()) < size) v.resize(static_cast<size_t>(size));
}
}  // namespace

ScoreRunner::ScoreRunner(const Model& model, ThreadPool& pool, int64_t max_packed_bytes) : model_(model), pool_(pool) {
  const ModelWeights& w = model.weights();
  std::vector<kernels::WeightView> views;
  for (const LayerWeights& L : w.layers)
    for (const kernels::WeightView* v : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) views.push_back(*v);
  views.push_back(w.output);
  int64_t bytes = 0;
  bool packable = true;
  for (const kernels::WeightView& v : views) {
    bytes += ((v.rows + 15) / 16) * 16 * v.cols * 4;
    packable = packable && v.layout == kernels::Layout::kGguf;
  }
  packed_ = packable && bytes <= max_packed_bytes;
  for (const kernels::WeightView& v : views) {
    Linear lin;
    lin.view = v;
    if (packed_) lin.panels = kernels::pack_panels(v);
    lin_.push_back(std::move(lin));
  }
  attn_scratch_.resize(static_cast<size_t>(pool.size()));
}

void ScoreRunner::apply(const Linear& w, const float* x, int64_t n, float* y) {
  if (packed_) kernels::gemm_panels(pool_, w.panels, x, n, y);
  else kernels::matmul(pool_, w.view, x, n, y);
}

Status ScoreRunner::score(std::span<const TokenId> tokens, float* logprobs) {
  const ModelConfig& c = model_.config();
  const ModelWeights& w = model_.weights();
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return InvalidArgument("empty sequence");
  if (c.head_dim > 256) return Unimplemented("prompt scoring supports head_dim up to 256");
  for (TokenId t : tokens)
    if (t < 0 || t >= c.n_vocab) return InvalidArgument("token id " + std::to_string(t) + " is out of range");
  const int64_t stride = (n + 15) / 16 * 16;
  grow(x_, n * c.dim);
  grow(xb_, n * c.dim);
  grow(q_, n * c.q_dim());
  grow(k_, n * c.kv_dim());
  grow(v_, n * c.kv_dim());
  grow(att_, n * c.q_dim());
  grow(hb_, n * c.ffn_dim);
  grow(hb2_, n * c.ffn_dim);
  kt_.assign(static_cast<size_t>(c.kv_dim() * stride), 0.0f);  // columns past n stay 0
  vt_.assign(static_cast<size_t>(c.kv_dim() * stride), 0.0f);
  for (auto& s : attn_scratch_) grow(s, 4 * stride);

  // x[t] = token_embd[tokens[t]]        [n, dim]
  const int64_t emb_row = row_bytes(w.token_embd.type, c.dim);
  for (int64_t t = 0; t < n; ++t)
    kernels::dequantize_row(w.token_embd.type, static_cast<const uint8_t*>(w.token_embd.data) + tokens[t] * emb_row,
                            &x_[t * c.dim], c.dim);
  const kernels::RopeParams rp{c.n_rot, c.rope_base, c.rope_freq_scale, c.rope_neox, w.rope_freqs};
  const int64_t half = c.n_rot / 2;
  grow(rope_cos_, n * half);
  grow(rope_sin_, n * half);
  for (int64_t t = 0; t < n; ++t) kernels::rope_table(t, rp, &rope_cos_[t * half], &rope_sin_[t * half]);
  for (int l = 0; l < c.n_layers; ++l) layer(l, n, stride);

  // logprobs[t + 1] = logits[t][tokens[t + 1]] - logsumexp(logits[t]), in
  // chunks of rows; the last token predicts nothing scored.
  logprobs[0] = 0.0f;
  const int64_t vocab = c.n_vocab;
  grow(logits_, kLogitRows * vocab);
  for (int64_t t0 = 0; t0 < n - 1; t0 += kLogitRows) {
    const int64_t len = std::min(kLogitRows, n - 1 - t0);
    for (int64_t i = 0; i < len; ++i)
      kernels::rmsnorm(&x_[(t0 + i) * c.dim], w.output_norm, &xb_[i * c.dim], c.dim, c.rms_eps);
    apply(lin_.back(), xb_.data(), len, logits_.data());
    auto reduce = [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) {
        const float* row = &logits_[i * vocab];
        logprobs[t0 + i + 1] = row[tokens[t0 + i + 1]] - kernels::logsumexp(row, vocab);
      }
    };
    if (vocab >= 8192) pool_.parallel_for(len, 1, reduce);
    else reduce(0, len, 0);
  }
  return Status::Ok();
}

void ScoreRunner::layer(int l, int64_t n, int64_t stride) {
  const ModelConfig& c = model_.config();
  const LayerWeights& L = model_.weights().layers[static_cast<size_t>(l)];
  const Linear* lin = &lin_[static_cast<size_t>(l) * 7];
  const int64_t dim = c.dim, qd = c.q_dim(), kvd = c.kv_dim(), ffn = c.ffn_dim, hd = c.head_dim;
  const kernels::RopeParams rp{c.n_rot, c.rope_base, c.rope_freq_scale, c.rope_neox, model_.weights().rope_freqs};

  // xb = rmsnorm(x); q, k, v = xb @ Wq, Wk, Wv (+ bias); rope; K^T, V^T.
  for (int64_t t = 0; t < n; ++t) kernels::rmsnorm(&x_[t * dim], L.attn_norm, &xb_[t * dim], dim, c.rms_eps);
  apply(lin[0], xb_.data(), n, q_.data());  // [n, q_dim]
  apply(lin[1], xb_.data(), n, k_.data());  // [n, kv_dim]
  apply(lin[2], xb_.data(), n, v_.data());  // [n, kv_dim]
  const int64_t half = c.n_rot / 2;
  for (int64_t t = 0; t < n; ++t) {
    if (L.bq) {
      kernels::add(&q_[t * qd], L.bq, qd);
      kernels::add(&k_[t * kvd], L.bk, kvd);
      kernels::add(&v_[t * kvd], L.bv, kvd);
    }
    const float* cs = &rope_cos_[t * half];
    const float* sn = &rope_sin_[t * half];
    for (int h = 0; h < c.n_heads; ++h) kernels::rope_apply(&q_[t * qd + h * hd], cs, sn, rp);
    for (int h = 0; h < c.n_kv_heads; ++h) kernels::rope_apply(&k_[t * kvd + h * hd], cs, sn, rp);
    for (int64_t e = 0; e < kvd; ++e) {  // e = g * hd + d
      kt_[e * stride + t] = k_[t * kvd + e];
      vt_[e * stride + t] = v_[t * kvd + e];
    }
  }

  // att[t, h] = softmax(q[t, h] . K[0..t] / sqrt(hd)) @ V[0..t]; jobs are
  // (head, block of 16 rows), head-major so that each worker's chunks cover
  // whole triangles.
  const int group = c.n_heads / c.n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t blocks = (n + kRowBlock - 1) / kRowBlock;
  pool_.parallel_for(c.n_heads * blocks, 1, [&](int64_t begin, int64_t end, int ti) {
    float* scratch = attn_scratch_[static_cast<size_t>(ti)].data();
    for (int64_t job = begin; job < end; ++job) {
      const int h = static_cast<int>(job / blocks), g = h / group;
      const int64_t r0 = (job % blocks) * kRowBlock, r1 = std::min(n, r0 + kRowBlock);
      kernels::attend_causal(&q_[h * hd], qd, r0, r1, &kt_[g * hd * stride], &vt_[g * hd * stride], stride,
                             static_cast<int>(hd), scale, &att_[h * hd], qd, scratch);
    }
  });
  apply(lin[3], att_.data(), n, xb_.data());  // [n, dim]
  for (int64_t t = 0; t < n; ++t) kernels::add(&x_[t * dim], &xb_[t * dim], dim);

  // x += W_down @ (silu(W_gate @ xb) * (W_up @ xb)), xb = rmsnorm(x).
  for (int64_t t = 0; t < n; ++t) kernels::rmsnorm(&x_[t * dim], L.ffn_norm, &xb_[t * dim], dim, c.rms_eps);
  apply(lin[4], xb_.data(), n, hb_.data());   // [n, ffn]
  apply(lin[5], xb_.data(), n, hb2_.data());  // [n, ffn]
  kernels::swiglu(hb_.data(), hb2_.data(), hb_.data(), n * ffn);
  apply(lin[6], hb_.data(), n, xb_.data());   // [n, dim]
  for (int64_t t = 0; t < n; ++t) kernels::add(&x_[t * dim], &xb_[t * dim], dim);
}

}  // namespace tern
