// Scalar reference matmul: dequantize each weight row to f32, dot in f32.
// Also the fallback kernel on CPUs without AVX2.
#include <cmath>
#include <vector>

#include "kernels/matmul_impl.h"
#include "kernels/ops.h"
#include "kernels/quant.h"

namespace tern::kernels {

float dot_f32_ordered(const float* w, const float* x, int64_t n) {
  float lane[4][16] = {};
  if (n % 16 == 0) {
    for (int64_t i = 0; i < n; i += 16)
      for (int j = 0; j < 16; ++j) lane[0][j] = std::fma(w[i + j], x[i + j], lane[0][j]);
    return sum_lanes16(lane[0]);
  }
  const int64_t np = n & ~int64_t{63};
  for (int64_t i = 0; i < np; i += 64)
    for (int g = 0; g < 4; ++g)
      for (int j = 0; j < 16; ++j) lane[g][j] = std::fma(w[i + 16 * g + j], x[i + 16 * g + j], lane[g][j]);
  for (int j = 0; j < 16; ++j) {
    lane[0][j] += lane[2][j];
    lane[1][j] += lane[3][j];
  }
  for (int j = 0; j < 16; ++j) lane[0][j] += lane[1][j];
  float s = sum_lanes16(lane[0]);
  for (int64_t i = np; i < n; ++i) s = std::fma(w[i], x[i], s);
  return s;
}

namespace {

// Y[t, r] for r in [r0, r1): W row r dequantized, then a plain f32 dot
// (F32 weights: in dot_f32_ordered's order).
void gemm_ref(const detail::GemmArgs& a, int64_t r0, int64_t r1) {
  const WeightView& W = *a.W;
  const int64_t rb = row_bytes(W.type, W.cols);
  thread_local std::vector<float> row;
  thread_local std::vector<uint8_t> packed;
  row.resize(size_t(W.cols));
  packed.resize(size_t(rb));
  for (int64_t r = r0; r < r1; ++r) {
    const void* src = static_cast<const uint8_t*>(W.data) + r * rb;
    if (W.layout != Layout::kGguf) {
      unpack_row(W, r, packed.data());
      src = packed.data();
    }
    dequantize_row(W.type, src, row.data(), W.cols);
    for (int64_t t = 0; t < a.n_tok; ++t) {
      const float* x = a.X + t * W.cols;
      float sum = 0.0f;
      if (W.type == GgmlType::F32) sum = dot_f32_ordered(row.data(), x, W.cols);
      else
        for (int64_t c = 0; c < W.cols; ++c) sum += row[size_t(c)] * x[c];
      a.Y[t * W.rows + r] = sum;
    }
  }
}

int64_t no_act(int64_t) { return 0; }

constexpr detail::TypeKernel kRef{no_act, nullptr, gemm_ref, 1};

}  // namespace

const detail::TypeKernel* detail::ref_kernel(GgmlType t) { return can_dequantize(t) ? &kRef : nullptr; }

void matmul_ref(const WeightView& W, const float* X, int64_t n_tok, float* Y) {
  detail::GemmArgs a{&W, X, nullptr, 0, n_tok, Y};
  gemm_ref(a, 0, W.rows);
}

}  // namespace tern::kernels
