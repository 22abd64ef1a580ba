#include "model/score_runner.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "kernels/ops.h"
#include "kernels/quant.h"

namespace tern {

namespace {
constexpr int64_t kLogitRows = 64;  // rows of logits materialised at once
constexpr int64_t kRowBlock = 16;   // attention rows per job
// Token rows a layer runs at once: only the residual stream and K^T/V^T
// hold every row, the other activations (the FFN's 3 x ffn_dim floats per
// row above all) hold a chunk's. A multiple of kRowBlock.
constexpr int64_t kChunkRows = 512;

template <typename V>
void grow(V& v, int64_t size) {
  if (static_cast<int64_t>(v.size()) < size) v.resize(static_cast<size_t>(size));
}
}  // namespace

ScoreRunner::ScoreRunner(const Model& model, ThreadPool& pool, int64_t max_packed_bytes) : model_(model), pool_(pool) {
  const ModelWeights& w = model.weights();
  for (const LayerWeights& L : w.layers) {
    lin_.push_back({{L.wq, L.wk, L.wv}, {}, 0});
    lin_.push_back({{L.wo}, {}, 0});
    lin_.push_back({{L.w_gate, L.w_up}, {}, 0});
    lin_.push_back({{L.w_down}, {}, 0});
  }
  lin_.push_back({{w.output}, {}, 0});
  int64_t bytes = 0;
  bool packable = true;
  for (Linear& lin : lin_) {
    for (const kernels::WeightView& v : lin.parts) {
      lin.rows += v.rows;
      packable = packable && v.layout == kernels::Layout::kGguf;
    }
    bytes += (lin.rows + 15) / 16 * 16 * lin.parts.front().cols * 4;
  }
  packed_ = packable && bytes <= max_packed_bytes;
  if (packed_)
    for (Linear& lin : lin_) lin.panels = kernels::pack_panels(lin.parts);
  work_.resize(static_cast<size_t>(pool.size()));
  work_[0].attn.resize(static_cast<size_t>(pool.size()));
  for (size_t i = 1; i < work_.size(); ++i) work_[i].attn.resize(1);
}

// y [n, lin.rows] = x [n, cols] @ lin^T
void ScoreRunner::apply(Work& w, ThreadPool* pool, const Linear& lin, const float* x, int64_t n, float* y) {
  if (packed_) {
    if (pool) return kernels::gemm_panels(*pool, lin.panels, x, n, y);
    return kernels::gemm_panels(lin.panels, x, n, y);
  }
  // Unpacked weights run only in score() (score_many() takes them one by one with the pool).
  if (lin.parts.size() == 1) return kernels::matmul(*pool, lin.parts.front(), x, n, y);
  int64_t col = 0;
  for (const kernels::WeightView& part : lin.parts) {  // each part alone, then into its columns
    grow(w.part, n * part.rows);
    kernels::matmul(*pool, part, x, n, w.part.data());
    for (int64_t t = 0; t < n; ++t)
      std::memcpy(y + t * lin.rows + col, &w.part[t * part.rows], sizeof(float) * static_cast<size_t>(part.rows));
    col += part.rows;
  }
}

void ScoreRunner::for_rows(ThreadPool* pool, int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  // Chunks of 16 rows: the 16 columns of K^T / V^T they write fill whole
  // cache lines, which two threads must not share.
  if (!pool || n < 32 || pool->size() == 1) return fn(0, n);
  pool->parallel_for(n, 16, [&](int64_t b, int64_t e, int) { fn(b, e); });
}

Status ScoreRunner::check(std::span<const TokenId> tokens) const {
  const ModelConfig& c = model_.config();
  if (tokens.empty()) return InvalidArgument("empty sequence");
  if (c.head_dim > 256) return Unimplemented("prompt scoring supports head_dim up to 256");
  for (TokenId t : tokens)
    if (t < 0 || t >= c.n_vocab) return InvalidArgument("token id " + std::to_string(t) + " is out of range");
  return Status::Ok();
}

Status ScoreRunner::score(std::span<const TokenId> tokens, float* logprobs) {
  TERN_RETURN_IF_ERROR(check(tokens));
  run(work_[0], &pool_, tokens, logprobs);
  return Status::Ok();
}

std::vector<Status> ScoreRunner::score_many(std::span<const std::span<const TokenId>> seqs, std::span<float* const> out) {
  std::vector<Status> st(seqs.size());
  std::vector<size_t> order;  // the checked sequences, longest first
  for (size_t i = 0; i < seqs.size(); ++i) {
    st[i] = check(seqs[i]);
    if (st[i].ok()) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return seqs[a].size() > seqs[b].size(); });
  if (!packed_ || pool_.size() == 1 || order.size() < 2) {
    for (size_t i : order) run(work_[0], &pool_, seqs[i], out[i]);
    return st;
  }
  // Threads claim sequences from a shared counter; a worker the OS has not
  // scheduled joins late or not at all (run_shared), never delaying the caller.
  std::atomic<size_t> next{0};
  pool_.run_shared([&](int ti, int) {
    for (size_t k; (k = next.fetch_add(1, std::memory_order_relaxed)) < order.size();)
      run(work_[static_cast<size_t>(ti)], nullptr, seqs[order[k]], out[order[k]]);
  });
  return st;
}

void ScoreRunner::run(Work& wk, ThreadPool* pool, std::span<const TokenId> tokens, float* logprobs) {
  const ModelConfig& c = model_.config();
  const ModelWeights& w = model_.weights();
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t stride = (n + 15) / 16 * 16;
  const int64_t m = std::min(n, kChunkRows);
  grow(wk.x, n * c.dim);
  grow(wk.xb, std::max(m, kLogitRows) * c.dim);
  grow(wk.qkv, m * (c.q_dim() + 2 * c.kv_dim()));
  grow(wk.att, m * c.q_dim());
  grow(wk.gu, m * 2 * c.ffn_dim);
  grow(wk.hb, m * c.ffn_dim);
  // K^T/V^T columns [0, n) are written before any row reads them; [n,
  // stride) are read with weight 0 and must be finite.
  grow(wk.kt, c.kv_dim() * stride);
  grow(wk.vt, c.kv_dim() * stride);
  for (int64_t e = 0; e < c.kv_dim(); ++e)
    for (int64_t j = n; j < stride; ++j) wk.kt[e * stride + j] = wk.vt[e * stride + j] = 0.0f;
  for (auto& s : wk.attn) grow(s, 4 * stride);

  // x[t] = token_embd[tokens[t]]        [n, dim]
  const int64_t emb_row = row_bytes(w.token_embd.type, c.dim);
  const kernels::RopeParams rp{c.n_rot, c.rope_base, c.rope_freq_scale, c.rope_neox, w.rope_freqs};
  const int64_t half = c.n_rot / 2;
  grow(wk.rope_cos, n * half);
  grow(wk.rope_sin, n * half);
  for_rows(pool, n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      kernels::dequantize_row(w.token_embd.type, static_cast<const uint8_t*>(w.token_embd.data) + tokens[t] * emb_row,
                              &wk.x[t * c.dim], c.dim);
      kernels::rope_table(t, rp, &wk.rope_cos[t * half], &wk.rope_sin[t * half]);
    }
  });
  for (int l = 0; l < c.n_layers; ++l)
    for (int64_t r0 = 0; r0 < n; r0 += kChunkRows) layer(wk, pool, l, r0, std::min(n, r0 + kChunkRows), stride);

  // logprobs[t + 1] = logits[t][tokens[t + 1]] - logsumexp(logits[t]), in
  // chunks of rows; the last token predicts nothing scored.
  logprobs[0] = 0.0f;
  const int64_t vocab = c.n_vocab;
  grow(wk.logits, kLogitRows * vocab);
  for (int64_t t0 = 0; t0 < n - 1; t0 += kLogitRows) {
    const int64_t len = std::min(kLogitRows, n - 1 - t0);
    for (int64_t i = 0; i < len; ++i)
      kernels::rmsnorm_row(&wk.x[(t0 + i) * c.dim], w.output_norm, &wk.xb[i * c.dim], c.dim, c.rms_eps);
    apply(wk, pool, lin_.back(), wk.xb.data(), len, wk.logits.data());
    auto reduce = [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) {
        const float* row = &wk.logits[i * vocab];
        logprobs[t0 + i + 1] = row[tokens[t0 + i + 1]] - kernels::logsumexp(row, vocab);
      }
    };
    if (pool && vocab >= 8192) pool->parallel_for(len, 1, reduce);
    else reduce(0, len, 0);
  }
}

void ScoreRunner::layer(Work& wk, ThreadPool* pool, int l, int64_t r0, int64_t r1, int64_t stride) {
  const ModelConfig& c = model_.config();
  const LayerWeights& L = model_.weights().layers[static_cast<size_t>(l)];
  const Linear* lin = &lin_[static_cast<size_t>(l) * 4];
  const int64_t dim = c.dim, qd = c.q_dim(), kvd = c.kv_dim(), ffn = c.ffn_dim, hd = c.head_dim;
  const int64_t qkv = qd + 2 * kvd;  // row stride of qkv_: [q | k | v]
  const kernels::RopeParams rp{c.n_rot, c.rope_base, c.rope_freq_scale, c.rope_neox, model_.weights().rope_freqs};
  const int64_t half = c.n_rot / 2;
  const int64_t m = r1 - r0;  // rows of the chunk; x, rope tables, K^T, V^T by sequence row t, the rest by t - r0
  float* x = &wk.x[r0 * dim];

  // xb = rmsnorm(x); [q | k | v] = xb @ [Wq; Wk; Wv] (+ bias); rope; K^T, V^T.
  for_rows(pool, m, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) kernels::rmsnorm_row(&x[i * dim], L.attn_norm, &wk.xb[i * dim], dim, c.rms_eps);
  });
  apply(wk, pool, lin[0], wk.xb.data(), m, wk.qkv.data());  // [m, q_dim + 2 kv_dim]
  for_rows(pool, m, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t t = r0 + i;
      float* q = &wk.qkv[i * qkv];
      float* k = q + qd;
      float* v = k + kvd;
      if (L.bq) {
        kernels::add(q, L.bq, qd);
        kernels::add(k, L.bk, kvd);
        kernels::add(v, L.bv, kvd);
      }
      const float* cs = &wk.rope_cos[t * half];
      const float* sn = &wk.rope_sin[t * half];
      for (int h = 0; h < c.n_heads; ++h) kernels::rope_apply(q + h * hd, cs, sn, rp);
      for (int h = 0; h < c.n_kv_heads; ++h) kernels::rope_apply(k + h * hd, cs, sn, rp);
      for (int64_t e = 0; e < kvd; ++e) {  // e = g * hd + d
        wk.kt[e * stride + t] = k[e];
        wk.vt[e * stride + t] = v[e];
      }
    }
  });

  // att[t, h] = softmax(q[t, h] . K[0..t] / sqrt(hd)) @ V[0..t]. Thread i
  // of T takes the blocks of 16 rows b with b mod 2T in {i, 2T-1-i} (a zig-
  // zag, so every thread gets as many short as long rows), all heads: no two
  // threads write the same row of att, so no cache line is shared.
  const int group = c.n_heads / c.n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t blocks = (m + kRowBlock - 1) / kRowBlock;
  auto attend = [&](int ti, int nt) {
    float* scratch = wk.attn[static_cast<size_t>(ti)].data();
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t mb = b % (2 * nt);
      if (mb != ti && mb != 2 * nt - 1 - ti) continue;
      const int64_t i0 = b * kRowBlock, i1 = std::min(m, i0 + kRowBlock);
      for (int h = 0; h < c.n_heads; ++h) {
        const int g = h / group;
        kernels::attend_causal(&wk.qkv[i0 * qkv + h * hd], qkv, r0 + i0, r0 + i1, &wk.kt[g * hd * stride],
                               &wk.vt[g * hd * stride], stride, static_cast<int>(hd), scale, &wk.att[i0 * qd + h * hd], qd,
                               scratch);
      }
    }
  };
  if (blocks == 1 || !pool || pool->size() == 1) attend(0, 1);
  else pool->run(attend);
  apply(wk, pool, lin[1], wk.att.data(), m, wk.xb.data());  // [m, dim]

  // x += xb; xb = rmsnorm(x); [g | u] = xb @ [W_gate; W_up]; x += silu(g) * u @ W_down^T.
  for_rows(pool, m, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      kernels::add(&x[i * dim], &wk.xb[i * dim], dim);
      kernels::rmsnorm_row(&x[i * dim], L.ffn_norm, &wk.xb[i * dim], dim, c.rms_eps);
    }
  });
  apply(wk, pool, lin[2], wk.xb.data(), m, wk.gu.data());  // [m, 2 ffn]
  for_rows(pool, m, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) kernels::silu_mul(&wk.gu[i * 2 * ffn], &wk.gu[i * 2 * ffn + ffn], &wk.hb[i * ffn], ffn);
  });
  apply(wk, pool, lin[3], wk.hb.data(), m, wk.xb.data());  // [m, dim]
  for_rows(pool, m, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) kernels::add(&x[i * dim], &wk.xb[i * dim], dim);
  });
}

}  // namespace tern
