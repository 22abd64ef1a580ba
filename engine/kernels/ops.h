// Element-wise and row-wise ops of the transformer block, f32 in and out.
// Scalar references: they follow ggml's CPU arithmetic (double accumulation
// for norms and softmax sums, iterated float theta for RoPE) so that logits
// match llama.cpp's closely. Shapes in comments: [rows, cols] row-major.
#pragma once

#include <cstdint>

namespace tern::kernels {

// y[i] = x[i] / sqrt(mean(x^2) + eps) * w[i]     x, y, w: [n]  (y may alias x)
void rmsnorm(const float* x, const float* w, float* y, int64_t n, float eps);

// Rotary embedding of one head vector in place. x: [head_dim]; the first
// n_rot dims rotate. neox=false: pairs (2i, 2i+1) (llama); neox=true: pairs
// (i, i + n_rot/2) (qwen2, NeoX). theta_i = pos * freq_scale * base^(-2i/n_rot)
// / freq_factors[i] (freq_factors may be null: Llama 3.1 "rope_freqs").
struct RopeParams {
  int n_rot;
  float freq_base;
  float freq_scale;            // 1 / linear scaling factor
  bool neox;
  const float* freq_factors;   // [n_rot / 2] or null
};
void rope(float* x, int64_t pos, const RopeParams& p);
// rope() split in two, so one position's angles serve every head and layer:
// rope_table fills cos/sin [n_rot / 2]; rope_apply rotates x with them.
// rope(x, pos, p) == rope_table(pos, p, c, s) then rope_apply(x, c, s, p), bit for bit.
void rope_table(int64_t pos, const RopeParams& p, float* cos_out, float* sin_out);
void rope_apply(float* x, const float* cos_t, const float* sin_t, const RopeParams& p);

// Softmax in place over x[n]; returns nothing. Stable (max-subtracted); the
// sum of exponentials is taken in chunks of 16 (sum_lanes16) added in f64.
void softmax(float* x, int64_t n);

// y[i] = silu(g[i]) * u[i]            g, u, y: [n]  (y may alias g)
void swiglu(const float* g, const float* u, float* y, int64_t n);

// y[i] += x[i]                         [n]
void add(float* y, const float* x, int64_t n);

// y[i] = a . b over n floats (ordered f32 accumulation in blocks of 16 lanes).
float dot_f32(const float* a, const float* b, int64_t n);

// y[i] += s * x[i]
void axpy(float* y, float s, const float* x, int64_t n);

// Attention over an F16 KV cache: q [n] f32 . k [n] f16 (f32 sums), and
// y [n] += s * x [n] f16. Runtime-dispatched (F16C/AVX2 when present); the
// *_ref versions are the scalar twins the SIMD paths are tested against.
float dot_f16(const float* q, const uint16_t* k, int64_t n);
void axpy_f16(float* y, float s, const uint16_t* x, int64_t n);
float dot_f16_ref(const float* q, const uint16_t* k, int64_t n);

// Paged attention over F16 rows gathered by pointer (one per position):
//   scores[p] = q [dim] . rows[p] [dim]                       (dot_rows_f16)
//   out [dim] = sum_p w[p] * rows[p] [dim]                    (weighted_sum_f16)
// Both sum in one fixed order on every ISA (SIMD == scalar, bit for bit),
// that of llama.cpp's CPU attention (AVX-512 build) for an F16 cache:
//   scores: dim % 16 == 0: 16 lanes of fused multiply-adds, summed pairwise
//     (sum_lanes16); otherwise 4 x 16 lanes over the first dim & ~63, folded,
//     then the rest added in f64 (dot_f16_ordered).
//   out[i]: lane j = p mod 16 accumulates w[p] * rows[p][i] with fused
//     multiply-adds in increasing p; the 16 lanes are summed pairwise.
// The SIMD paths need dim % 8 == 0 (else the scalar path runs).
// Pairwise sum of 16 lanes in place: a[j] += a[j+8], then +4, +2, +1; returns a[0].
float sum_lanes16(float* a);
float dot_f16_ordered(const float* q, const uint16_t* k, int64_t dim);
void dot_rows_f16(const float* q, const uint16_t* const* rows, int64_t n_rows, int64_t dim, float* scores);
void weighted_sum_f16(const float* w, const uint16_t* const* rows, int64_t n_rows, int64_t dim, float* out);
void dot_rows_f16_ref(const float* q, const uint16_t* const* rows, int64_t n_rows, int64_t dim, float* scores);
void weighted_sum_f16_ref(const float* w, const uint16_t* const* rows, int64_t n_rows, int64_t dim, float* out);
void axpy_f16_ref(float* y, float s, const uint16_t* x, int64_t n);

}  // namespace tern::kernels
