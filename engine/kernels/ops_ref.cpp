#include <cmath>
#include <vector>

#include "kernels/ops.h"
#include "kernels/quant.h"

namespace tern::kernels {

float sum_lanes16(float* a) {
  for (int d = 8; d >= 1; d /= 2)
    for (int j = 0; j < d; ++j) a[j] += a[j + d];
  return a[0];
}

void rmsnorm(const float* x, const float* w, float* y, int64_t n, float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);  // f32 squares, f64 sum (as ggml)
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum / static_cast<double>(n)) + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale * w[i];
}

void rope_table(int64_t pos, const RopeParams& p, float* cos_out, float* sin_out) {
  const float theta_scale = std::pow(p.freq_base, -2.0f / static_cast<float>(p.n_rot));
  float theta = static_cast<float>(pos);
  for (int i = 0; i < p.n_rot / 2; ++i) {
    const float ff = p.freq_factors ? p.freq_factors[i] : 1.0f;
    const float t = p.freq_scale * theta / ff;
    cos_out[i] = std::cos(t);
    sin_out[i] = std::sin(t);
    theta *= theta_scale;
  }
}

void rope_apply(float* x, const float* cos_t, const float* sin_t, const RopeParams& p) {
  const int half = p.n_rot / 2;
  for (int i = 0; i < half; ++i) {
    float* a = p.neox ? &x[i] : &x[2 * i];
    float* b = p.neox ? &x[i + half] : &x[2 * i + 1];
    const float x0 = *a, x1 = *b;
    *a = x0 * cos_t[i] - x1 * sin_t[i];
    *b = x0 * sin_t[i] + x1 * cos_t[i];
  }
}

void rope(float* x, int64_t pos, const RopeParams& p) {
  float c[512], s[512];
  rope_table(pos, p, c, s);
  rope_apply(x, c, s, p);
}

void softmax(float* x, int64_t n) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::fmax(mx, x[i]);
  for (int64_t i = 0; i < n; ++i) x[i] = std::exp(x[i] - mx);
  // Sum in chunks of 16, each summed pairwise in f32 and added in f64 (the
  // order of ggml's AVX-512 softmax): the reciprocal, and with it which way
  // the f16-rounded attention weights round, then matches llama.cpp's.
  double sum = 0.0;
  for (int64_t i = 0; i < n; i += 16) {
    float lane[16] = {};
    for (int64_t j = 0; j < 16 && i + j < n; ++j) lane[j] = x[i + j];
    sum += sum_lanes16(lane);
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void swiglu(const float* g, const float* u, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void add(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

float dot_f32(const float* a, const float* b, int64_t n) {
  // 16 independent partial sums: vectorizes without -ffast-math and keeps
  // rounding error growth ~sqrt(n/16) like a SIMD dot.
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += a[i + j] * b[i + j];
  float s = 0.0f;
  for (; i < n; ++i) s += a[i] * b[i];
  for (int j = 0; j < 16; ++j) s += acc[j];
  return s;
}

void axpy(float* y, float s, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += s * x[i];
}

float dot_f16_ref(const float* q, const uint16_t* k, int64_t n) {
  float acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += q[i + j] * fp16_to_f32(k[i + j]);
  float s = 0.0f;
  for (; i < n; ++i) s += q[i] * fp16_to_f32(k[i]);
  for (int j = 0; j < 8; ++j) s += acc[j];
  return s;
}

void axpy_f16_ref(float* y, float s, const uint16_t* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += s * fp16_to_f32(x[i]);
}

float dot_f16_ordered(const float* q, const uint16_t* k, int64_t dim) {
  float lane[4][16] = {};
  if (dim % 16 == 0) {
    for (int64_t i = 0; i < dim; i += 16)
      for (int j = 0; j < 16; ++j) lane[0][j] = std::fma(q[i + j], fp16_to_f32(k[i + j]), lane[0][j]);
    return sum_lanes16(lane[0]);
  }
  const int64_t np = dim & ~int64_t{63};
  for (int64_t i = 0; i < np; i += 64)
    for (int g = 0; g < 4; ++g)
      for (int j = 0; j < 16; ++j)
        lane[g][j] = std::fma(q[i + 16 * g + j], fp16_to_f32(k[i + 16 * g + j]), lane[g][j]);
  for (int j = 0; j < 16; ++j) {
    lane[0][j] += lane[2][j];
    lane[1][j] += lane[3][j];
  }
  for (int j = 0; j < 16; ++j) lane[0][j] += lane[1][j];
  double s = sum_lanes16(lane[0]);
  for (int64_t i = np; i < dim; ++i) s += static_cast<double>(q[i] * fp16_to_f32(k[i]));
  return static_cast<float>(s);
}

void dot_rows_f16_ref(const float* q, const uint16_t* const* rows, int64_t n_rows, int64_t dim, float* scores) {
  for (int64_t p = 0; p < n_rows; ++p) scores[p] = dot_f16_ordered(q, rows[p], dim);
}

void weighted_sum_f16_ref(const float* w, const uint16_t* const* rows, int64_t n_rows, int64_t dim, float* out) {
  std::vector<float> lane(static_cast<size_t>(16 * dim), 0.0f);  // lane j: positions p = j (mod 16)
  for (int64_t p = 0; p < n_rows; ++p) {
    float* acc = &lane[static_cast<size_t>((p % 16) * dim)];
    for (int64_t i = 0; i < dim; ++i) acc[i] = std::fma(w[p], fp16_to_f32(rows[p][i]), acc[i]);
  }
  for (int64_t i = 0; i < dim; ++i) {
    float a[16];
    for (int j = 0; j < 16; ++j) a[j] = lane[static_cast<size_t>(j * dim + i)];
    out[i] = sum_lanes16(a);
  }
}

}  // namespace tern::kernels
