// Quantized block formats, bit-exact to GGUF / ggml, and their scalar codecs.
//
// Every struct here has the exact byte layout ggml writes into GGUF files, so a
// tensor's bytes can be reinterpreted as an array of blocks (static_asserts pin
// the sizes). Element order inside a block:
//   Q8_0  d * qs[i]                                  i = 0..31
//   Q4_0  d * ((qs[i] & 15) - 8)  for i = 0..15,  d * ((qs[i-16] >> 4) - 8) for i = 16..31
//   Q4_K  8 sub-blocks of 32: d*sc[j]*q - dmin*m[j]; sub-blocks 2k and 2k+1 share
//         qs[32k .. 32k+31] (low nibble -> 2k, high nibble -> 2k+1); sc/m are 6-bit,
//         packed in scales[12] (see q4k_scale_min)
//   Q6_K  16 sub-blocks of 16: d*scales[j]*(q-32), q = 4 low bits from ql, 2 high from qh
//
// quantize_row reproduces ggml's reference quantizers (quantize_row_*_ref), so a
// file written by `tern quantize` matches llama-quantize without an imatrix,
// rounding for rounding. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/ggml_type.h"

namespace tern::kernels {

constexpr int kQK = 32;    // Q8_0 / Q4_0 block
constexpr int kQKK = 256;  // K-quant super-block

struct BlockQ8_0 {
  uint16_t d;  // fp16
  int8_t qs[kQK];
};
struct BlockQ4_0 {
  uint16_t d;  // fp16
  uint8_t qs[kQK / 2];
};
struct BlockQ4_K {
  uint16_t d;     // fp16 scale of the 6-bit sub-block scales
  uint16_t dmin;  // fp16 scale of the 6-bit sub-block mins
  uint8_t scales[12];
  uint8_t qs[kQKK / 2];
};
struct BlockQ6_K {
  uint8_t ql[kQKK / 2];  // low 4 bits
  uint8_t qh[kQKK / 4];  // high 2 bits
  int8_t scales[kQKK / 16];
  uint16_t d;  // fp16
};
// Activation block for K-quant dot products (ggml's Q8_K): f32 scale, 256
// int8 values, and the sums of each group of 16 (used for Q4_K's mins).
struct BlockQ8_K {
  float d;
  int8_t qs[kQKK];
  int16_t bsums[kQKK / 16];
};
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

// ---- fp16 / bf16 scalars (round to nearest even, like F16C and ggml) ----

inline float f32_from_bits(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline uint32_t bits_from_f32(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }

inline float fp16_to_f32(uint16_t h) {
  // Exact: shift exponent/mantissa into place and rescale by 2^-112 so that
  // subnormals and normals share one path; Inf/NaN handled separately.
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t em = h & 0x7fff;
  if (em >= 0x7c00) return f32_from_bits(sign | 0x7f800000 | (uint32_t(em & 0x3ff) << 13));
  return f32_from_bits(sign | bits_from_f32(f32_from_bits(em << 13) * 0x1p112f));
}

inline uint16_t f32_to_fp16(float f) {
  const uint32_t x = bits_from_f32(f);
  const uint32_t sign = (x >> 16) & 0x8000;
  const uint32_t ax = x & 0x7fffffff;
  if (ax > 0x7f800000) return uint16_t(sign | 0x7e00);                 // NaN
  if (ax >= 0x477ff000) return uint16_t(sign | 0x7c00);                // overflow -> Inf
  if (ax < 0x38800000) {                                               // fp16 subnormal / zero
    // Adding 0.5 makes the FPU do the round-to-nearest-even at 2^-24 granularity.
    const float r = f32_from_bits(ax) + 0.5f;
    return uint16_t(sign | (bits_from_f32(r) - 0x3f000000));
  }
  const uint32_t odd = (ax >> 13) & 1;
  return uint16_t(sign | ((ax + 0xc8000fff + odd) >> 13));  // rebias exponent, round
}

inline float bf16_to_f32(uint16_t h) { return f32_from_bits(uint32_t(h) << 16); }

inline uint16_t f32_to_bf16(float f) {
  const uint32_t u = bits_from_f32(f);
  if ((u & 0x7fffffff) > 0x7f800000) return uint16_t((u >> 16) | 64);  // quiet NaN
  return uint16_t((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

// ---- K-quant helpers ----

// 6-bit scale and min of Q4_K sub-block j (0..7) from the packed 12 bytes.
inline void q4k_scale_min(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// ---- row codecs (scalar reference) ----

// Does tern have a scalar dequantizer / quantizer for this type?
bool can_dequantize(GgmlType t);
bool can_quantize(GgmlType t);

// dst[0..n) = src row. n must be a multiple of the type's block size.
void dequantize_row(GgmlType t, const void* src, float* dst, int64_t n);
// dst = quantized src[0..n). Q8_0, Q4_0, Q4_K, Q6_K, F16, BF16 (and F32 copy).
void quantize_row(GgmlType t, const float* src, void* dst, int64_t n);

// Activation quantizers used by the integer matmul paths (scalar reference;
// the SIMD versions in the ISA files must produce identical bytes).
void quantize_row_q8_0_ref(const float* x, BlockQ8_0* y, int64_t n);
void quantize_row_q8_K_ref(const float* x, BlockQ8_K* y, int64_t n);

// Bulk fp16/bf16 <-> f32 (F16C / AVX-512 when the CPU has it).
void fp16_to_f32_row(const uint16_t* x, float* y, int64_t n);
void f32_to_fp16_row(const float* x, uint16_t* y, int64_t n);

}  // namespace tern::kernels
