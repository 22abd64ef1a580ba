// AVX2 kernels for the K-quants (Q4_K, Q6_K) on the GGUF layout, for CPUs
// without AVX-512 VNNI. Activations: one f32 scale and 256 int8 per
// super-block (ggml's Q8_K, natural order) plus int16 sums per 16.
//
// maddubs (u8 x s8 -> pairs summed to s16) never saturates here: Q4_K
// nibbles give 2*15*127 = 3810, Q6_K's 6-bit values 2*63*127 = 16002. The
// following madd by the sub-block scale widens to int32 and applies the
// scale in the same instruction.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "kernels/matmul_impl.h"
#include "kernels/quant.h"

namespace tern::kernels {
namespace {

struct alignas(32) ActK2 {
  float d;
  float pad[7];
  int8_t q[256];
  int16_t s16[16];  // sums of q per 16
};
static_assert(sizeof(ActK2) == 320);

int64_t act_bytes(int64_t cols) { return cols / 256 * int64_t(sizeof(ActK2)); }

void prep(const float* x, int64_t cols, uint8_t* dst) {
  auto* y = reinterpret_cast<ActK2*>(dst);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < cols / 256; ++b, x += 256) {
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < 32; ++i) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * i)));
    alignas(32) float mm[8];
    _mm256_store_ps(mm, m);
    float amax = 0;
    for (float v : mm) amax = std::max(amax, v);
    const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    for (int i = 0; i < 8; ++i) {  // 32 values per step
      __m256i q[4];
      for (int k = 0; k < 4; ++k)
        q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 32 * i + 8 * k), id),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
      p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].q + 32 * i), p);
    }
    for (int j = 0; j < 16; ++j) {
      int s = 0;
      for (int k = 0; k < 16; ++k) s += y[b].q[16 * j + k];
      y[b].s16[j] = int16_t(s);
    }
    y[b].d = amax / 127.0f;
  }
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256i ld(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// sum over 32 elements of u*a, each pair of 16-element halves scaled by its
// own int16 factor (sc: low 128 bits for elements 0..15, high for 16..31).
inline __m256i dot32(__m256i u, const int8_t* a, __m256i sc) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, ld(a)), sc);
}

template <int T>
void q4k_row(const BlockQ4_K* w, int64_t nsb, const ActK2* const* act, float* out, int64_t ldo) {
  const __m256i nib = _mm256_set1_epi8(0x0F);
  __m256 acc[T];
  float mins[T] = {};
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nsb; ++b) {
    uint8_t sc[8], m[8];
    for (int j = 0; j < 8; ++j) q4k_scale_min(j, w[b].scales, &sc[j], &m[j]);
    __m256i u[8], s[8];
    for (int j = 0; j < 4; ++j) {
      const __m256i v = ld(w[b].qs + 32 * j);
      u[2 * j] = _mm256_and_si256(v, nib);
      u[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), nib);
    }
    for (int j = 0; j < 8; ++j) s[j] = _mm256_set1_epi16(sc[j]);
    const float d = fp16_to_f32(w[b].d), dmin = fp16_to_f32(w[b].dmin);
    for (int t = 0; t < T; ++t) {
      const ActK2& a = act[t][b];
      __m256i isum = dot32(u[0], a.q, s[0]);
      for (int j = 1; j < 8; ++j) isum = _mm256_add_epi32(isum, dot32(u[j], a.q + 32 * j, s[j]));
      int msum = 0;
      for (int j = 0; j < 8; ++j) msum += m[j] * (a.s16[2 * j] + a.s16[2 * j + 1]);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d * a.d), acc[t]);
      mins[t] += dmin * a.d * float(msum);
    }
  }
  for (int t = 0; t < T; ++t) out[t * ldo] = hsum(acc[t]) - mins[t];
}

template <int T>
void q6k_row(const BlockQ6_K* w, int64_t nsb, const ActK2* const* act, float* out, int64_t ldo) {
  const __m256i nib = _mm256_set1_epi8(0x0F), two = _mm256_set1_epi8(0x03);
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nsb; ++b) {
    const int8_t* sc = w[b].scales;
    __m256i u[8], s[8];
    for (int h = 0; h < 2; ++h) {
      const __m256i l0 = ld(w[b].ql + 64 * h), l1 = ld(w[b].ql + 64 * h + 32), qh = ld(w[b].qh + 32 * h);
      auto hi = [&](int shift) { return _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, shift), two), 4); };
      u[4 * h + 0] = _mm256_or_si256(_mm256_and_si256(l0, nib), hi(0));
      u[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(l1, nib), hi(2));
      u[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), nib), hi(4));
      u[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), nib), hi(6));
    }
    for (int k = 0; k < 8; ++k)  // 32 elements = sub-blocks 2k, 2k+1
      s[k] = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
    const float d = fp16_to_f32(w[b].d);
    for (int t = 0; t < T; ++t) {
      const ActK2& a = act[t][b];
      __m256i isum = dot32(u[0], a.q, s[0]);
      for (int k = 1; k < 8; ++k) isum = _mm256_add_epi32(isum, dot32(u[k], a.q + 32 * k, s[k]));
      int corr = 0;  // values carry +32: subtract 32 * sum_j sc[j] * sum(a)_j
      for (int j = 0; j < 16; ++j) corr += sc[j] * a.s16[j];
      isum = _mm256_sub_epi32(isum, _mm256_setr_epi32(32 * corr, 0, 0, 0, 0, 0, 0, 0));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d * a.d), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) out[t * ldo] = hsum(acc[t]);
}

template <class B, int T>
void row_dispatch(const B* w, int64_t nsb, const ActK2* const* act, float* out, int64_t ldo) {
  if constexpr (std::is_same_v<B, BlockQ4_K>) q4k_row<T>(w, nsb, act, out, ldo);
  else q6k_row<T>(w, nsb, act, out, ldo);
}

template <class B>
void gemm(const detail::GemmArgs& a, int64_t r0, int64_t r1) {
  const WeightView& W = *a.W;
  const int64_t nsb = W.cols / 256;
  const B* base = static_cast<const B*>(W.data);
  const int64_t chunk = std::max<int64_t>(16, (256 * 1024) / (nsb * int64_t(sizeof(B))));
  for (int64_t c0 = r0; c0 < r1; c0 += chunk) {
    const int64_t c1 = std::min(r1, c0 + chunk);
    for (int64_t t0 = 0; t0 < a.n_tok; t0 += 4) {
      const int T = int(std::min<int64_t>(4, a.n_tok - t0));
      const ActK2* act[4];
      for (int t = 0; t < T; ++t) act[t] = reinterpret_cast<const ActK2*>(a.act + (t0 + t) * a.act_stride);
      for (int64_t r = c0; r < c1; ++r) {
        float* out = a.Y + t0 * W.rows + r;
        switch (T) {
          case 1: row_dispatch<B, 1>(base + r * nsb, nsb, act, out, W.rows); break;
          case 2: row_dispatch<B, 2>(base + r * nsb, nsb, act, out, W.rows); break;
          case 3: row_dispatch<B, 3>(base + r * nsb, nsb, act, out, W.rows); break;
          default: row_dispatch<B, 4>(base + r * nsb, nsb, act, out, W.rows); break;
        }
      }
    }
  }
}

constexpr detail::TypeKernel kQ4_K{act_bytes, prep, gemm<BlockQ4_K>, 4};
constexpr detail::TypeKernel kQ6_K{act_bytes, prep, gemm<BlockQ6_K>, 4};

}  // namespace

const detail::TypeKernel* detail::avx2_kquant_kernel(GgmlType t) {
  if (t == GgmlType::Q4_K) return &kQ4_K;
  if (t == GgmlType::Q6_K) return &kQ6_K;
  return nullptr;
}

}  // namespace tern::kernels
