// Kernels of the prompt-scoring forward (model/score_runner.h): a whole
// sequence scored at once, for the small models that prompt compression uses.
// Shapes are the ModelRunner's: [rows, cols] row-major, n tokens.
//
//   pack_panels(W)                  W [rows, cols] -> panels of 16 rows, f32
//   gemm_panels(pool, P, X, n, Y)   Y [n, rows] = X [n, cols] @ W^T
//   attend_causal(...)              one head's causal softmax attention over
//                                   keys and values stored transposed
//   logsumexp(x, n)                 log(sum exp x) over [n]
//   silu_mul, rmsnorm_row           the per-token steps, vectorised
//
// Why their own GEMM: on models 64 wide the general kernels' dot-product
// tiles spend more time folding lanes than multiplying (K is 2-4 vectors);
// panels of 16 rows, column-major within the panel, let one load of 16
// weights feed 8 tokens' broadcast multiply-adds with no horizontal sums.
// Why transposed K/V: with head_dim 8 a dot product per key leaves 15 of 16
// lanes idle; scores for 16 keys at once (K^T [head_dim, n]) and out[d] as a
// dot of the weights with V^T[d] keep every lane busy, for any head_dim.
//
// Numerics: f32 everywhere; sums in a different order from the ModelRunner's
// (relative differences around 1e-6); exp is a polynomial (Cephes' expf
// coefficients, relative error < 2e-7 on [-87, 88], exactly 0 below -87.3).
// Each op runs the widest of AVX-512, AVX2 and a baseline x86-64 build of one
// vector-extension source (score_impl.h); *_ref are scalar twins for tests.
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/matmul.h"

namespace tern::kernels {

// W's rows in panels of 16: data[(p * cols + c) * 16 + i] = W[16 p + i, c]
// (rows past the end are 0). Dequantized from any type dequantize_row reads;
// W must be in the kGguf layout.
struct PanelMatrix {
  std::vector<float> data;
  int64_t rows = 0, cols = 0;
  int64_t panels() const { return (rows + 15) / 16; }
};
PanelMatrix pack_panels(const WeightView& W);
// Several matrices with the same cols stacked row-wise ([Wq; Wk; Wv]): one
// GEMM then writes their outputs side by side in each token's row.
PanelMatrix pack_panels(const std::vector<WeightView>& parts);

// Y [n_tok, W.rows] = X [n_tok, W.cols] @ W^T; strides are cols and rows.
// Parallel over (token block, panel pair); one region.
void gemm_panels(ThreadPool& pool, const PanelMatrix& W, const float* X, int64_t n_tok, float* Y);
// The same on the calling thread alone (one sequence per thread: ScoreRunner::score_many).
void gemm_panels(const PanelMatrix& W, const float* X, int64_t n_tok, float* Y);
void gemm_panels_ref(const PanelMatrix& W, const float* X, int64_t n_tok, float* Y);

// Causal attention of one head for query rows [r0, r1) at positions r0..r1-1
// of a sequence that starts at position 0:
//   out[r] = softmax(scale * q[r] . K[0..r]) @ V[0..r]
// q: row r at q + (r - r0) * q_stride ([head_dim]); out likewise with
// out_stride (both point at row r0, so a caller may hold only those rows).
// kt, vt: K^T and V^T, [head_dim, kv_stride]: element (d, j) at
// kt[d * kv_stride + j]; kv_stride is a multiple of 16 and >= r1 rounded up
// to 16; columns [r1, r1 rounded up to 16) are read with weight 0 and must be
// finite (0). Columns past that are never read. scratch: 4 * kv_stride floats.
void attend_causal(const float* q, int64_t q_stride, int64_t r0, int64_t r1, const float* kt, const float* vt,
                   int64_t kv_stride, int head_dim, float scale, float* out, int64_t out_stride, float* scratch);
void attend_causal_ref(const float* q, int64_t q_stride, int64_t r0, int64_t r1, const float* kt, const float* vt,
                       int64_t kv_stride, int head_dim, float scale, float* out, int64_t out_stride);

// y[i] = silu(g[i]) * u[i] = g[i] / (1 + exp(-g[i])) * u[i]     [n]  (y may alias g or u)
void silu_mul(const float* g, const float* u, float* y, int64_t n);

// y = x / sqrt(mean(x^2) + eps) * w    [n]: kernels::rmsnorm with the sum of
// squares in f32 vector lanes (ops.h sums them one by one in f64: a serial
// chain that cost 5% of a scoring pass on 64-wide rows). Relative
// difference from it ~1e-7.
void rmsnorm_row(const float* x, const float* w, float* y, int64_t n, float eps);

// log(sum_i exp(x[i])), max-subtracted. n > 0.
float logsumexp(const float* x, int64_t n);
float logsumexp_ref(const float* x, int64_t n);

// The builds this CPU can run, widest first ("avx512", "avx2", "base"), and a
// switch among them for tests (not thread-safe; the widest is the default).
std::vector<const char*> score_isas();
bool set_score_isa(const char* name);

}  // namespace tern::kernels
