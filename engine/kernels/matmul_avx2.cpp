// AVX2 + FMA + F16C matmul kernels (compiled with -mavx2 -mfma -mf16c; only
// reached when the CPU has them, see matmul.cpp).
//
//   F32 / F16 / BF16   f32 FMA, 4 weight rows per pass so each X load feeds 4 FMAs
//   Q8_0 / Q4_0        X quantized to ActQ8 blocks (f32 scale, 32 x int8),
//                      int8 dot via maddubs
//   Q4_K / Q6_K        int8 dot against Q8_K-style activations (matmul_kq_avx2.cpp)
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/matmul_impl.h"
#include "kernels/quant.h"

namespace tern::kernels {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// ---- F16 / BF16 weights: load 8 weights as f32 ----
struct LoadF16 {
  static __m256 load(const void* p, int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + i)));
  }
  static float one(const void* p, int64_t i) { return fp16_to_f32(static_cast<const uint16_t*>(p)[i]); }
  static constexpr int kBytes = 2;
};
struct LoadBF16 {
  static __m256 load(const void* p, int64_t i) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static float one(const void* p, int64_t i) { return bf16_to_f32(static_cast<const uint16_t*>(p)[i]); }
  static constexpr int kBytes = 2;
};

// Y[t, r..r+R) for one token: R row dots sharing each X load.
template <class L, int R>
void dot_rows(const uint8_t* w, int64_t rb, const float* x, int64_t n, float* y) {
  __m256 acc[R];
  for (int i = 0; i < R; ++i) acc[i] = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + 8 <= n; c += 8) {
    const __m256 xv = _mm256_loadu_ps(x + c);
    for (int i = 0; i < R; ++i) acc[i] = _mm256_fmadd_ps(L::load(w + i * rb, c), xv, acc[i]);
  }
  for (int i = 0; i < R; ++i) {
    float s = hsum(acc[i]);
    for (int64_t k = c; k < n; ++k) s += L::one(w + i * rb, k) * x[k];
    y[i] = s;
  }
}

// F32 weights in dot_f32_ordered's order (matmul.h): 16 lanes as two
// 8-lane halves when n % 16 == 0 (lo + hi is the first pairwise step, hsum
// the rest); otherwise 4 x 16 lanes over 64-element steps, then the tail.
template <int R>
void dot_rows_f32_ordered(const float* w, int64_t n, const float* x, float* y) {
  if (n % 16 == 0) {
    __m256 lo[R], hi[R];
    for (int i = 0; i < R; ++i) lo[i] = hi[i] = _mm256_setzero_ps();
    for (int64_t c = 0; c < n; c += 16) {
      const __m256 x0 = _mm256_loadu_ps(x + c), x1 = _mm256_loadu_ps(x + c + 8);
      for (int i = 0; i < R; ++i) {
        lo[i] = _mm256_fmadd_ps(_mm256_loadu_ps(w + i * n + c), x0, lo[i]);
        hi[i] = _mm256_fmadd_ps(_mm256_loadu_ps(w + i * n + c + 8), x1, hi[i]);
      }
    }
    for (int i = 0; i < R; ++i) y[i] = hsum(_mm256_add_ps(lo[i], hi[i]));
    return;
  }
  const int64_t np = n & ~int64_t{63};
  for (int i = 0; i < R; ++i) {
    const float* wr = w + i * n;
    __m256 s[8];
    for (auto& v : s) v = _mm256_setzero_ps();
    for (int64_t c = 0; c < np; c += 64)
      for (int k = 0; k < 8; ++k) s[k] = _mm256_fmadd_ps(_mm256_loadu_ps(wr + c + 8 * k), _mm256_loadu_ps(x + c + 8 * k), s[k]);
    // Lane groups g = 0..3 are (s[2g], s[2g+1]): fold 0+=2, 1+=3, 0+=1.
    for (int k = 0; k < 4; ++k) s[k] = _mm256_add_ps(s[k], s[k + 4]);
    s[0] = _mm256_add_ps(s[0], s[2]);
    s[1] = _mm256_add_ps(s[1], s[3]);
    float r = hsum(_mm256_add_ps(s[0], s[1]));
    for (int64_t c = np; c < n; ++c) r = std::fma(wr[c], x[c], r);
    y[i] = r;
  }
}

void gemm_f32_ordered(const detail::GemmArgs& a, int64_t r0, int64_t r1) {
  const WeightView& W = *a.W;
  const float* w = static_cast<const float*>(W.data);
  float tmp[4];
  for (int64_t r = r0; r < r1; r += 4) {
    const int nr = int(std::min<int64_t>(4, r1 - r));
    for (int64_t t = 0; t < a.n_tok; ++t) {
      const float* x = a.X + t * W.cols;
      if (nr == 4) dot_rows_f32_ordered<4>(w + r * W.cols, W.cols, x, tmp);
      else
        for (int i = 0; i < nr; ++i) dot_rows_f32_ordered<1>(w + (r + i) * W.cols, W.cols, x, tmp + i);
      for (int i = 0; i < nr; ++i) a.Y[t * W.rows + r + i] = tmp[i];
    }
  }
}

template <class L>
void gemm_float(const detail::GemmArgs& a, int64_t r0, int64_t r1) {
  const WeightView& W = *a.W;
  const int64_t rb = W.cols * L::kBytes;
  const auto* base = static_cast<const uint8_t*>(W.data);
  float tmp[4];
  for (int64_t r = r0; r < r1; r += 4) {
    const int nr = int(std::min<int64_t>(4, r1 - r));
    for (int64_t t = 0; t < a.n_tok; ++t) {
      const float* x = a.X + t * W.cols;
      if (nr == 4) dot_rows<L, 4>(base + r * rb, rb, x, W.cols, tmp);
      else
        for (int i = 0; i < nr; ++i) dot_rows<L, 1>(base + (r + i) * rb, rb, x, W.cols, tmp + i);
      for (int i = 0; i < nr; ++i) a.Y[t * W.rows + r + i] = tmp[i];
    }
  }
}

// ---- Q8_0 / Q4_0 against 8-bit activations ----

struct ActQ8 {
  float d;      // scale
  float s;      // d * sum(qs), for Q4_0's -8 offset
  int8_t qs[32];
};

int64_t act_q8_bytes(int64_t cols) { return cols / 32 * int64_t(sizeof(ActQ8)); }

void prep_q8(const float* x, int64_t cols, uint8_t* dst) {
  auto* y = reinterpret_cast<ActQ8*>(dst);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < cols / 32; ++b, x += 32) {
    __m256 v[4];
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i) {
      v[i] = _mm256_loadu_ps(x + 8 * i);
      m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[i]));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float d = amax / 127.f;
    const __m256 id = _mm256_set1_ps(d != 0.0f ? 127.f / amax : 0.0f);
    __m256i q[4];
    for (int i = 0; i < 4; ++i)
      q[i] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[i], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    // Pack 32 int32 -> 32 int8 in order (packs interleave 128-bit lanes; permute fixes it).
    __m256i p01 = _mm256_packs_epi32(q[0], q[1]);
    __m256i p23 = _mm256_packs_epi32(q[2], q[3]);
    __m256i p = _mm256_packs_epi16(p01, p23);
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs), p);
    __m256i s16 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), p);  // pairs
    __m256i s32 = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
    y[b].d = d;
    y[b].s = d * float(_mm_cvtsi128_si32(s4));
  }
}

// Sum of 8 int16 pairs products -> 8 int32, as floats.
inline __m256 madd_u8s8(__m256i u, __m256i s) {
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}

float dot_q8_0(const BlockQ8_0* w, const ActQ8* x, int64_t nb) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i wq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs));
    const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs));
    // maddubs needs an unsigned operand: |w| and x with w's sign.
    const __m256 p = madd_u8s8(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(xq, wq));
    acc = _mm256_fmadd_ps(p, _mm256_set1_ps(fp16_to_f32(w[b].d) * x[b].d), acc);
  }
  return hsum(acc);
}

float dot_q4_0(const BlockQ4_0* w, const ActQ8* x, int64_t nb) {
  __m256 acc = _mm256_setzero_ps();
  float corr = 0.0f;
  const __m256i lo = _mm256_set1_epi8(0xF);
  for (int64_t b = 0; b < nb; ++b) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs));
    const __m256i wq = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), lo);  // 0..15
    const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs));
    const float dw = fp16_to_f32(w[b].d);
    acc = _mm256_fmadd_ps(madd_u8s8(wq, xq), _mm256_set1_ps(dw * x[b].d), acc);
    corr += dw * x[b].s;  // sum((q-8)*x) = sum(q*x) - 8*sum(x)
  }
  return hsum(acc) - 8.0f * corr;
}

template <class B, float (*Dot)(const B*, const ActQ8*, int64_t)>
void gemm_q8(const detail::GemmArgs& a, int64_t r0, int64_t r1) {
  const WeightView& W = *a.W;
  const int64_t nb = W.cols / 32;
  const B* w = static_cast<const B*>(W.data);
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t t = 0; t < a.n_tok; ++t)
      a.Y[t * W.rows + r] = Dot(w + r * nb, reinterpret_cast<const ActQ8*>(a.act + t * a.act_stride), nb);
}

int64_t no_act(int64_t) { return 0; }

constexpr detail::TypeKernel kF32{no_act, nullptr, gemm_f32_ordered, 4};
constexpr detail::TypeKernel kF16{no_act, nullptr, gemm_float<LoadF16>, 4};
constexpr detail::TypeKernel kBF16{no_act, nullptr, gemm_float<LoadBF16>, 4};
constexpr detail::TypeKernel kQ8_0{act_q8_bytes, prep_q8, gemm_q8<BlockQ8_0, dot_q8_0>, 4};
constexpr detail::TypeKernel kQ4_0{act_q8_bytes, prep_q8, gemm_q8<BlockQ4_0, dot_q4_0>, 4};

}  // namespace

const detail::TypeKernel* detail::avx2_kernel(GgmlType t, Layout layout) {
  if (layout != Layout::kGguf) return nullptr;
  switch (t) {
    case GgmlType::F32: return &kF32;
    case GgmlType::F16: return &kF16;
    case GgmlType::BF16: return &kBF16;
    case GgmlType::Q8_0: return &kQ8_0;
    case GgmlType::Q4_0: return &kQ4_0;
    case GgmlType::Q4_K: case GgmlType::Q6_K: return avx2_kquant_kernel(t);
    default: return nullptr;
  }
}

}  // namespace tern::kernels
