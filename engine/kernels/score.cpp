// kernels/score.h: packing, scalar references, and the run-time choice among
// the AVX-512 / AVX2 / baseline builds of score_impl.h.
#include "kernels/score.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>

#include "kernels/quant.h"

namespace tern::kernels {

#define TERN_SCORE_DECLARE(isa)                                                                                    \
  namespace isa {                                                                                                  \
  void gemm_panels_range(const PanelMatrix& W, const float* X, int64_t t0, int64_t t1, int64_t p0, int64_t p1,     \
                         float* Y);                                                                                \
  void attend_causal(const float* q, int64_t q_stride, int64_t r0, int64_t r1, const float* kt, const float* vt,   \
                     int64_t kv_stride, int hd, float scale, float* out, int64_t out_stride, float* scratch);      \
  float logsumexp(const float* x, int64_t n);                                                                      \
  void silu_mul(const float* g, const float* u, float* y, int64_t n);                                              \
  void rmsnorm(const float* x, const float* w, float* y, int64_t n, float eps);                                    \
  }
TERN_SCORE_DECLARE(avx512)
TERN_SCORE_DECLARE(avx2)
TERN_SCORE_DECLARE(base)
#undef TERN_SCORE_DECLARE

namespace {

enum class ScoreIsa { kAvx512, kAvx2, kBase };
ScoreIsa detect() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    return ScoreIsa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return ScoreIsa::kAvx2;
  return ScoreIsa::kBase;
}
const ScoreIsa kBest = detect();
ScoreIsa kIsa = kBest;
constexpr const char* kIsaNames[] = {"avx512", "avx2", "base"};

}  // namespace

std::vector<const char*> score_isas() {
  std::vector<const char*> out;
  for (int i = static_cast<int>(kBest); i <= static_cast<int>(ScoreIsa::kBase); ++i) out.push_back(kIsaNames[i]);
  return out;
}

bool set_score_isa(const char* name) {
  for (int i = static_cast<int>(kBest); i <= static_cast<int>(ScoreIsa::kBase); ++i)
    if (std::string_view(name) == kIsaNames[i]) {
      kIsa = static_cast<ScoreIsa>(i);
      return true;
    }
  return false;
}

PanelMatrix pack_panels(const WeightView& W) { return pack_panels(std::vector<WeightView>{W}); }

PanelMatrix pack_panels(const std::vector<WeightView>& parts) {
  PanelMatrix P;
  P.cols = parts.empty() ? 0 : parts.front().cols;
  for (const WeightView& W : parts) P.rows += W.rows;
  P.data.assign(static_cast<size_t>(P.panels() * P.cols * 16), 0.0f);
  std::vector<float> row(static_cast<size_t>(P.cols));
  int64_t r = 0;  // row of the stack
  for (const WeightView& W : parts) {
    const int64_t rb = row_bytes(W.type, W.cols);
    for (int64_t i = 0; i < W.rows; ++i, ++r) {
      dequantize_row(W.type, static_cast<const uint8_t*>(W.data) + i * rb, row.data(), W.cols);
      float* panel = P.data.data() + (r / 16) * P.cols * 16 + r % 16;
      for (int64_t c = 0; c < P.cols; ++c) panel[c * 16] = row[static_cast<size_t>(c)];
    }
  }
  return P;
}

namespace {
void gemm_range(const PanelMatrix& W, const float* X, int64_t t0, int64_t t1, int64_t p0, int64_t p1, float* Y) {
  switch (kIsa) {
    case ScoreIsa::kAvx512: return avx512::gemm_panels_range(W, X, t0, t1, p0, p1, Y);
    case ScoreIsa::kAvx2: return avx2::gemm_panels_range(W, X, t0, t1, p0, p1, Y);
    case ScoreIsa::kBase: return base::gemm_panels_range(W, X, t0, t1, p0, p1, Y);
  }
}
}  // namespace

// Jobs: token blocks of 64 x panel pairs, so that both threads get work when
// the matrix has few rows (64-wide models) or the batch few tokens.
void gemm_panels(ThreadPool& pool, const PanelMatrix& W, const float* X, int64_t n_tok, float* Y) {
  constexpr int64_t kTokBlock = 64;
  const int64_t tb = (n_tok + kTokBlock - 1) / kTokBlock, pp = (W.panels() + 1) / 2;
  auto run = [&](int64_t begin, int64_t end, int) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t0 = (job / pp) * kTokBlock, t1 = std::min(n_tok, t0 + kTokBlock);
      const int64_t p0 = (job % pp) * 2, p1 = std::min(W.panels(), p0 + 2);
      gemm_range(W, X, t0, t1, p0, p1, Y);
    }
  };
  if (tb * pp == 1) return run(0, 1, 0);
  pool.parallel_for(tb * pp, 1, run);
}

// Token blocks of 64, all panels of each: the block's activations stay in L1.
void gemm_panels(const PanelMatrix& W, const float* X, int64_t n_tok, float* Y) {
  constexpr int64_t kTokBlock = 64;
  for (int64_t t0 = 0; t0 < n_tok; t0 += kTokBlock) gemm_range(W, X, t0, std::min(n_tok, t0 + kTokBlock), 0, W.panels(), Y);
}

void gemm_panels_ref(const PanelMatrix& W, const float* X, int64_t n_tok, float* Y) {
  for (int64_t t = 0; t < n_tok; ++t)
    for (int64_t r = 0; r < W.rows; ++r) {
      const float* panel = W.data.data() + (r / 16) * W.cols * 16 + r % 16;
      float s = 0;
      for (int64_t c = 0; c < W.cols; ++c) s += panel[c * 16] * X[t * W.cols + c];
      Y[t * W.rows + r] = s;
    }
}

void attend_causal(const float* q, int64_t q_stride, int64_t r0, int64_t r1, const float* kt, const float* vt,
                   int64_t kv_stride, int head_dim, float scale, float* out, int64_t out_stride, float* scratch) {
  switch (kIsa) {
    case ScoreIsa::kAvx512: return avx512::attend_causal(q, q_stride, r0, r1, kt, vt, kv_stride, head_dim, scale, out, out_stride, scratch);
    case ScoreIsa::kAvx2: return avx2::attend_causal(q, q_stride, r0, r1, kt, vt, kv_stride, head_dim, scale, out, out_stride, scratch);
    case ScoreIsa::kBase: return base::attend_causal(q, q_stride, r0, r1, kt, vt, kv_stride, head_dim, scale, out, out_stride, scratch);
  }
}

void attend_causal_ref(const float* q, int64_t q_stride, int64_t r0, int64_t r1, const float* kt, const float* vt,
                       int64_t kv_stride, int head_dim, float scale, float* out, int64_t out_stride) {
  std::vector<double> w;
  for (int64_t r = r0; r < r1; ++r) {
    w.assign(static_cast<size_t>(r + 1), 0.0);
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j <= r; ++j) {
      double s = 0;
      for (int d = 0; d < head_dim; ++d) s += static_cast<double>(q[(r - r0) * q_stride + d]) * kt[d * kv_stride + j];
      w[static_cast<size_t>(j)] = s * scale;
      mx = std::max(mx, w[static_cast<size_t>(j)]);
    }
    double sum = 0;
    for (double& x : w) sum += (x = std::exp(x - mx));
    for (int d = 0; d < head_dim; ++d) {
      double o = 0;
      for (int64_t j = 0; j <= r; ++j) o += w[static_cast<size_t>(j)] * vt[d * kv_stride + j];
      out[(r - r0) * out_stride + d] = static_cast<float>(o / sum);
    }
  }
}

void silu_mul(const float* g, const float* u, float* y, int64_t n) {
  switch (kIsa) {
    case ScoreIsa::kAvx512: return avx512::silu_mul(g, u, y, n);
    case ScoreIsa::kAvx2: return avx2::silu_mul(g, u, y, n);
    case ScoreIsa::kBase: return base::silu_mul(g, u, y, n);
  }
}

void rmsnorm_row(const float* x, const float* w, float* y, int64_t n, float eps) {
  switch (kIsa) {
    case ScoreIsa::kAvx512: return avx512::rmsnorm(x, w, y, n, eps);
    case ScoreIsa::kAvx2: return avx2::rmsnorm(x, w, y, n, eps);
    case ScoreIsa::kBase: return base::rmsnorm(x, w, y, n, eps);
  }
}

float logsumexp(const float* x, int64_t n) {
  switch (kIsa) {
    case ScoreIsa::kAvx512: return avx512::logsumexp(x, n);
    case ScoreIsa::kAvx2: return avx2::logsumexp(x, n);
    case ScoreIsa::kBase: return base::logsumexp(x, n);
  }
  return logsumexp_ref(x, n);
}

float logsumexp_ref(const float* x, int64_t n) {
  double mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, static_cast<double>(x[i]));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - mx);
  return static_cast<float>(mx + std::log(sum));
}

}  // namespace tern::kernels
