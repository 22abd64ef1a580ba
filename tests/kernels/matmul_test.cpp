// matmul: every ISA path against the scalar reference (dequantize + f32 dot),
// over random shapes, token counts 1..17 and thread counts 1..3.
//
// Tolerance. Float weights: both sides sum the same f32 products in different
// orders, so |err| <= n * eps * sum|w*x| (we use 1e-5 * sum|w*x| + tiny).
// Quantized weights: the fast paths quantize X to int8 blocks with step
// d_b = amax_b/127 (blocks of 32 for Q8_0/Q4_0, 256 for K-quants); rounding
// moves each x by at most d_b/2, so |err| <= sum_c |w_c| * d_b(c)/2, plus the
// float slack above. That bound is computed per output element.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"

namespace tern::kernels {
namespace {

struct Case {
  GgmlType type;
  int64_t rows, cols, n_tok;
};

std::vector<float> randn(int64_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> g(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = g(rng);
  return v;
}

int64_t act_block(GgmlType t) {
  switch (t) {
    case GgmlType::Q8_0: case GgmlType::Q4_0: return 32;
    case GgmlType::Q4_K: case GgmlType::Q6_K: return 256;
    default: return 0;  // f32 activations
  }
}

void check(const Case& c, Isa isa, ThreadPool& pool, uint32_t seed, bool repacked = false) {
  std::mt19937 rng(seed);
  auto wf = randn(c.rows * c.cols, rng, 0.05f);
  const int64_t rb = row_bytes(c.type, c.cols);
  std::vector<uint8_t> w(static_cast<size_t>(rb * c.rows) + 64);
  for (int64_t r = 0; r < c.rows; ++r) quantize_row(c.type, &wf[size_t(r * c.cols)], &w[size_t(r * rb)], c.cols);
  auto x = randn(c.n_tok * c.cols, rng);
  WeightView W{c.type, w.data(), c.rows, c.cols};

  std::vector<float> yref(static_cast<size_t>(c.n_tok * c.rows)), y(yref.size(), NAN);
  matmul_ref(W, x.data(), c.n_tok, yref.data());
  ASSERT_EQ(set_isa(isa), isa);
  std::vector<uint8_t> packed;
  WeightView Wm = W;
  if (repacked) {
    packed.resize(static_cast<size_t>(repacked_bytes(c.type, c.rows, c.cols)));
    Wm = repack(W, packed.data());
    std::vector<uint8_t> row(static_cast<size_t>(rb));
    for (int64_t r = 0; r < c.rows; ++r) {  // the layout round-trips exactly
      unpack_row(Wm, r, row.data());
      ASSERT_EQ(0, std::memcmp(row.data(), &w[size_t(r * rb)], size_t(rb))) << r;
    }
  }
  matmul(pool, Wm, x.data(), c.n_tok, y.data());

  std::vector<float> wrow(static_cast<size_t>(c.cols));
  const int64_t ab = act_block(c.type);
  for (int64_t r = 0; r < c.rows; ++r) {
    dequantize_row(c.type, &w[size_t(r * rb)], wrow.data(), c.cols);
    for (int64_t t = 0; t < c.n_tok; ++t) {
      const float* xt = &x[size_t(t * c.cols)];
      double abs_sum = 0, q_bound = 0;
      for (int64_t k = 0; k < c.cols; ++k) abs_sum += std::fabs(double(wrow[size_t(k)]) * xt[k]);
      if (ab > 0) {
        for (int64_t b = 0; b < c.cols; b += ab) {
          float amax = 0;
          double wsum = 0;
          for (int64_t k = b; k < b + ab; ++k) amax = std::max(amax, std::fabs(xt[k])), wsum += std::fabs(wrow[size_t(k)]);
          q_bound += wsum * amax / 127 / 2;
        }
      }
      const double tol = 1e-5 * abs_sum + 1.001 * q_bound + 1e-6;
      const float got = y[size_t(t * c.rows + r)], want = yref[size_t(t * c.rows + r)];
      ASSERT_LE(std::fabs(double(got) - want), tol)
          << type_traits(c.type).name << " " << isa_name(isa) << " rows=" << c.rows << " cols=" << c.cols
          << " n_tok=" << c.n_tok << (repacked ? " repacked" : "") << " r=" << r << " t=" << t << " got=" << got << " want=" << want;
    }
  }
}

std::vector<Isa> isas() {
  std::vector<Isa> v;
  for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512})
    if (i <= detected_isa()) v.push_back(i);
  return v;
}

class MatmulTest : public ::testing::TestWithParam<GgmlType> {
 protected:
  void TearDown() override { set_isa(detected_isa()); }
};

TEST_P(MatmulTest, MatchesReferenceOnRandomShapes) {
  const GgmlType t = GetParam();
  const int64_t blk = type_traits(t).block_elems;
  std::mt19937 rng(42);
  ThreadPool pool1(1), pool2(2), pool3(3);
  ThreadPool* pools[] = {&pool1, &pool2, &pool3};
  for (Isa isa : isas()) {
    for (int i = 0; i < 12; ++i) {
      // cols: block multiples that are often not multiples of 64 (or of 8 for F32).
      int64_t cols = blk == 1 ? 1 + int64_t(rng() % 300) : blk * (1 + int64_t(rng() % (blk == 32 ? 13 : 3)));
      if (i == 0) cols = blk == 1 ? 768 : std::max<int64_t>(blk, 768 / blk * blk);
      const int64_t rows = 1 + int64_t(rng() % 70);
      const int64_t n_tok = 1 + int64_t(i % 17);
      check({t, rows, cols, n_tok}, isa, *pools[i % 3], uint32_t(i));
      if (HasFatalFailure()) return;
    }
    // Enough work that activations are quantized inside the parallel region.
    check({t, 37, blk == 256 ? 512 : 480, 140}, isa, pool2, 99);
    if (HasFatalFailure()) return;
    // 16/17 tokens and more than 64 rows per thread (the on-the-fly repack path).
    check({t, 150, blk == 256 ? 256 : 96, 16}, isa, pool1, 98);
    check({t, 291, blk == 256 ? 256 : 160, 17}, isa, pool2, 97);
    if (HasFatalFailure()) return;
  }
}

// The kRows16 layout on every ISA (lower ISAs go through unpack_row).
TEST(Matmul, RepackedMatchesReference) {
  if (!can_repack(GgmlType::Q8_0)) GTEST_SKIP() << "no repacking on this CPU";
  std::mt19937 rng(7);
  ThreadPool pool1(1), pool2(2), pool3(3);
  ThreadPool* pools[] = {&pool1, &pool2, &pool3};
  for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_0}) {
    for (Isa isa : isas()) {
      for (int i = 0; i < 14; ++i) {
        const int64_t cols = 32 * (1 + int64_t(rng() % 30));
        const int64_t rows = i == 0 ? 16 : 1 + int64_t(rng() % 90);
        const int64_t n_tok = 1 + int64_t(i % 17);
        check({t, rows, cols, n_tok}, isa, *pools[i % 3], uint32_t(100 + i), true);
        if (HasFatalFailure()) return;
      }
      check({t, 77, 768, 70}, isa, pool2, 5, true);
      if (HasFatalFailure()) return;
    }
  }
  set_isa(detected_isa());
}

INSTANTIATE_TEST_SUITE_P(Types, MatmulTest,
                         ::testing::Values(GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0,
                                           GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K),
                         [](const auto& info) { return std::string(type_traits(info.param).name); });

TEST(Matmul, KnownSmallProduct) {
  // W [2, 3] @ X [2, 3]^T in F32.
  const float w[] = {1, 2, 3, -1, 0.5f, 4};
  const float x[] = {1, 1, 1, 2, -2, 0.25f};
  float y[4];
  ThreadPool pool(2);
  matmul(pool, {GgmlType::F32, w, 2, 3}, x, 2, y);
  EXPECT_FLOAT_EQ(y[0], 6.0f);    // t0 r0
  EXPECT_FLOAT_EQ(y[1], 3.5f);    // t0 r1
  EXPECT_FLOAT_EQ(y[2], -1.25f);  // t1 r0: 2 - 4 + 0.75
  EXPECT_FLOAT_EQ(y[3], -2.0f);   // t1 r1: -2 - 1 + 1
}

// F32 weights sum in one fixed order on every ISA (dot_f32_ordered, the
// order of llama.cpp's AVX-512 CPU build), so every path gives the same bits,
// for any token count and thread count, and that order is the documented one.
float lanes16(float* a) {
  for (int d = 8; d >= 1; d /= 2)
    for (int j = 0; j < d; ++j) a[j] += a[j + d];
  return a[0];
}
float documented_order(const float* w, const float* x, int64_t n) {
  float g[4][16] = {};
  if (n % 16 == 0) {
    for (int64_t i = 0; i < n; ++i) g[0][i % 16] = std::fma(w[i], x[i], g[0][i % 16]);
    return lanes16(g[0]);
  }
  const int64_t np = n / 64 * 64;
  for (int64_t i = 0; i < np; ++i) g[(i % 64) / 16][i % 16] = std::fma(w[i], x[i], g[(i % 64) / 16][i % 16]);
  float f[16];
  for (int j = 0; j < 16; ++j) f[j] = (g[0][j] + g[2][j]) + (g[1][j] + g[3][j]);
  float s = lanes16(f);
  for (int64_t i = np; i < n; ++i) s = std::fma(w[i], x[i], s);
  return s;
}

TEST(Matmul, F32SumOrderIsFixedAcrossIsasTokensAndThreads) {
  for (int64_t cols : {16, 64, 172, 200, 256, 333}) {
    std::mt19937 rng(static_cast<uint32_t>(cols));
    const int64_t rows = 13;
    auto w = randn(rows * cols, rng, 0.05f);
    auto x = randn(9 * cols, rng);
    WeightView W{GgmlType::F32, w.data(), rows, cols};
    std::vector<float> want(static_cast<size_t>(9 * rows));
    for (int64_t t = 0; t < 9; ++t)
      for (int64_t r = 0; r < rows; ++r)
        want[size_t(t * rows + r)] = documented_order(&w[size_t(r * cols)], &x[size_t(t * cols)], cols);
    std::vector<float> y(want.size());
    matmul_ref(W, x.data(), 9, y.data());
    EXPECT_EQ(0, std::memcmp(y.data(), want.data(), y.size() * sizeof(float))) << "reference, cols " << cols;
    for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
      if (set_isa(isa) != isa) continue;
      for (int threads : {1, 3}) {
        ThreadPool pool(threads);
        for (int64_t n_tok : {1, 4, 9}) {
          std::fill(y.begin(), y.end(), NAN);
          matmul(pool, W, x.data(), n_tok, y.data());
          EXPECT_EQ(0, std::memcmp(y.data(), want.data(), static_cast<size_t>(n_tok * rows) * sizeof(float)))
              << isa_name(isa) << " cols " << cols << " tokens " << n_tok << " threads " << threads;
        }
      }
    }
    set_isa(detected_isa());
  }
}

TEST(Matmul, IsaDispatch) {
  EXPECT_EQ(set_isa(Isa::kScalar), Isa::kScalar);
  EXPECT_EQ(active_isa(), Isa::kScalar);
  EXPECT_EQ(set_isa(Isa::kAvx512), detected_isa() >= Isa::kAvx512 ? Isa::kAvx512 : detected_isa());
  set_isa(detected_isa());
}

}  // namespace
}  // namespace tern::kernels
