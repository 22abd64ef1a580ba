// AVX2 + F16C versions of the F16-cache attention ops (see ops.h).
#include <immintrin.h>

#include "kernels/ops.h"
#include "kernels/quant.h"

namespace tern::kernels::detail {

float dot_f16_avx2(const float* q, const uint16_t* k, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i),
                           _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(k + i))), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8),
                           _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(k + i + 8))), acc1);
  }
  for (; i + 8 <= n; i += 8)
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i),
                           _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(k + i))), acc0);
  acc0 = _mm256_add_ps(acc0, acc1);
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc0), _mm256_extractf128_ps(acc0, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  float r = _mm_cvtss_f32(s);
  for (; i < n; ++i) r += q[i] * fp16_to_f32(k[i]);
  return r;
}

void axpy_f16_avx2(float* y, float s, const uint16_t* x, int64_t n) {
  const __m256 vs = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 xv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(vs, xv, _mm256_loadu_ps(y + i)));
  }
  for (; i < n; ++i) y[i] += s * fp16_to_f32(x[i]);
}

namespace {
inline __m256 load_h8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
}  // namespace

// Scores in dot_f16_ordered's order (ops.h). dim % 16 == 0: 16 lanes as two
// 8-lane halves (lo + hi is the first pairwise step, hsum8 the rest), four
// positions at a time; other dims take the scalar path.
void dot_rows_f16_avx2(const float* q, const uint16_t* const* rows, int64_t n_rows, int64_t dim, float* scores) {
  if (dim % 16 != 0) {
    for (int64_t p = 0; p < n_rows; ++p) scores[p] = dot_f16_ordered(q, rows[p], dim);
    return;
  }
  int64_t p = 0;
  for (; p + 4 <= n_rows; p += 4) {
    __m256 lo[4], hi[4];
    for (int j = 0; j < 4; ++j) lo[j] = hi[j] = _mm256_setzero_ps();
    for (int64_t i = 0; i < dim; i += 16) {
      const __m256 q0 = _mm256_loadu_ps(q + i), q1 = _mm256_loadu_ps(q + i + 8);
      for (int j = 0; j < 4; ++j) {
        lo[j] = _mm256_fmadd_ps(q0, load_h8(rows[p + j] + i), lo[j]);
        hi[j] = _mm256_fmadd_ps(q1, load_h8(rows[p + j] + i + 8), hi[j]);
      }
    }
    for (int j = 0; j < 4; ++j) scores[p + j] = hsum8(_mm256_add_ps(lo[j], hi[j]));
  }
  for (; p < n_rows; ++p) {
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    for (int64_t i = 0; i < dim; i += 16) {
      lo = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load_h8(rows[p] + i), lo);
      hi = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), load_h8(rows[p] + i + 8), hi);
    }
    scores[p] = hsum8(_mm256_add_ps(lo, hi));
  }
}

// out in weighted_sum_f16's order (ops.h): per block of 8 output columns,
// 16 accumulators, one per position lane p mod 16, summed pairwise at the end.
void weighted_sum_f16_avx2(const float* w, const uint16_t* const* rows, int64_t n_rows, int64_t dim, float* out) {
  for (int64_t i = 0; i < dim; i += 8) {
    __m256 acc[16];
    for (auto& a : acc) a = _mm256_setzero_ps();
    int64_t p = 0;
    for (; p + 16 <= n_rows; p += 16)
      for (int j = 0; j < 16; ++j) acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(w[p + j]), load_h8(rows[p + j] + i), acc[j]);
    for (int j = 0; p + j < n_rows; ++j) acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(w[p + j]), load_h8(rows[p + j] + i), acc[j]);
    for (int d = 8; d >= 1; d /= 2)
      for (int j = 0; j < d; ++j) acc[j] = _mm256_add_ps(acc[j], acc[j + d]);
    _mm256_storeu_ps(out + i, acc[0]);
  }
}

}  // namespace tern::kernels::detail
