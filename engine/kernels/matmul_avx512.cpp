// AVX-512 (F/BW/VL/DQ/VNNI) matmul kernels; compiled with those flags and
// reached only when the CPU has them (matmul.cpp).
//
//   Q8_0 / Q4_0, kRows16 layout (repack.cpp): one 64-byte load holds 4 weight
//     bytes of each of 16 rows; vpdpbusd against 4 activation bytes broadcast
//     from memory gives 16 rows x 4 products per instruction. A block of 32
//     costs 8 vpdpbusd + 4 other ops per token for 16 rows, and a tile of up
//     to 8 tokens reuses the 8 weight registers (prompt processing).
//   F32 / F16 / BF16, kGguf: 4 rows x up to 4 tokens of FMA per pass (8 x 1 for decode).
//
// Activations for the integer kernels are quantized once per matmul to
// int8 blocks of 32 with an f32 scale (round to nearest even) and an int32
// correction term -K*sum(q): VNNI multiplies unsigned x signed bytes, so the
// weights are offset to be unsigned (Q8_0: w+128, Q4_0: nibble q = w+8) and
// dot(w, x) = dot(w + K, x) - K*sum(x).
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own
// `__m512 __Y = __Y;` idiom (a known false positive); silenced in this file only.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <new>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/matmul_impl.h"
#include "kernels/quant.h"

namespace tern::kernels {
namespace {

// ---------------- activations: int8 blocks of 32 ----------------
// Row layout: int8 q[cols] | f32 d[cols/32] | int32 corr[cols/32].

int64_t act_q8_bytes(int64_t cols) { return cols + 8 * (cols / 32); }

template <int K>
void prep_q8(const float* x, int64_t cols, uint8_t* dst) {
  const int64_t nb = cols / 32;
  auto* qs = reinterpret_cast<int8_t*>(dst);
  auto* d = reinterpret_cast<float*>(dst + cols);
  auto* corr = reinterpret_cast<int32_t*>(dst + cols + 4 * nb);
  for (int64_t b = 0; b < nb; ++b) {
    const __m512 v0 = _mm512_loadu_ps(x + 32 * b), v1 = _mm512_loadu_ps(x + 32 * b + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const __m512 id = _mm512_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    const __m512i q0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512i q1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 32 * b), _mm512_cvtsepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 32 * b + 16), _mm512_cvtsepi32_epi8(q1));
    d[b] = amax / 127.0f;
    corr[b] = -K * _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
  }
}

// ---------------- Q8_0 / Q4_0 on kRows16 ----------------

// std::vector storage aligned to 64 bytes (tiles are read with aligned loads).
template <class T>
struct AlignedAlloc {
  using value_type = T;
  AlignedAlloc() = default;
  template <class U>
  AlignedAlloc(const AlignedAlloc<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t(64)); }
  bool operator==(const AlignedAlloc&) const { return true; }
};

struct ActRow {
  const int32_t* q;  // int8 x 4 per element
  const float* d;
  const int32_t* corr;
};

// acc[t] (16 rows) += dot over all blocks of one row group.
template <bool kQ4, int T>
inline void group_dot(const uint8_t* tile, int64_t nb, const ActRow* act, __m512* acc) {
  constexpr int64_t kTile = kQ4 ? 32 + 4 * 64 : 32 + 8 * 64;
  const __m512i nib = _mm512_set1_epi8(0x0F);
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, tile += kTile) {
    _mm_prefetch(reinterpret_cast<const char*>(tile + 8 * kTile), _MM_HINT_T0);
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(tile)));
    __m512i w[8];
    if constexpr (kQ4) {
      for (int k = 0; k < 4; ++k) {
        const __m512i v = _mm512_loadu_si512(tile + 32 + 64 * k);
        w[k] = _mm512_and_si512(v, nib);
        w[4 + k] = _mm512_and_si512(_mm512_srli_epi16(v, 4), nib);
      }
    } else {
      for (int k = 0; k < 8; ++k) w[k] = _mm512_loadu_si512(tile + 32 + 64 * k);
    }
    for (int t = 0; t < T; ++t) {
      const int32_t* q = act[t].q + 8 * b;
      __m512i s = _mm512_set1_epi32(act[t].corr[b]);
      for (int k = 0; k < 8; ++k) s = _mm512_dpbusd_epi32(s, w[k], _mm512_set1_epi32(q[k]));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_set1_ps(act[t].d[b])), acc[t]);
    }
  }
}

// Y[t0 + t, 16g .. 16g+16) for t < T, from the kRows16 matrix P (rows valid
// rows; Y has row stride ldy).
template <bool kQ4, int T>
void group_tile(const detail::GemmArgs& a, const WeightView& P, int64_t g, int64_t t0, float* Y, int64_t ldy) {
  const int64_t nb = P.cols / 32;
  constexpr int64_t kTile = kQ4 ? 32 + 4 * 64 : 32 + 8 * 64;
  ActRow act[T];
  for (int t = 0; t < T; ++t) {
    const uint8_t* p = a.act + (t0 + t) * a.act_stride;
    act[t] = {reinterpret_cast<const int32_t*>(p), reinterpret_cast<const float*>(p + P.cols),
              reinterpret_cast<const int32_t*>(p + P.cols + 4 * nb)};
  }
  __m512 acc[T];
  group_dot<kQ4, T>(static_cast<const uint8_t*>(P.data) + g * nb * kTile, nb, act, acc);
  const int64_t left = P.rows - 16 * g;
  const __mmask16 m = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(Y + (t0 + t) * ldy + 16 * g, m, acc[t]);
}

// Row groups [g0, g1) of P against all tokens. Groups are taken in chunks of
// `chunk` so a chunk's weights stay in L2 while all 8-token tiles (in L1)
// pass over them.
template <bool kQ4>
void rows16_range(const detail::GemmArgs& a, const WeightView& P, int64_t g0, int64_t g1, float* Y, int64_t ldy,
                  int64_t chunk) {
  for (int64_t c0 = g0; c0 < g1; c0 += chunk) {
    const int64_t c1 = std::min(g1, c0 + chunk);
    for (int64_t t0 = 0; t0 < a.n_tok; t0 += 8) {
      const int64_t T = std::min<int64_t>(8, a.n_tok - t0);
      for (int64_t g = c0; g < c1; ++g) {
        switch (T) {
          case 1: group_tile<kQ4, 1>(a, P, g, t0, Y, ldy); break;
          case 2: group_tile<kQ4, 2>(a, P, g, t0, Y, ldy); break;
          case 3: group_tile<kQ4, 3>(a, P, g, t0, Y, ldy); break;
          case 4: group_tile<kQ4, 4>(a, P, g, t0, Y, ldy); break;
          case 5: group_tile<kQ4, 5>(a, P, g, t0, Y, ldy); break;
          case 6: group_tile<kQ4, 6>(a, P, g, t0, Y, ldy); break;
          case 7: group_tile<kQ4, 7>(a, P, g, t0, Y, ldy); break;
          default: group_tile<kQ4, 8>(a, P, g, t0, Y, ldy); break;
        }
      }
    }
  }
}

template <bool kQ4>
void gemm_rows16(const detail::GemmArgs& a, int64_t r0, int64_t r1) {
  rows16_range<kQ4>(a, *a.W, r0 / 16, (r1 + 15) / 16, a.Y, a.W->rows, 16);
}

// GGUF layout with enough tokens to amortize it: repack 64 rows at a time
// into a per-thread buffer (~1% of the multiply's work at 64+ tokens) and
// run the kRows16 kernel on it.
template <bool kQ4>
void gemm_gguf_via_repack(const detail::GemmArgs& a, int64_t r0, int64_t r1) {
  const WeightView& W = *a.W;
  const int64_t rb = row_bytes(W.type, W.cols);
  constexpr int64_t kRows = 64;
  thread_local std::vector<uint8_t> buf;
  buf.resize(size_t(repacked_bytes(W.type, kRows, W.cols)));
  for (int64_t r = r0; r < r1; r += kRows) {
    const int64_t n = std::min(kRows, r1 - r);
    const WeightView sub{W.type, static_cast<const uint8_t*>(W.data) + r * rb, n, W.cols};
    const WeightView P = repack(sub, buf.data());
    rows16_range<kQ4>(a, P, 0, (n + 15) / 16, a.Y + r, W.rows, kRows / 16);
  }
}

// ---------------- Q4_K prompt path: 16-row tiles built on the fly ----------------
//
// For n_tok >= 16 a group of 16 Q4_K rows is rearranged (per thread, ~1% of
// the multiply's work) into tiles per pair of 32-element sub-blocks:
//   f32 scale[2][16]   d * sc[j] of the 16 rows, even / odd sub-block
//   f32 min[2][16]     dmin * m[j]
//   chunk[8][64]       qs bytes 4k..4k+3 of each row (low nibbles: even
//                      sub-block elements 4k..4k+3, high: odd sub-block)
// and multiplied like Q4_0's kRows16 against int8 blocks of 32 whose
// correction term is -sum(q) (prep_q8<1>): x = scale*q - min gives
// dot = scale*da*(q.a) + min*da*(-sum a).

constexpr int64_t kQ4KTile = 4 * 64 + 8 * 64;  // per 16 rows x 64 elements

void build_q4k_group(const uint8_t* rows, int64_t rb, int64_t n_rows, int64_t nsb, uint8_t* out) {
  std::memset(out, 0, size_t(nsb * 4 * kQ4KTile));
  for (int64_t l = 0; l < n_rows; ++l) {
    const auto* blk = reinterpret_cast<const BlockQ4_K*>(rows + l * rb);
    for (int64_t b = 0; b < nsb; ++b) {
      const float d = _cvtsh_ss(blk[b].d), dmin = _cvtsh_ss(blk[b].dmin);
      for (int jp = 0; jp < 4; ++jp) {
        uint8_t* tile = out + (4 * b + jp) * kQ4KTile;
        auto* f = reinterpret_cast<float*>(tile);
        for (int h = 0; h < 2; ++h) {
          uint8_t sc, m;
          q4k_scale_min(2 * jp + h, blk[b].scales, &sc, &m);
          f[16 * h + l] = d * sc;
          f[32 + 16 * h + l] = dmin * m;
        }
        for (int k = 0; k < 8; ++k) std::memcpy(tile + 256 + 64 * k + 4 * l, blk[b].qs + 32 * jp + 4 * k, 4);
      }
    }
  }
}

template <int T>
void q4k_group_dot(const uint8_t* tile, int64_t npairs, const ActRow* act, __m512* acc) {
  const __m512i nib = _mm512_set1_epi8(0x0F);
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t p = 0; p < npairs; ++p, tile += kQ4KTile) {
    for (int h = 0; h < 2; ++h) {
      const int64_t sb = 2 * p + h;  // sub-block = activation block of 32
      const auto* f = reinterpret_cast<const float*>(tile);
      const __m512 dw = _mm512_load_ps(f + 16 * h), mn = _mm512_load_ps(f + 32 + 16 * h);
      __m512i w[8];
      for (int k = 0; k < 8; ++k) {
        const __m512i v = _mm512_load_si512(tile + 256 + 64 * k);
        w[k] = _mm512_and_si512(h == 0 ? v : _mm512_srli_epi16(v, 4), nib);
      }
      for (int t = 0; t < T; ++t) {
        const int32_t* q = act[t].q + 8 * sb;
        __m512i s = _mm512_setzero_si512();
        for (int k = 0; k < 8; ++k) s = _mm512_dpbusd_epi32(s, w[k], _mm512_set1_epi32(q[k]));
        const float da = act[t].d[sb];
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_set1_ps(da)), acc[t]);
        acc[t] = _mm512_fmadd_ps(mn, _mm512_set1_ps(da * float(act[t].corr[sb])), acc[t]);
      }
    }
  }
}

template <int T>
void q4k_tile(const detail::GemmArgs& a, const uint8_t* group, int64_t t0, float* y, int64_t valid) {
  const WeightView& W = *a.W;
  const int64_t nb = W.cols / 32;
  ActRow act[T];
  for (int t = 0; t < T; ++t) {
    const uint8_t* p = a.act + (t0 + t) * a.act_stride;
    act[t] = {reinterpret_cast<const int32_t*>(p), reinterpret_cast<const float*>(p + W.cols),
              reinterpret_cast<const int32_t*>(p + W.cols + 4 * nb)};
  }
  __m512 acc[T];
  q4k_group_dot<T>(group, nb / 2, act, acc);
  const __mmask16 m = valid >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << valid) - 1);
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * W.rows, m, acc[t]);
}

void gemm_q4k_tiles(const detail::GemmArgs& a, int64_t r0, int64_t r1) {
  const WeightView& W = *a.W;
  const int64_t nsb = W.cols / 256, rb = row_bytes(W.type, W.cols);
  const int64_t group_bytes = nsb * 4 * kQ4KTile;
  constexpr int64_t kGroups = 4;  // 64 rows per chunk: ~100-260 KiB of tiles, L2-resident
  thread_local std::vector<uint8_t, AlignedAlloc<uint8_t>> buf;
  buf.resize(size_t(kGroups * group_bytes));
  const auto* base = static_cast<const uint8_t*>(W.data);
  for (int64_t c0 = r0; c0 < r1; c0 += 16 * kGroups) {
    const int64_t ng = std::min(kGroups, (r1 - c0 + 15) / 16);
    for (int64_t g = 0; g < ng; ++g)
      build_q4k_group(base + (c0 + 16 * g) * rb, rb, std::min<int64_t>(16, r1 - c0 - 16 * g), nsb,
                      buf.data() + g * group_bytes);
    for (int64_t t0 = 0; t0 < a.n_tok; t0 += 8) {
      const int64_t T = std::min<int64_t>(8, a.n_tok - t0);
      for (int64_t g = 0; g < ng; ++g) {
        const uint8_t* grp = buf.data() + g * group_bytes;
        float* y = a.Y + c0 + 16 * g;
        const int64_t valid = std::min<int64_t>(16, r1 - c0 - 16 * g);
        switch (T) {
          case 1: q4k_tile<1>(a, grp, t0, y, valid); break;
          case 2: q4k_tile<2>(a, grp, t0, y, valid); break;
          case 3: q4k_tile<3>(a, grp, t0, y, valid); break;
          case 4: q4k_tile<4>(a, grp, t0, y, valid); break;
          case 5: q4k_tile<5>(a, grp, t0, y, valid); break;
          case 6: q4k_tile<6>(a, grp, t0, y, valid); break;
          case 7: q4k_tile<7>(a, grp, t0, y, valid); break;
          default: q4k_tile<8>(a, grp, t0, y, valid); break;
        }
      }
    }
  }
}

// ---------------- Q6_K prompt path: 16-row tiles built on the fly ----------------
//
// Same scheme for Q6_K (n_tok >= 16): rows are unpacked to bytes q in 0..63
// and interleaved into tiles per 32 elements (two 16-element sub-blocks):
//   f32 scale[2][16]   d * sc[j] of the 16 rows for sub-blocks A (elements
//                      0..15) and B (16..31)
//   chunk[8][64]       4 bytes of each row: chunks 0..3 -> A, 4..7 -> B
// x = scale*(q - 32), so dot = scale*da*((q.a) - 32*sum(a)) per sub-block,
// with the activation sums per 16 from prep_q8_s16.

constexpr int64_t kQ6KTile = 2 * 64 + 8 * 64;  // per 16 rows x 32 elements

// Row layout: int8 q[cols] | f32 d[cols/32] | int32 sum16[cols/16].
int64_t act_q8_s16_bytes(int64_t cols) { return cols + 4 * (cols / 32) + 4 * (cols / 16); }

void prep_q8_s16(const float* x, int64_t cols, uint8_t* dst) {
  const int64_t nb = cols / 32;
  auto* qs = reinterpret_cast<int8_t*>(dst);
  auto* d = reinterpret_cast<float*>(dst + cols);
  auto* s16 = reinterpret_cast<int32_t*>(dst + cols + 4 * nb);
  for (int64_t b = 0; b < nb; ++b) {
    const __m512 v0 = _mm512_loadu_ps(x + 32 * b), v1 = _mm512_loadu_ps(x + 32 * b + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const __m512 id = _mm512_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    const __m512i q0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512i q1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 32 * b), _mm512_cvtsepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 32 * b + 16), _mm512_cvtsepi32_epi8(q1));
    d[b] = amax / 127.0f;
    s16[2 * b] = _mm512_reduce_add_epi32(q0);
    s16[2 * b + 1] = _mm512_reduce_add_epi32(q1);
  }
}

void build_q6k_group(const uint8_t* rows, int64_t rb, int64_t n_rows, int64_t nsb, uint8_t* out) {
  std::memset(out, 0, size_t(nsb * 8 * kQ6KTile));
  const __m512i nib = _mm512_set1_epi8(0x0F), two = _mm512_set1_epi8(0x03);
  alignas(64) uint8_t q[256];
  for (int64_t l = 0; l < n_rows; ++l) {
    const auto* blk = reinterpret_cast<const BlockQ6_K*>(rows + l * rb);
    for (int64_t b = 0; b < nsb; ++b) {
      for (int h = 0; h < 2; ++h) {  // unpack 128 values, as in q6k_row
        const __m512i ql = _mm512_loadu_si512(blk[b].ql + 64 * h);
        const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[b].qh + 32 * h));
        const __m512i qh01 = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
        const __m512i qh23 = _mm512_srli_epi16(qh01, 4);
        _mm512_store_si512(q + 128 * h, _mm512_or_si512(_mm512_and_si512(ql, nib), _mm512_slli_epi16(_mm512_and_si512(qh01, two), 4)));
        _mm512_store_si512(q + 128 * h + 64, _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), nib),
                                                             _mm512_slli_epi16(_mm512_and_si512(qh23, two), 4)));
      }
      const float d = _cvtsh_ss(blk[b].d);
      for (int j = 0; j < 8; ++j) {  // 32-element tiles
        uint8_t* tile = out + (8 * b + j) * kQ6KTile;
        auto* f = reinterpret_cast<float*>(tile);
        f[l] = d * blk[b].scales[2 * j];
        f[16 + l] = d * blk[b].scales[2 * j + 1];
        for (int k = 0; k < 8; ++k) std::memcpy(tile + 128 + 64 * k + 4 * l, q + 32 * j + 4 * k, 4);
      }
    }
  }
}

struct ActRowS16 {
  const int32_t* q;
  const float* d;
  const int32_t* s16;
};

template <int T>
void q6k_group_dot(const uint8_t* tile, int64_t nb, const ActRowS16* act, __m512* acc) {
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, tile += kQ6KTile) {
    const auto* f = reinterpret_cast<const float*>(tile);
    const __m512 sa = _mm512_load_ps(f), sb = _mm512_load_ps(f + 16);
    __m512i w[8];
    for (int k = 0; k < 8; ++k) w[k] = _mm512_load_si512(tile + 128 + 64 * k);
    for (int t = 0; t < T; ++t) {
      const int32_t* q = act[t].q + 8 * b;
      // Each lane is one row's whole dot, so seeding every lane with
      // -32 * sum(a) of the 16 elements removes q's +32 offset exactly.
      __m512i ia = _mm512_set1_epi32(-32 * act[t].s16[2 * b]);
      __m512i ib = _mm512_set1_epi32(-32 * act[t].s16[2 * b + 1]);
      for (int k = 0; k < 4; ++k) ia = _mm512_dpbusd_epi32(ia, w[k], _mm512_set1_epi32(q[k]));
      for (int k = 4; k < 8; ++k) ib = _mm512_dpbusd_epi32(ib, w[k], _mm512_set1_epi32(q[k]));
      const __m512 da = _mm512_set1_ps(act[t].d[b]);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia), _mm512_mul_ps(sa, da), acc[t]);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ib), _mm512_mul_ps(sb, da), acc[t]);
    }
  }
}

template <int T>
void q6k_tile(const detail::GemmArgs& a, const uint8_t* group, int64_t t0, float* y, int64_t valid) {
  const WeightView& W = *a.W;
  const int64_t nb = W.cols / 32;
  ActRowS16 act[T];
  for (int t = 0; t < T; ++t) {
    const uint8_t* p = a.act + (t0 + t) * a.act_stride;
    act[t] = {reinterpret_cast<const int32_t*>(p), reinterpret_cast<const float*>(p + W.cols),
              reinterpret_cast<const int32_t*>(p + W.cols + 4 * nb)};
  }
  __m512 acc[T];
  q6k_group_dot<T>(group, nb, act, acc);
  const __mmask16 m = valid >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << valid) - 1);
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * W.rows, m, acc[t]);
}

void gemm_q6k_tiles(const detail::GemmArgs& a, int64_t r0, int64_t r1) {
  const WeightView& W = *a.W;
  const int64_t nsb = W.cols / 256, rb = row_bytes(W.type, W.cols);
  const int64_t group_bytes = nsb * 8 * kQ6KTile;
  constexpr int64_t kGroups = 4;
  thread_local std::vector<uint8_t, AlignedAlloc<uint8_t>> buf;
  buf.resize(size_t(kGroups * group_bytes));
  const auto* base = static_cast<const uint8_t*>(W.data);
  for (int64_t c0 = r0; c0 < r1; c0 += 16 * kGroups) {
    const int64_t ng = std::min(kGroups, (r1 - c0 + 15) / 16);
    for (int64_t g = 0; g < ng; ++g)
      build_q6k_group(base + (c0 + 16 * g) * rb, rb, std::min<int64_t>(16, r1 - c0 - 16 * g), nsb,
                      buf.data() + g * group_bytes);
    for (int64_t t0 = 0; t0 < a.n_tok; t0 += 8) {
      const int64_t T = std::min<int64_t>(8, a.n_tok - t0);
      for (int64_t g = 0; g < ng; ++g) {
        const uint8_t* grp = buf.data() + g * group_bytes;
        float* y = a.Y + c0 + 16 * g;
        const int64_t valid = std::min<int64_t>(16, r1 - c0 - 16 * g);
        switch (T) {
          case 1: q6k_tile<1>(a, grp, t0, y, valid); break;
          case 2: q6k_tile<2>(a, grp, t0, y, valid); break;
          case 3: q6k_tile<3>(a, grp, t0, y, valid); break;
          case 4: q6k_tile<4>(a, grp, t0, y, valid); break;
          case 5: q6k_tile<5>(a, grp, t0, y, valid); break;
          case 6: q6k_tile<6>(a, grp, t0, y, valid); break;
          case 7: q6k_tile<7>(a, grp, t0, y, valid); break;
          default: q6k_tile<8>(a, grp, t0, y, valid); break;
        }
      }
    }
  }
}

// ---------------- Q8_0 / Q4_0 on the GGUF layout, few tokens ----------------
//
// Decode-sized calls (n_tok < 16) on unrepacked weights: one zmm holds a pair
// of blocks of one row. The activation row is stored per block pair as
//   int8 q[64]       Q8_0: natural order; Q4_0: [b0 0..15, b1 0..15, b0 16..31, b1 16..31]
//                    (the order of the unpacked nibbles)
//   int32 init[16]   -K*sum(q) of each block in the first lane of its lanes
//   f32 scale[16]    each block's activation scale in its lanes
// so that one vpdpbusd + convert + scale multiply + FMA covers 64 weights.
// An odd last block is padded with zeros.

template <bool kQ4>
__m512i lanes_of_block(int blk) {  // lane -> block (0/1) mask pattern
  return kQ4 ? _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1)
             : _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
}

int64_t act_pair_bytes(int64_t cols) { return (cols / 32 + 1) / 2 * 192; }

template <bool kQ4>
void prep_pairs(const float* x, int64_t cols, uint8_t* dst) {
  const int64_t nb = cols / 32;
  constexpr int K = kQ4 ? 8 : 128;
  const __m512i sel = lanes_of_block<kQ4>(0);
  for (int64_t p = 0; p < (nb + 1) / 2; ++p, dst += 192) {
    alignas(64) int8_t q[64] = {};
    float d[2] = {0, 0};
    int32_t corr[2] = {0, 0};
    for (int h = 0; h < 2 && 2 * p + h < nb; ++h) {
      const float* xb = x + 32 * (2 * p + h);
      const __m512 v0 = _mm512_loadu_ps(xb), v1 = _mm512_loadu_ps(xb + 16);
      const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
      const __m512 id = _mm512_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
      const __m512i q0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      const __m512i q1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      // Q8_0: block h at bytes 32h; Q4_0: first half at 16h, second at 32+16h.
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + (kQ4 ? 16 * h : 32 * h)), _mm512_cvtsepi32_epi8(q0));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + (kQ4 ? 32 + 16 * h : 32 * h + 16)), _mm512_cvtsepi32_epi8(q1));
      d[h] = amax / 127.0f;
      corr[h] = -K * _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    }
    std::memcpy(dst, q, 64);
    const __mmask16 is1 = _mm512_cmpeq_epi32_mask(sel, _mm512_set1_epi32(1));
    // First lane of each block's lanes carries its correction.
    const __mmask16 first = kQ4 ? __mmask16(0x0011) : __mmask16(0x0101);
    const __m512i init = _mm512_maskz_mov_epi32(first, _mm512_mask_set1_epi32(_mm512_set1_epi32(corr[0]), is1, corr[1]));
    _mm512_storeu_si512(dst + 64, init);
    _mm512_storeu_ps(dst + 128, _mm512_mask_blend_ps(is1, _mm512_set1_ps(d[0]), _mm512_set1_ps(d[1])));
  }
}

template <bool kQ4, int T>
void pairs_row(const uint8_t* wrow, int64_t nb, const uint8_t* const* act, float* out, int64_t ldo) {
  using B = std::conditional_t<kQ4, BlockQ4_0, BlockQ8_0>;
  const B* w = reinterpret_cast<const B*>(wrow);
  const __m512i sel = lanes_of_block<kQ4>(0);
  const __m512i nib = _mm512_set1_epi8(0x0F), flip = _mm512_set1_epi8(char(0x80));
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t p = 0; p < (nb + 1) / 2; ++p) {
    const B& b0 = w[2 * p];
    const bool two = 2 * p + 1 < nb;
    const B& b1 = two ? w[2 * p + 1] : b0;
    __m512i wv;
    if constexpr (kQ4) {
      const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b0.qs));
      const __m128i q1 = two ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(b1.qs)) : _mm_setzero_si128();
      const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(q0), q1, 1);
      wv = _mm512_and_si512(_mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1), nib);
    } else {
      const __m256i q0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b0.qs));
      const __m256i q1 = two ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b1.qs)) : _mm256_set1_epi8(char(0x80));
      wv = _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1), flip);  // w + 128
    }
    const __m512 dw = _mm512_mask_blend_ps(_mm512_cmpeq_epi32_mask(sel, _mm512_set1_epi32(1)),
                                           _mm512_set1_ps(_cvtsh_ss(b0.d)), _mm512_set1_ps(two ? _cvtsh_ss(b1.d) : 0.0f));
    for (int t = 0; t < T; ++t) {
      const uint8_t* a = act[t] + 192 * p;
      const __m512i s = _mm512_dpbusd_epi32(_mm512_load_si512(a + 64), wv, _mm512_load_si512(a));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_load_ps(reinterpret_cast<const float*>(a + 128))), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) out[t * ldo] = _mm512_reduce_add_ps(acc[t]);
}

template <bool kQ4>
void gemm_pairs(const detail::GemmArgs& a, int64_t r0, int64_t r1) {
  const WeightView& W = *a.W;
  const int64_t nb = W.cols / 32, rb = row_bytes(W.type, W.cols);
  const auto* base = static_cast<const uint8_t*>(W.data);
  for (int64_t t0 = 0; t0 < a.n_tok; t0 += 4) {
    const int T = int(std::min<int64_t>(4, a.n_tok - t0));
    const uint8_t* act[4];
    for (int t = 0; t < T; ++t) act[t] = a.act + (t0 + t) * a.act_stride;
    for (int64_t r = r0; r < r1; ++r) {
      float* out = a.Y + t0 * W.rows + r;
      switch (T) {
        case 1: pairs_row<kQ4, 1>(base + r * rb, nb, act, out, W.rows); break;
        case 2: pairs_row<kQ4, 2>(base + r * rb, nb, act, out, W.rows); break;
        case 3: pairs_row<kQ4, 3>(base + r * rb, nb, act, out, W.rows); break;
        default: pairs_row<kQ4, 4>(base + r * rb, nb, act, out, W.rows); break;
      }
    }
  }
}

// ---------------- F32 weights ----------------

// Weight loaders: 16 consecutive weights as f32 (masked for the row tail).
struct LdF32 {
  using T = float;
  static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
  static __m512 load(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
};
struct LdF16 {
  using T = uint16_t;
  static __m512 load(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static __m512 load(const uint16_t* p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
};
struct LdBF16 {
  using T = uint16_t;
  static __m512 widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
  static __m512 load(const uint16_t* p) { return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static __m512 load(const uint16_t* p, __mmask16 m) { return widen(_mm256_maskz_loadu_epi16(m, p)); }
};

// Y[t0..t0+T) x rows [r, r+R): R*T accumulators, each weight and x load
// feeding T and R FMAs respectively. Accumulation in f32 (as ggml).
template <class L, int R, int T>
void float_tile(const typename L::T* w, int64_t cols, const float* x, float* y, int64_t ldy) {
  __m512 acc[R][T];
  for (int i = 0; i < R; ++i)
    for (int t = 0; t < T; ++t) acc[i][t] = _mm512_setzero_ps();
  int64_t c = 0;
  for (; c + 16 <= cols; c += 16) {
    __m512 wv[R];
    if constexpr (T == 1)  // decode streams: ~+8% GB/s measured on the model-shaped bench
      for (int i = 0; i < R; ++i) _mm_prefetch(reinterpret_cast<const char*>(w + i * cols + c) + 1024, _MM_HINT_T0);
    for (int i = 0; i < R; ++i) wv[i] = L::load(w + i * cols + c);
    for (int t = 0; t < T; ++t) {
      const __m512 xv = _mm512_loadu_ps(x + t * cols + c);
      for (int i = 0; i < R; ++i) acc[i][t] = _mm512_fmadd_ps(wv[i], xv, acc[i][t]);
    }
  }
  if (c < cols) {
    const __mmask16 m = __mmask16((1u << (cols - c)) - 1);
    __m512 wv[R];
    for (int i = 0; i < R; ++i) wv[i] = L::load(w + i * cols + c, m);
    for (int t = 0; t < T; ++t) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, x + t * cols + c);
      for (int i = 0; i < R; ++i) acc[i][t] = _mm512_fmadd_ps(wv[i], xv, acc[i][t]);
    }
  }
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < R; ++i) y[t * ldy + i] = _mm512_reduce_add_ps(acc[i][t]);
}

template <class L, int R>
void float_rows(const detail::GemmArgs& a, int64_t r) {
  const WeightView& W = *a.W;
  const auto* w = static_cast<const typename L::T*>(W.data) + r * W.cols;
  int64_t t = 0;
  for (; t + 4 <= a.n_tok; t += 4) float_tile<L, R, 4>(w, W.cols, a.X + t * W.cols, a.Y + t * W.rows + r, W.rows);
  for (; t < a.n_tok; ++t) float_tile<L, R, 1>(w, W.cols, a.X + t * W.cols, a.Y + t * W.rows + r, W.rows);
}

// F32 rows whose length is not a multiple of 16, in dot_f32_ordered's order
// (4 x 16 lanes over 64-element steps, folded, then the tail in order).
float dot_f32_ordered_avx512(const float* w, const float* x, int64_t n) {
  const int64_t np = n & ~int64_t{63};
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (int64_t i = 0; i < np; i += 64) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), _mm512_loadu_ps(x + i + 16), s1);
    s2 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 32), _mm512_loadu_ps(x + i + 32), s2);
    s3 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 48), _mm512_loadu_ps(x + i + 48), s3);
  }
  float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s2), _mm512_add_ps(s1, s3)));
  for (int64_t i = np; i < n; ++i) s = std::fma(w[i], x[i], s);
  return s;
}

template <class L>
void gemm_float(const detail::GemmArgs& a, int64_t r0, int64_t r1) {
  if constexpr (std::is_same_v<L, LdF32>) {
    const WeightView& W = *a.W;
    if (W.cols % 16 != 0) {
      const float* w = static_cast<const float*>(W.data);
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t t = 0; t < a.n_tok; ++t)
          a.Y[t * W.rows + r] = dot_f32_ordered_avx512(w + r * W.cols, a.X + t * W.cols, W.cols);
      return;
    }
  }
  int64_t r = r0;
  // Decode streams weights once: 8 rows in flight keep more DRAM lines open.
  if (a.n_tok < 4)
    for (; r + 8 <= r1; r += 8) float_rows<L, 8>(a, r);
  for (; r + 4 <= r1; r += 4) float_rows<L, 4>(a, r);
  for (; r < r1; ++r) float_rows<L, 1>(a, r);
}

int64_t no_act(int64_t) { return 0; }

constexpr detail::TypeKernel kQ8_0x16{act_q8_bytes, prep_q8<128>, gemm_rows16<false>, 16};
constexpr detail::TypeKernel kQ4_0x16{act_q8_bytes, prep_q8<8>, gemm_rows16<true>, 16};
constexpr detail::TypeKernel kQ8_0gguf{act_q8_bytes, prep_q8<128>, gemm_gguf_via_repack<false>, 16};
constexpr detail::TypeKernel kQ4_0gguf{act_q8_bytes, prep_q8<8>, gemm_gguf_via_repack<true>, 16};
constexpr detail::TypeKernel kQ8_0pairs{act_pair_bytes, prep_pairs<false>, gemm_pairs<false>, 4};
constexpr detail::TypeKernel kQ4_0pairs{act_pair_bytes, prep_pairs<true>, gemm_pairs<true>, 4};
constexpr detail::TypeKernel kQ4_Ktiles{act_q8_bytes, prep_q8<1>, gemm_q4k_tiles, 16};
constexpr detail::TypeKernel kQ6_Ktiles{act_q8_s16_bytes, prep_q8_s16, gemm_q6k_tiles, 16};
constexpr detail::TypeKernel kF32{no_act, nullptr, gemm_float<LdF32>, 4};
constexpr detail::TypeKernel kF16{no_act, nullptr, gemm_float<LdF16>, 4};
constexpr detail::TypeKernel kBF16{no_act, nullptr, gemm_float<LdBF16>, 4};

}  // namespace

const detail::TypeKernel* detail::avx512_kernel(GgmlType t, Layout layout, int64_t n_tok) {
  if (layout == Layout::kRows16) {
    if (t == GgmlType::Q8_0) return &kQ8_0x16;
    if (t == GgmlType::Q4_0) return &kQ4_0x16;
    return nullptr;
  }
  // Below 16 tokens repacking on the fly costs more than it saves.
  if (t == GgmlType::Q8_0) return n_tok >= 16 ? &kQ8_0gguf : &kQ8_0pairs;
  if (t == GgmlType::Q4_K && n_tok >= 16) return &kQ4_Ktiles;
  if (t == GgmlType::Q6_K && n_tok >= 16) return &kQ6_Ktiles;
  if (t == GgmlType::Q4_0) return n_tok >= 16 ? &kQ4_0gguf : &kQ4_0pairs;
  if (t == GgmlType::F32) return &kF32;
  if (t == GgmlType::F16) return &kF16;
  if (t == GgmlType::BF16) return &kBF16;
  return avx512_kquant_kernel(t);
}

}  // namespace tern::kernels
