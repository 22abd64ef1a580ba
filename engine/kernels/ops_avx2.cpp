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

// Four positions at a time: four independent accumulators, one reduction each.
void dot_rows_f16_avx2(const float* q, const uint16_t* const* rows, int64_t n_rows, int64_t dim, float* scores) {
  int64_t p = 0;
  for (; p + 4 <= n_rows; p += 4) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (int64_t i = 0; i < dim; i += 8) {
      const __m256 qv = _mm256_loadu_ps(q + i);
      a0 = _mm256_fmadd_ps(qv, load_h8(rows[p] + i), a0);
      a1 = _mm256_fmadd_ps(qv, load_h8(rows[p + 1] + i), a1);
      a2 = _mm256_fmadd_ps(qv, load_h8(rows[p + 2] + i), a2);
      a3 = _mm256_fmadd_ps(qv, load_h8(rows[p + 3] + i), a3);
    }
    scores[p] = hsum8(a0);
    scores[p + 1] = hsum8(a1);
    scores[p + 2] = hsum8(a2);
    scores[p + 3] = hsum8(a3);
  }
  for (; p < n_rows; ++p) {
    __m256 a = _mm256_setzero_ps();
    for (int64_t i = 0; i < dim; i += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load_h8(rows[p] + i), a);
    scores[p] = hsum8(a);
  }
}

// Output columns in blocks of 64 held in 8 registers across all positions.
void weighted_sum_f16_avx2(const float* w, const uint16_t* const* rows, int64_t n_rows, int64_t dim, float* out) {
  int64_t i = 0;
  for (; i + 64 <= dim; i += 64) {
    __m256 acc[8];
    for (int j = 0; j < 8; ++j) acc[j] = _mm256_setzero_ps();
    for (int64_t p = 0; p < n_rows; ++p) {
      const __m256 wv = _mm256_set1_ps(w[p]);
      const uint16_t* r = rows[p] + i;
      for (int j = 0; j < 8; ++j) acc[j] = _mm256_fmadd_ps(wv, load_h8(r + 8 * j), acc[j]);
    }
    for (int j = 0; j < 8; ++j) _mm256_storeu_ps(out + i + 8 * j, acc[j]);
  }
  for (; i < dim; i += 8) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t p = 0; p < n_rows; ++p) acc = _mm256_fmadd_ps(_mm256_set1_ps(w[p]), load_h8(rows[p] + i), acc);
    _mm256_storeu_ps(out + i, acc);
  }
}

}  // namespace tern::kernels::detail
