// AVX-512 VNNI kernels for the K-quants (Q4_K, Q6_K) on the GGUF layout.
//
// Activations are quantized per 256-element super-block to int8 (one f32
// scale, ggml's Q8_K rounding) plus int32 sums of sub-blocks for the
// offset/min terms. Per super-block and token the weight nibbles are
// unpacked once, then each token costs 4 vpdpbusd (64 elements each) and an
// integer multiply by the expanded sub-block scales; a tile of up to 4 tokens
// shares the unpacking and scale decoding (prompt processing).
//
//   Q4_K: x ~ d*sc[j]*q - dmin*m[j], q in 0..15, 8 sub-blocks of 32
//         dot = d*da * sum_j sc[j]*(q.a)_j - dmin*da * sum_j m[j]*sum(a)_j
//   Q6_K: x ~ d*sc[j]*(q - 32), q in 0..63, 16 sub-blocks of 16
//         dot = d*da * sum_j sc[j]*((q.a)_j - 32*sum(a)_j)
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own
// `__m512 __Y = __Y;` idiom (a known false positive); silenced in this file only.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/matmul_impl.h"
#include "kernels/quant.h"

namespace tern::kernels {
namespace {

// One super-block of activations, 384 bytes, 64-aligned.
struct alignas(64) ActK {
  float d;
  float pad[15];
  int8_t q[256];  // Q4_K: each 128 reordered [0..31, 64..95, 32..63, 96..127]; Q6_K: natural
  int32_t s[16];  // Q4_K: lanes 8..15 = sums of sub-blocks of 32 (0..7 zero); Q6_K: sums per 16
};
static_assert(sizeof(ActK) == 384);

int64_t act_k_bytes(int64_t cols) { return cols / 256 * int64_t(sizeof(ActK)); }

template <bool kQ4>
void prep_k(const float* x, int64_t cols, uint8_t* dst) {
  auto* y = reinterpret_cast<ActK*>(dst);
  for (int64_t b = 0; b < cols / 256; ++b, x += 256) {
    __m512 m = _mm512_setzero_ps();
    for (int i = 0; i < 16; ++i) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + 16 * i)));
    const float amax = _mm512_reduce_max_ps(m);
    const __m512 id = _mm512_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    int8_t q[256];
    for (int i = 0; i < 16; ++i) {
      const __m512i v = _mm512_cvt_roundps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + 16 * i), id),
                                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16 * i), _mm512_cvtsepi32_epi8(v));
    }
    y[b].d = amax / 127.0f;
    std::memset(y[b].s, 0, sizeof y[b].s);
    if constexpr (kQ4) {
      for (int h = 0; h < 2; ++h) {
        const int8_t* src = q + 128 * h;
        int8_t* out = y[b].q + 128 * h;
        std::memcpy(out, src, 32);
        std::memcpy(out + 32, src + 64, 32);
        std::memcpy(out + 64, src + 32, 32);
        std::memcpy(out + 96, src + 96, 32);
      }
      for (int j = 0; j < 8; ++j) {
        int s = 0;
        for (int i = 0; i < 32; ++i) s += q[32 * j + i];
        y[b].s[8 + j] = s;
      }
    } else {
      std::memcpy(y[b].q, q, 256);
      for (int j = 0; j < 16; ++j) {
        int s = 0;
        for (int i = 0; i < 16; ++i) s += q[16 * j + i];
        y[b].s[j] = s;
      }
    }
  }
}

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

inline __m512i dp(__m512i w, const int8_t* a) {
  return _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, _mm512_loadu_si512(a));
}

// ---------------- Q4_K ----------------

template <int T>
void q4k_row(const BlockQ4_K* w, int64_t nsb, const ActK* const* act, float* out, int64_t ldo) {
  const __m512i nib = _mm512_set1_epi8(0x0F);
  const __m512i i02 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2);
  const __m512i one = _mm512_set1_epi32(1), four = _mm512_set1_epi32(4);
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nsb; ++b) {
    // 6-bit scales and mins -> bytes [sc0..7, m0..7] (the packing of q4k_scale_min).
    uint32_t aux[3], u[4];
    std::memcpy(aux, w[b].scales, 12);
    u[0] = aux[0] & 0x3f3f3f3f;
    u[1] = (aux[2] & 0x0f0f0f0f) | (((aux[0] >> 6) & 0x03030303) << 4);
    u[2] = aux[1] & 0x3f3f3f3f;
    u[3] = ((aux[2] >> 4) & 0x0f0f0f0f) | (((aux[1] >> 6) & 0x03030303) << 4);
    const __m512i sm = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u)));
    const __m512i s_lo0 = _mm512_permutexvar_epi32(i02, sm);  // [sc0 x8, sc2 x8]
    const __m512i s_hi0 = _mm512_permutexvar_epi32(_mm512_add_epi32(i02, one), sm);
    const __m512i s_lo1 = _mm512_permutexvar_epi32(_mm512_add_epi32(i02, four), sm);
    const __m512i s_hi1 = _mm512_permutexvar_epi32(_mm512_add_epi32(i02, _mm512_set1_epi32(5)), sm);
    const __m512i v0 = _mm512_loadu_si512(w[b].qs), v1 = _mm512_loadu_si512(w[b].qs + 64);
    const __m512i lo0 = _mm512_and_si512(v0, nib), hi0 = _mm512_and_si512(_mm512_srli_epi16(v0, 4), nib);
    const __m512i lo1 = _mm512_and_si512(v1, nib), hi1 = _mm512_and_si512(_mm512_srli_epi16(v1, 4), nib);
    const float d = h2f(w[b].d), dmin = h2f(w[b].dmin);
    for (int t = 0; t < T; ++t) {
      const ActK& a = act[t][b];
      __m512i s = _mm512_mullo_epi32(dp(lo0, a.q), s_lo0);
      s = _mm512_add_epi32(s, _mm512_mullo_epi32(dp(hi0, a.q + 64), s_hi0));
      s = _mm512_add_epi32(s, _mm512_mullo_epi32(dp(lo1, a.q + 128), s_lo1));
      s = _mm512_add_epi32(s, _mm512_mullo_epi32(dp(hi1, a.q + 192), s_hi1));
      const __m512i mins = _mm512_mullo_epi32(sm, _mm512_load_si512(a.s));  // lanes 8..15: m[j]*sum_j
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(d * a.d), acc[t]);
      acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mins), _mm512_set1_ps(dmin * a.d), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) out[t * ldo] = _mm512_reduce_add_ps(acc[t]);
}

// ---------------- Q6_K ----------------

template <int T>
void q6k_row(const BlockQ6_K* w, int64_t nsb, const ActK* const* act, float* out, int64_t ldo) {
  const __m512i nib = _mm512_set1_epi8(0x0F), two = _mm512_set1_epi8(0x03);
  const __m512i idx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  const __m512i four = _mm512_set1_epi32(4);
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nsb; ++b) {
    const __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].scales)));
    __m512i S[4], Q[4];
    __m512i ix = idx;
    for (int k = 0; k < 4; ++k, ix = _mm512_add_epi32(ix, four)) S[k] = _mm512_permutexvar_epi32(ix, sc);
    for (int h = 0; h < 2; ++h) {
      const __m512i ql = _mm512_loadu_si512(w[b].ql + 64 * h);
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qh + 32 * h));
      const __m512i qh01 = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
      const __m512i qh23 = _mm512_srli_epi16(qh01, 4);
      Q[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, nib), _mm512_slli_epi16(_mm512_and_si512(qh01, two), 4));
      Q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), nib),
                                     _mm512_slli_epi16(_mm512_and_si512(qh23, two), 4));
    }
    const float d = h2f(w[b].d);
    for (int t = 0; t < T; ++t) {
      const ActK& a = act[t][b];
      __m512i s = _mm512_mullo_epi32(dp(Q[0], a.q), S[0]);
      for (int k = 1; k < 4; ++k) s = _mm512_add_epi32(s, _mm512_mullo_epi32(dp(Q[k], a.q + 64 * k), S[k]));
      // q is offset by +32: subtract 32 * sum_j sc[j] * sum(a)_j.
      s = _mm512_sub_epi32(s, _mm512_slli_epi32(_mm512_mullo_epi32(sc, _mm512_load_si512(a.s)), 5));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(d * a.d), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) out[t * ldo] = _mm512_reduce_add_ps(acc[t]);
}

template <class B, template <int> class Row>
void gemm_k(const detail::GemmArgs& a, int64_t r0, int64_t r1) {
  const WeightView& W = *a.W;
  const int64_t nsb = W.cols / 256;
  const B* base = static_cast<const B*>(W.data);
  // Rows in chunks that stay in L2 while every 4-token tile (in L1) passes.
  const int64_t chunk = std::max<int64_t>(16, (256 * 1024) / (nsb * int64_t(sizeof(B))));
  for (int64_t c0 = r0; c0 < r1; c0 += chunk) {
    const int64_t c1 = std::min(r1, c0 + chunk);
    for (int64_t t0 = 0; t0 < a.n_tok; t0 += 4) {
      const int T = int(std::min<int64_t>(4, a.n_tok - t0));
      const ActK* act[4];
      for (int t = 0; t < T; ++t) act[t] = reinterpret_cast<const ActK*>(a.act + (t0 + t) * a.act_stride);
      for (int64_t r = c0; r < c1; ++r) {
        float* out = a.Y + t0 * W.rows + r;
        const B* w = base + r * nsb;
        switch (T) {
          case 1: Row<1>::run(w, nsb, act, out, W.rows); break;
          case 2: Row<2>::run(w, nsb, act, out, W.rows); break;
          case 3: Row<3>::run(w, nsb, act, out, W.rows); break;
          default: Row<4>::run(w, nsb, act, out, W.rows); break;
        }
      }
    }
  }
}

template <int T>
struct Q4KRow {
  static void run(const BlockQ4_K* w, int64_t n, const ActK* const* a, float* o, int64_t ld) { q4k_row<T>(w, n, a, o, ld); }
};
template <int T>
struct Q6KRow {
  static void run(const BlockQ6_K* w, int64_t n, const ActK* const* a, float* o, int64_t ld) { q6k_row<T>(w, n, a, o, ld); }
};

constexpr detail::TypeKernel kQ4_K{act_k_bytes, prep_k<true>, gemm_k<BlockQ4_K, Q4KRow>, 4};
constexpr detail::TypeKernel kQ6_K{act_k_bytes, prep_k<false>, gemm_k<BlockQ6_K, Q6KRow>, 4};

}  // namespace

const detail::TypeKernel* detail::avx512_kquant_kernel(GgmlType t) {
  if (t == GgmlType::Q4_K) return &kQ4_K;
  if (t == GgmlType::Q6_K) return &kQ6_K;
  return nullptr;
}

}  // namespace tern::kernels
