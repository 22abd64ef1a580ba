// Scalar transformer ops against their defining formulas, computed here in
// double precision. Tolerances: a few float ulps of the result magnitude.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/ops.h"
#include "kernels/quant.h"

namespace tern::kernels {
namespace {

std::vector<float> random_vec(int n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

TEST(OpsTest, RmsNormMatchesDefinition) {
  const int n = 77;
  auto x = random_vec(n, 1), w = random_vec(n, 2);
  std::vector<float> y(n);
  rmsnorm(x.data(), w.data(), y.data(), n, 1e-5f);
  double ss = 0;
  for (float v : x) ss += double(v) * v;
  const double s = 1.0 / std::sqrt(ss / n + 1e-5);
  for (int i = 0; i < n; ++i) EXPECT_NEAR(y[i], x[i] * s * w[i], 1e-5 * (1 + std::abs(x[i] * s * w[i])));
  rmsnorm(x.data(), w.data(), x.data(), n, 1e-5f);  // in place
  for (int i = 0; i < n; ++i) EXPECT_FLOAT_EQ(x[i], y[i]);
}

// theta_i = pos * base^(-2i/n_rot) * freq_scale / factor_i
double theta(int64_t pos, int i, const RopeParams& p) {
  const double ff = p.freq_factors ? p.freq_factors[i] : 1.0;
  return pos * std::pow(double(p.freq_base), -2.0 * i / p.n_rot) * p.freq_scale / ff;
}

TEST(OpsTest, RopeNormalRotatesAdjacentPairs) {
  const int hd = 16;
  RopeParams p{hd, 10000.0f, 1.0f, false, nullptr};
  auto x = random_vec(hd, 3);
  auto y = x;
  rope(y.data(), 7, p);
  for (int i = 0; i < hd / 2; ++i) {
    const double t = theta(7, i, p);
    EXPECT_NEAR(y[2 * i], x[2 * i] * std::cos(t) - x[2 * i + 1] * std::sin(t), 1e-5);
    EXPECT_NEAR(y[2 * i + 1], x[2 * i] * std::sin(t) + x[2 * i + 1] * std::cos(t), 1e-5);
  }
}

TEST(OpsTest, RopeNeoxRotatesHalvesAndPartialDims) {
  const int hd = 16, n_rot = 8;
  const float factors[4] = {1.0f, 2.0f, 4.0f, 8.0f};
  RopeParams p{n_rot, 500000.0f, 0.25f, true, factors};
  auto x = random_vec(hd, 4);
  auto y = x;
  rope(y.data(), 123, p);
  for (int i = 0; i < n_rot / 2; ++i) {
    const double t = theta(123, i, p);
    EXPECT_NEAR(y[i], x[i] * std::cos(t) - x[i + n_rot / 2] * std::sin(t), 2e-5);
    EXPECT_NEAR(y[i + n_rot / 2], x[i] * std::sin(t) + x[i + n_rot / 2] * std::cos(t), 2e-5);
  }
  for (int i = n_rot; i < hd; ++i) EXPECT_EQ(y[i], x[i]);  // dims past n_rot untouched
}

TEST(OpsTest, RopeAtPositionZeroIsIdentity) {
  RopeParams p{8, 10000.0f, 1.0f, false, nullptr};
  auto x = random_vec(8, 5);
  auto y = x;
  rope(y.data(), 0, p);
  EXPECT_EQ(x, y);
}

TEST(OpsTest, SoftmaxIsStableAndNormalised) {
  std::vector<float> x = {1000.0f, 1001.0f, 999.0f, -INFINITY};
  softmax(x.data(), 4);
  const double e0 = std::exp(-1.0), e2 = std::exp(-2.0), z = e0 + 1 + e2;
  EXPECT_NEAR(x[0], e0 / z, 1e-6);
  EXPECT_NEAR(x[1], 1 / z, 1e-6);
  EXPECT_NEAR(x[2], e2 / z, 1e-6);
  EXPECT_EQ(x[3], 0.0f);
}

TEST(OpsTest, SwigluAddAxpyDot) {
  auto g = random_vec(33, 6), u = random_vec(33, 7);
  std::vector<float> y(33);
  swiglu(g.data(), u.data(), y.data(), 33);
  for (int i = 0; i < 33; ++i) EXPECT_NEAR(y[i], g[i] / (1 + std::exp(-double(g[i]))) * u[i], 1e-6);
  double dot = 0;
  for (int i = 0; i < 33; ++i) dot += double(g[i]) * u[i];
  EXPECT_NEAR(dot_f32(g.data(), u.data(), 33), dot, 1e-5);
  auto a = g;
  axpy(a.data(), 0.5f, u.data(), 33);
  add(g.data(), u.data(), 33);
  for (int i = 0; i < 33; ++i) EXPECT_NEAR(a[i], g[i] - 0.5f * u[i], 1e-6);
}

}  // namespace
}  // namespace tern::kernels

namespace tern::kernels {
namespace {

// SIMD vs scalar twin: same products, different summation order; the bound
// is a few ulps of the sum of |q_i k_i|.
TEST(OpsTest, F16AttentionOpsMatchScalarTwins) {
  for (int n : {1, 7, 8, 15, 16, 64, 100, 128}) {
    auto q = random_vec(n, 10 + n), xs = random_vec(n, 20 + n);
    std::vector<uint16_t> k(static_cast<size_t>(n));
    double mag = 0;
    for (int i = 0; i < n; ++i) {
      k[i] = f32_to_fp16(xs[i]);
      mag += std::abs(q[i] * fp16_to_f32(k[i]));
    }
    EXPECT_NEAR(dot_f16(q.data(), k.data(), n), dot_f16_ref(q.data(), k.data(), n), 1e-6 * (1 + mag)) << n;
    auto y1 = q, y2 = q;
    axpy_f16(y1.data(), 0.37f, k.data(), n);
    axpy_f16_ref(y2.data(), 0.37f, k.data(), n);
    for (int i = 0; i < n; ++i) EXPECT_NEAR(y1[i], y2[i], 1e-6f * (1 + std::abs(y2[i])));
  }
}

double dot_ref_f64(const std::vector<float>& q, const uint16_t* k, int dim) {
  double s = 0;
  for (int i = 0; i < dim; ++i) s += double(q[i]) * fp16_to_f32(k[i]);
  return s;
}

TEST(OpsTest, PagedF16AttentionKernelsMatchScalarTwins) {
  for (int dim : {8, 64, 72, 128, 13}) {
    for (int n_rows : {1, 3, 4, 9, 130}) {
      std::vector<std::vector<uint16_t>> store(static_cast<size_t>(n_rows));
      std::vector<const uint16_t*> rows;
      double mag = 0;
      auto q = random_vec(dim, 99), w = random_vec(n_rows, 98);
      for (int p = 0; p < n_rows; ++p) {
        auto v = random_vec(dim, 200 + p);
        for (float x : v) store[p].push_back(f32_to_fp16(x));
        rows.push_back(store[p].data());
        for (int i = 0; i < dim; ++i) mag += std::abs(q[i] * v[i]);
      }
      std::vector<float> s1(n_rows), s2(n_rows), o1(dim), o2(dim);
      dot_rows_f16(q.data(), rows.data(), n_rows, dim, s1.data());
      dot_rows_f16_ref(q.data(), rows.data(), n_rows, dim, s2.data());
      // One summation order on every ISA (ops.h): identical bits.
      for (int p = 0; p < n_rows; ++p) EXPECT_EQ(s1[p], s2[p]) << dim << " " << n_rows;
      for (int p = 0; p < n_rows; ++p) EXPECT_NEAR(s2[p], dot_ref_f64(q, rows[p], dim), 1e-6 * (1 + mag));
      weighted_sum_f16(w.data(), rows.data(), n_rows, dim, o1.data());
      weighted_sum_f16_ref(w.data(), rows.data(), n_rows, dim, o2.data());
      for (int i = 0; i < dim; ++i) {
        EXPECT_EQ(o1[i], o2[i]) << dim << " " << n_rows;
        // The documented order: lane p mod 16 (fused multiply-adds), lanes summed pairwise.
        float lane[16] = {};
        for (int p = 0; p < n_rows; ++p) lane[p % 16] = std::fma(w[p], fp16_to_f32(rows[p][i]), lane[p % 16]);
        EXPECT_EQ(o2[i], sum_lanes16(lane)) << dim << " " << n_rows;
      }
    }
  }
}

}  // namespace
}  // namespace tern::kernels
