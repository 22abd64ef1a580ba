// The bodies of kernels/score.h, written once with GCC/Clang vector
// extensions (16 floats per vector) and compiled once per ISA: score_avx512.cpp,
// score_avx2.cpp and score_base.cpp include this file with TERN_SCORE_ISA set
// to their namespace; the compiler lowers a 16-float vector to one zmm, two
// ymm or four xmm registers. Requires -ffp-contract=fast (CMake sets it for
// score_*.cpp) so that a * b + c becomes a fused multiply-add.
#ifndef TERN_SCORE_ISA
#error "define TERN_SCORE_ISA before including score_impl.h"
#endif

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "kernels/score.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace tern::kernels::TERN_SCORE_ISA {
namespace {

typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));
constexpr int kW = 16;

inline vf load(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
// A broadcast (vf{} + x would add 0.0f first: x + 0 is not x for x = -0).
inline vf splat(float x) { return vf{x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
inline vf select(vi mask, vf a, vf b) { return (vf)(((vi)a & mask) | ((vi)b & ~mask)); }
#if defined(__AVX512F__)
inline vf vmax(vf a, vf b) { return (vf)_mm512_max_ps((__m512)a, (__m512)b); }
#else
inline vf vmax(vf a, vf b) { return select(a > b, a, b); }
#endif
typedef float vf8 __attribute__((vector_size(32)));
typedef float vf4 __attribute__((vector_size(16)));
inline float hsum(vf v) {  // pairwise: 16 -> 8 -> 4 -> 1
  const vf8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const vf4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
  return (b[0] + b[2]) + (b[1] + b[3]);
}
inline float hmax(vf v) {
  float m = v[0];
  for (int i = 1; i < kW; ++i) m = v[i] > m ? v[i] : m;
  return m;
}

// exp(x): x = n ln2 + r, |r| <= ln2/2; exp(r) by Cephes' expf polynomial;
// 2^n built in the exponent bits. Inputs below -87.3 give 0, above 88.3 are
// clamped (the callers only pass x <= 0).
inline vf vexp(vf x) {
  const vi under = x < splat(-87.3f);
  x = select(x > splat(88.3f), splat(88.3f), x);
  x = select(under, splat(0.0f), x);
  const vf t = x * splat(1.44269504088896341f);
  const vf n = (t + splat(12582912.0f)) - splat(12582912.0f);  // round to nearest
  vf r = x - n * splat(0.693359375f);
  r = r - n * splat(-2.12194440e-4f);
  vf p = splat(1.9875691500e-4f);
  p = p * r + splat(1.3981999507e-3f);
  p = p * r + splat(8.3334519073e-3f);
  p = p * r + splat(4.1665795894e-2f);
  p = p * r + splat(1.6666665459e-1f);
  p = p * r + splat(5.0000001201e-1f);
  p = p * (r * r) + r + splat(1.0f);
  const vi bits = (__builtin_convertvector(n, vi) + 127) << 23;
  return select(under, splat(0.0f), p * (vf)bits);
}

// 2^x for x <= 0 (attention weights with scores in log2 units): exactly 0
// below -126 and at -inf. 2^x = 2^n * 2^f, n = round(x), |f| <= 1/2, 2^f by
// a degree-5 polynomial (Chebyshev nodes; relative error < 2.4e-7 in f32).
// AVX-512: 2^n by vscalefps, 10 instructions in all; elsewhere vexp(x ln 2).
inline vf vexp2_neg(vf x) {
#if defined(__AVX512F__)
  x = vmax(x, splat(-200.0f));  // scalef(p, -200) underflows to exactly 0
  const vf n = (vf)_mm512_roundscale_ps((__m512)x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const vf f = x - n;
  vf p = splat(1.3390863314e-3f);
  p = p * f + splat(9.6760317683e-3f);
  p = p * f + splat(5.5503569543e-2f);
  p = p * f + splat(2.4022106826e-1f);
  p = p * f + splat(6.9314718246e-1f);
  p = p * f + splat(1.0000001192e+0f);
  return (vf)_mm512_scalef_ps((__m512)p, (__m512)n);
#else
  return vexp(x * splat(0.693147180559945309f));
#endif
}

// Y[t, 16 p0 + i] for NT tokens and NP (1 or 2) panels.
template <int NT, int NP>
inline void gemm_tile(const float* P, int64_t cols, const float* X, float* Y, int64_t rows, int64_t row0) {
  vf acc[NT][NP];
  for (int t = 0; t < NT; ++t)
    for (int p = 0; p < NP; ++p) acc[t][p] = vf{};
  const float* P1 = P + cols * kW;
  for (int64_t c = 0; c < cols; ++c) {
    vf w[NP];
    w[0] = load(P + c * kW);
    if constexpr (NP == 2) w[1] = load(P1 + c * kW);
    for (int t = 0; t < NT; ++t) {
      const vf x = splat(X[t * cols + c]);
      for (int p = 0; p < NP; ++p) acc[t][p] = w[p] * x + acc[t][p];
    }
  }
  for (int p = 0; p < NP; ++p) {
    const int64_t r = row0 + p * kW;
    const int64_t len = rows - r < kW ? rows - r : kW;
    for (int t = 0; t < NT; ++t) {
      if (len == kW) {
        store(Y + t * rows + r, acc[t][p]);
      } else {
        float tmp[kW];
        store(tmp, acc[t][p]);
        std::memcpy(Y + t * rows + r, tmp, sizeof(float) * static_cast<size_t>(len));
      }
    }
  }
}

template <int NP>
inline void gemm_tokens(const float* P, int64_t cols, const float* X, int64_t nt, float* Y, int64_t rows, int64_t row0) {
  constexpr int kT = 8;
  int64_t t = 0;
  for (; t + kT <= nt; t += kT) gemm_tile<kT, NP>(P, cols, X + t * cols, Y + t * rows, rows, row0);
  const float* x = X + t * cols;
  float* y = Y + t * rows;
  switch (nt - t) {
    case 7: return gemm_tile<7, NP>(P, cols, x, y, rows, row0);
    case 6: return gemm_tile<6, NP>(P, cols, x, y, rows, row0);
    case 5: return gemm_tile<5, NP>(P, cols, x, y, rows, row0);
    case 4: return gemm_tile<4, NP>(P, cols, x, y, rows, row0);
    case 3: return gemm_tile<3, NP>(P, cols, x, y, rows, row0);
    case 2: return gemm_tile<2, NP>(P, cols, x, y, rows, row0);
    case 1: return gemm_tile<1, NP>(P, cols, x, y, rows, row0);
    default: return;
  }
}

// NR query rows r..r+NR-1 of one head (see attend_causal): q and out point
// at row r. HD > 0: head_dim known at compile time (loops unrolled, q in
// broadcast operands), 0: hd.
template <int NR, int HD>
inline void attend_rows(const float* q, int64_t q_stride, int64_t r, const float* kt, const float* vt, int64_t kv_stride,
                        int hd_rt, float scale, float* out, int64_t out_stride, float* s) {
  const int hd = HD > 0 ? HD : hd_rt;
  const int64_t n_keys = r + NR;                // the last row sees keys 0..r+NR-1
  const int64_t nb = (n_keys + kW - 1) / kW;    // key blocks
  // Scores in log2 units: q is scaled by scale * log2(e), weights are 2^(s - max).
  float qs[NR][HD > 0 ? HD : 256];
  const float qscale = scale * 1.44269504088896341f;
  for (int i = 0; i < NR; ++i)
    for (int d = 0; d < hd; ++d) qs[i][d] = q[i * q_stride + d] * qscale;
  const vi lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  const vf ninf = splat(-std::numeric_limits<float>::infinity());
  // Scores, 16 keys per vector.
  vf m[NR];
  for (int i = 0; i < NR; ++i) m[i] = ninf;
  for (int64_t b = 0; b < nb; ++b) {
    vf acc[NR];
    for (int i = 0; i < NR; ++i) acc[i] = vf{};
    for (int d = 0; d < hd; ++d) {
      const vf k = load(kt + d * kv_stride + b * kW);
      for (int i = 0; i < NR; ++i) acc[i] = k * splat(qs[i][d]) + acc[i];
    }
    for (int i = 0; i < NR; ++i) {
      const int64_t past = r + i - b * kW;  // lanes above `past` are keys after row r+i
      if (past < kW - 1) acc[i] = select(lane > static_cast<int32_t>(past), ninf, acc[i]);
      store(s + i * kv_stride + b * kW, acc[i]);
      m[i] = vmax(m[i], acc[i]);
    }
  }
  // Softmax weights (unnormalised) and their sums; the rows interleaved so
  // that their exp chains overlap.
  vf mx[NR], sum[NR];
  for (int i = 0; i < NR; ++i) {
    mx[i] = splat(hmax(m[i]));
    sum[i] = vf{};
  }
  for (int64_t b = 0; b < nb; ++b)
    for (int i = 0; i < NR; ++i) {
      float* si = s + i * kv_stride + b * kW;
      const vf e = vexp2_neg(load(si) - mx[i]);
      store(si, e);
      sum[i] += e;
    }
  float inv[NR];
  for (int i = 0; i < NR; ++i) inv[i] = 1.0f / hsum(sum[i]);
  // out[d] = sum_j w[j] V^T[d, j], 16 keys per vector; four dims at a time
  // so that each weight vector is loaded once per four dims.
  int d = 0;
  for (; d + 4 <= hd; d += 4) {
    vf acc[NR][4];
    for (int i = 0; i < NR; ++i)
      for (int e = 0; e < 4; ++e) acc[i][e] = vf{};
    for (int64_t b = 0; b < nb; ++b) {
      vf w[NR];
      for (int i = 0; i < NR; ++i) w[i] = load(s + i * kv_stride + b * kW);
      for (int e = 0; e < 4; ++e) {
        const vf v = load(vt + (d + e) * kv_stride + b * kW);
        for (int i = 0; i < NR; ++i) acc[i][e] = w[i] * v + acc[i][e];
      }
    }
    for (int i = 0; i < NR; ++i)
      for (int e = 0; e < 4; ++e) out[i * out_stride + d + e] = hsum(acc[i][e]) * inv[i];
  }
  for (; d < hd; ++d) {
    vf acc[NR];
    for (int i = 0; i < NR; ++i) acc[i] = vf{};
    for (int64_t b = 0; b < nb; ++b) {
      const vf v = load(vt + d * kv_stride + b * kW);
      for (int i = 0; i < NR; ++i) acc[i] = load(s + i * kv_stride + b * kW) * v + acc[i];
    }
    for (int i = 0; i < NR; ++i) out[i * out_stride + d] = hsum(acc[i]) * inv[i];
  }
}

template <int HD>
inline void attend_range(const float* q, int64_t q_stride, int64_t r0, int64_t r1, const float* kt, const float* vt,
                         int64_t kv_stride, int hd, float scale, float* out, int64_t out_stride, float* scratch) {
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4)
    attend_rows<4, HD>(q + (r - r0) * q_stride, q_stride, r, kt, vt, kv_stride, hd, scale, out + (r - r0) * out_stride,
                       out_stride, scratch);
  for (; r < r1; ++r)
    attend_rows<1, HD>(q + (r - r0) * q_stride, q_stride, r, kt, vt, kv_stride, hd, scale, out + (r - r0) * out_stride,
                       out_stride, scratch);
}

}  // namespace

void gemm_panels_range(const PanelMatrix& W, const float* X, int64_t t0, int64_t t1, int64_t p0, int64_t p1, float* Y) {
  const int64_t cols = W.cols, rows = W.rows;
  for (int64_t p = p0; p < p1; p += 2) {
    const float* P = W.data.data() + p * cols * kW;
    if (p + 1 < p1) gemm_tokens<2>(P, cols, X + t0 * cols, t1 - t0, Y + t0 * rows, rows, p * kW);
    else gemm_tokens<1>(P, cols, X + t0 * cols, t1 - t0, Y + t0 * rows, rows, p * kW);
  }
}

void attend_causal(const float* q, int64_t q_stride, int64_t r0, int64_t r1, const float* kt, const float* vt,
                   int64_t kv_stride, int hd, float scale, float* out, int64_t out_stride, float* scratch) {
  switch (hd) {  // the head widths of small Llamas, unrolled; any other at run time
    case 8: return attend_range<8>(q, q_stride, r0, r1, kt, vt, kv_stride, hd, scale, out, out_stride, scratch);
    case 16: return attend_range<16>(q, q_stride, r0, r1, kt, vt, kv_stride, hd, scale, out, out_stride, scratch);
    case 32: return attend_range<32>(q, q_stride, r0, r1, kt, vt, kv_stride, hd, scale, out, out_stride, scratch);
    case 64: return attend_range<64>(q, q_stride, r0, r1, kt, vt, kv_stride, hd, scale, out, out_stride, scratch);
    default: return attend_range<0>(q, q_stride, r0, r1, kt, vt, kv_stride, hd, scale, out, out_stride, scratch);
  }
}

void silu_mul(const float* g, const float* u, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + kW <= n; i += kW) {
    const vf gv = load(g + i);
    store(y + i, gv / (splat(1.0f) + vexp(-gv)) * load(u + i));
  }
  for (; i < n; ++i) y[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void rmsnorm(const float* x, const float* w, float* y, int64_t n, float eps) {
  vf acc = vf{};
  int64_t i = 0;
  for (; i + kW <= n; i += kW) {
    const vf v = load(x + i);
    acc = v * v + acc;
  }
  float sum = hsum(acc);
  for (int64_t j = i; j < n; ++j) sum += x[j] * x[j];
  const float scale = 1.0f / std::sqrt(sum / static_cast<float>(n) + eps);
  const vf sv = splat(scale);
  for (i = 0; i + kW <= n; i += kW) store(y + i, load(x + i) * sv * load(w + i));
  for (; i < n; ++i) y[i] = x[i] * scale * w[i];
}

float logsumexp(const float* x, int64_t n) {
  const float ninf = -std::numeric_limits<float>::infinity();
  vf m = splat(ninf);
  int64_t i = 0;
  for (; i + kW <= n; i += kW) m = vmax(m, load(x + i));
  float mx = hmax(m);
  for (int64_t j = i; j < n; ++j) mx = x[j] > mx ? x[j] : mx;
  const vf mv = splat(mx);
  vf sum = vf{};
  for (i = 0; i + kW <= n; i += kW) sum += vexp(load(x + i) - mv);
  if (i < n) {
    float tail[kW];
    for (int j = 0; j < kW; ++j) tail[j] = i + j < n ? x[i + j] : ninf;
    sum += vexp(load(tail) - mv);
  }
  return mx + std::log(hsum(sum));
}

}  // namespace tern::kernels::TERN_SCORE_ISA
