// The prompt-scoring kernels (kernels/score.h) against their scalar twins and
// defining formulas. Tolerances: f32 sums of up to a few hundred products in
// a different order than the double references, so ~1e-5 relative.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/matmul.h"
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
    gemm_panels(pool, P, x.data(), n, got.data());
    gemm_panels_ref(P, x.data(), n, ref.data());
    for (size_t i = 0; i < want.size(); ++i) {
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
      // Two calls over [0, k) and [k, n): row ranges are independent.
      const int64_t k = n / 3;
      attend_causal(q.data(), q_stride, 0, k, kt.data(), vt.data(), stride, hd, scale, got.data(), q_stride, scratch.data());
      attend_causal(q.data(), q_stride, k, n, kt.data(), vt.data(), stride, hd, scale, got.data(), q_stride, scratch.data());
      attend_causal_ref(q.data(), q_stride, 0, n, kt.data(), vt.data(), stride, hd, scale, want.data(), q_stride);
      for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 2e-5) << "hd " << hd << " n " << n << " at " << i;
      // Row 0 sees only key 0: its output is V[0].
      for (int d = 0; d < hd; ++d) EXPECT_NEAR(got[static_cast<size_t>(d)], vt[d * stride], 1e-6);
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
