// The prompt-scoring kernels (kernels/score.h) against their scalar twins and
// defining formulas. Tolerances: f32 sums of up to a few hundred products in
// a different order than the double references, so ~1e-5 relative.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/score.h"

namespace tern::kernels {
namespace {

std::vector<float> random_vec(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

// Every test runs on each build this CPU can run (AVX-512, AVX2, baseline).
class ScoreKernelsTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override { ASSERT_TRUE(set_score_isa(GetParam())); }
  void TearDown() override { set_score_isa(score_isas().front()); }
};

TEST_P(ScoreKernelsTest, PackedGemmMatchesMatmulRef) {
  ThreadPool pool(2);
  // (rows, cols, tokens): 64-wide model shapes, ragged rows and token counts.
  for (auto [rows, cols, n] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {64, 64, 1}, {172, 64, 7}, {64, 172, 64}, {512, 64, 130}, {17, 32, 9}, {33, 8, 200}}) {
    const auto w = random_vec(rows * cols, 1), x = random_vec(n * cols, 2);
    const WeightView W{GgmlType::F32, w.data(), rows, cols};
    const PanelMatrix P = pack_panels(W);
    ASSERT_EQ(P.panels(), (rows + 15) / 16);
    std::vector<float> want(static_cast<size_t>(n * rows)), got(want.size(), -1.0f), ref(want.size());
    matmul_ref(W, x.data(), n, want.data());
    std::vector<float> serial(want.size(), -1.0f);
    gemm_panels(pool, P, x.data(), n, got.data());
    gemm_panels(P, x.data(), n, serial.data());  // the calling thread alone: the same sums
    gemm_panels_ref(P, x.data(), n, ref.data());
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(serial[i], got[i]) << rows << "x" << cols << " n=" << n << " at " << i;
      const double tol = 1e-5 * std::sqrt(static_cast<double>(cols)) * 4;
      ASSERT_NEAR(got[i], want[i], tol) << rows << "x" << cols << " n=" << n << " at " << i;
      ASSERT_NEAR(ref[i], want[i], tol);
    }
  }
}

TEST_P(ScoreKernelsTest, PackedGemmReadsQuantizedWeights) {
  // F16 rows dequantize exactly; the packed product equals matmul_ref's.
  ThreadPool pool(1);
  const int64_t rows = 40, cols = 64, n = 5;
  const auto w = random_vec(rows * cols, 3), x = random_vec(n * cols, 4);
  std::vector<uint16_t> h(w.size());
  for (size_t i = 0; i < w.size(); ++i) h[i] = static_cast<uint16_t>(0x3C00 + (i % 7) * 0x100);  // exact f16 values
  const WeightView W{GgmlType::F16, h.data(), rows, cols};
  std::vector<float> want(static_cast<size_t>(n * rows)), got(want.size());
  matmul_ref(W, x.data(), n, want.data());
  gemm_panels(pool, pack_panels(W), x.data(), n, got.data());
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-3);
}

TEST_P(ScoreKernelsTest, CausalAttentionMatchesReference) {
  for (int hd : {8, 12, 16, 32, 64, 128}) {
    for (int64_t n : {1, 5, 16, 37, 100}) {
      const int64_t stride = (n + 15) / 16 * 16;
      const int64_t q_stride = hd * 3;  // rows interleaved with other heads, as in the runner
      const auto q = random_vec(n * q_stride, 5, 2.0f);
      auto kt = random_vec(hd * stride, 6), vt = random_vec(hd * stride, 7);
      for (int d = 0; d < hd; ++d)
        for (int64_t j = n; j < stride; ++j) kt[d * stride + j] = vt[d * stride + j] = 0.0f;
      std::vector<float> got(static_cast<size_t>(n * q_stride), 0.0f), want(got.size(), 0.0f);
      std::vector<float> scratch(static_cast<size_t>(4 * stride));
      const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
      // Two calls over [0, k) and [k, n): row ranges are independent; q and
      // out point at the range's first row.
      const int64_t k = n / 3;
      attend_causal(q.data(), q_stride, 0, k, kt.data(), vt.data(), stride, hd, scale, got.data(), q_stride, scratch.data());
      attend_causal(q.data() + k * q_stride, q_stride, k, n, kt.data(), vt.data(), stride, hd, scale,
                    got.data() + k * q_stride, q_stride, scratch.data());
      attend_causal_ref(q.data(), q_stride, 0, n, kt.data(), vt.data(), stride, hd, scale, want.data(), q_stride);
      for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 2e-5) << "hd " << hd << " n " << n << " at " << i;
      // Row 0 sees only key 0: its output is V[0].
      for (int d = 0; d < hd; ++d) EXPECT_NEAR(got[static_cast<size_t>(d)], vt[d * stride], 1e-6);
    }
  }
}

TEST_P(ScoreKernelsTest, AttentionWeightsUnderflowCleanly) {
  // Scores thousands apart: every weight but the largest is exactly 0, so
  // each row's output is the value of its best key; no NaN from -inf masks.
  const int hd = 8;
  const int64_t n = 40, stride = 48;
  std::vector<float> q(static_cast<size_t>(n * hd)), kt(static_cast<size_t>(hd * stride), 0.0f), vt(kt.size(), 0.0f);
  for (int64_t r = 0; r < n; ++r) q[static_cast<size_t>(r * hd)] = 1.0f;
  for (int64_t j = 0; j < n; ++j) {
    kt[static_cast<size_t>(j)] = static_cast<float>(j % 7) * 1000.0f;  // dim 0: key j scores 1000 (j mod 7)
    for (int d = 0; d < hd; ++d) vt[static_cast<size_t>(d * stride + j)] = static_cast<float>(j * 10 + d);
  }
  std::vector<float> out(q.size(), -1.0f), scratch(static_cast<size_t>(4 * stride));
  attend_causal(q.data(), hd, 0, n, kt.data(), vt.data(), stride, hd, 1.0f, out.data(), hd, scratch.data());
  for (int64_t r = 0; r < n; ++r) {
    int64_t best = 0;  // the first key with the highest score among 0..r
    for (int64_t j = 0; j <= r; ++j)
      if (j % 7 > best % 7) best = j;
    int64_t ties = 0;
    for (int64_t j = 0; j <= r; ++j) ties += (j % 7 == best % 7);
    if (ties > 1) continue;  // equal best keys share the weight
    for (int d = 0; d < hd; ++d) {
      const float want = static_cast<float>(best * 10 + d);
      ASSERT_NEAR(out[static_cast<size_t>(r * hd + d)], want, 1e-6 * want + 1e-6) << r;
    }
  }
}

TEST_P(ScoreKernelsTest, RmsNormAndSiluMulMatchTheirFormulas) {
  for (int64_t n : {1, 8, 16, 64, 172, 4096}) {
    const auto x = random_vec(n, 9, 3.0f), w = random_vec(n, 10), u = random_vec(n, 11);
    std::vector<float> got(static_cast<size_t>(n)), want(got.size());
    rmsnorm_row(x.data(), w.data(), got.data(), n, 1e-5f);
    rmsnorm(x.data(), w.data(), want.data(), n, 1e-5f);
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 2e-6 * (std::fabs(want[i]) + 1e-3)) << n << " at " << i;
    silu_mul(x.data(), u.data(), got.data(), n);
    for (size_t i = 0; i < got.size(); ++i) {
      const double g = x[i], s = g / (1.0 + std::exp(-g)) * u[i];
      ASSERT_NEAR(got[i], s, 1e-6 * (std::fabs(s) + 1e-3)) << n << " at " << i;
    }
  }
}

TEST_P(ScoreKernelsTest, LogSumExpMatchesReference) {
  for (int64_t n : {1, 15, 16, 17, 512, 32000}) {
    auto x = random_vec(n, 8, 5.0f);
    EXPECT_NEAR(logsumexp(x.data(), n), logsumexp_ref(x.data(), n), 2e-5 * std::log(static_cast<double>(n) + 1) + 1e-5) << n;
  }
  // Huge spread: terms more than 87 below the max vanish exactly.
  std::vector<float> x = {0.0f, -200.0f, -1e30f, 3.0f, -90.0f};
  EXPECT_NEAR(logsumexp(x.data(), 5), logsumexp_ref(x.data(), 5), 1e-6);
  std::vector<float> y(40, 1000.0f);  // large equal values: log(40) + 1000
  EXPECT_NEAR(logsumexp(y.data(), 40), 1000.0 + std::log(40.0), 1e-3);
}

TEST_P(ScoreKernelsTest, LogSumExpExpIsAccurateOverItsRange) {
  // exp through logsumexp of {0, t}: log(1 + e^t) for t in [-80, 0].
  for (float t = -80.0f; t <= 0.0f; t += 0.37f) {
    const float x[2] = {0.0f, t};
    EXPECT_NEAR(logsumexp(x, 2), std::log1p(std::exp(static_cast<double>(t))), 1e-7) << t;
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, ScoreKernelsTest, ::testing::ValuesIn(score_isas()),
                         [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

}  // namespace
}  // namespace tern::kernels
