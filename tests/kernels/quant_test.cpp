// Block codecs: hand-built blocks with known values, fp16/bf16 rounding,
// quantize -> dequantize error bounds derived from each format's step size.
#include <gtest/gtest.h>
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/quant.h"

namespace tern::kernels {
namespace {

std::vector<float> dequant(GgmlType t, const void* src, int64_t n) {
  std::vector<float> y(static_cast<size_t>(n));
  dequantize_row(t, src, y.data(), n);
  return y;
}

// ---------------- known blocks ----------------

TEST(QuantDecode, Q8_0) {
  BlockQ8_0 b;
  b.d = 0x3800;  // 0.5
  for (int i = 0; i < 32; ++i) b.qs[i] = int8_t(i * 7 - 120);
  auto y = dequant(GgmlType::Q8_0, &b, 32);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(y[i], 0.5f * float(i * 7 - 120)) << i;
}

TEST(QuantDecode, Q4_0) {
  BlockQ4_0 b[2];
  b[0].d = 0x4000;  // 2.0
  b[1].d = 0xbc00;  // -1.0
  for (int j = 0; j < 16; ++j) b[0].qs[j] = b[1].qs[j] = uint8_t(j | ((15 - j) << 4));
  auto y = dequant(GgmlType::Q4_0, b, 64);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 2.0f * (j - 8));            // low nibbles: elements 0..15
    EXPECT_EQ(y[16 + j], 2.0f * (15 - j - 8));  // high nibbles: elements 16..31
    EXPECT_EQ(y[32 + j], -1.0f * (j - 8));
    EXPECT_EQ(y[48 + j], -1.0f * (15 - j - 8));
  }
}

TEST(QuantDecode, Q4_K) {
  // Pack 6-bit scales/mins by the documented layout: bytes 0-3 hold sc[0..3]
  // (low 6 bits) and sc[4..7]'s top 2 bits; bytes 4-7 likewise for mins;
  // bytes 8-11 hold the low 4 bits of sc[4..7] | mins[4..7] << 4.
  const int sc[8] = {1, 17, 33, 63, 5, 40, 22, 63};
  const int m[8] = {0, 63, 12, 31, 48, 7, 60, 2};
  BlockQ4_K b;
  b.d = 0x3c00;     // 1.0
  b.dmin = 0x3400;  // 0.25
  for (int j = 0; j < 4; ++j) {
    b.scales[j] = uint8_t(sc[j] | ((sc[j + 4] >> 4) << 6));
    b.scales[j + 4] = uint8_t(m[j] | ((m[j + 4] >> 4) << 6));
    b.scales[j + 8] = uint8_t((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
  }
  auto q = [](int e) { return (e * 5 + e / 32) % 16; };  // element -> 4-bit value
  for (int e = 0; e < 256; ++e) {
    const int j = e / 32, l = e % 32;  // sub-block j lives in qs[32*(j/2)..], nibble j%2
    uint8_t& byte = b.qs[32 * (j / 2) + l];
    if (j % 2 == 0) byte = uint8_t((byte & 0xF0) | q(e));
    else byte = uint8_t((byte & 0x0F) | (q(e) << 4));
  }
  auto y = dequant(GgmlType::Q4_K, &b, 256);
  for (int e = 0; e < 256; ++e) {
    const int j = e / 32;
    EXPECT_EQ(y[e], 1.0f * sc[j] * q(e) - 0.25f * m[j]) << e;
  }
}

TEST(QuantDecode, Q6_K) {
  BlockQ6_K b;
  std::memset(&b, 0, sizeof b);
  b.d = 0x3400;  // 0.25
  for (int j = 0; j < 16; ++j) b.scales[j] = int8_t(j * 9 - 70);
  auto q = [](int e) { return (e * 7 + 3) % 64; };  // element -> 6-bit value
  for (int e = 0; e < 256; ++e) {
    // Each half of 128 elements: 4 groups of 32; group g takes the low (g<2)
    // or high (g>=2) nibble of ql[64h + 32*(g%2) + l] and bits 2g..2g+1 of qh[32h + l].
    const int h = e / 128, g = (e % 128) / 32, l = e % 32;
    uint8_t& lo = b.ql[64 * h + 32 * (g % 2) + l];
    lo |= uint8_t((q(e) & 0xF) << (g < 2 ? 0 : 4));
    b.qh[32 * h + l] |= uint8_t((q(e) >> 4) << (2 * g));
  }
  auto y = dequant(GgmlType::Q6_K, &b, 256);
  for (int e = 0; e < 256; ++e) {
    const int j = e / 16;  // 16 sub-blocks of 16, in element order
    EXPECT_EQ(y[e], 0.25f * b.scales[j] * (q(e) - 32)) << e;
  }
}

TEST(QuantDecode, F16AndBF16) {
  const uint16_t h[] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x7c00, 0x8000};
  auto y = dequant(GgmlType::F16, h, 7);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -2.0f);
  EXPECT_EQ(y[2], 65504.0f);
  EXPECT_EQ(y[3], std::ldexp(1.0f, -24));
  EXPECT_EQ(y[4], std::ldexp(1.0f, -14));
  EXPECT_TRUE(std::isinf(y[5]));
  EXPECT_TRUE(std::signbit(y[6]));
  const uint16_t bf[] = {0x3f80, 0xc040};
  auto z = dequant(GgmlType::BF16, bf, 2);
  EXPECT_EQ(z[0], 1.0f);
  EXPECT_EQ(z[1], -3.0f);
}

// ---------------- fp16 / bf16 rounding ----------------

TEST(Fp16, RoundTripAllHalves) {
  for (uint32_t h = 0; h < 65536; ++h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;  // NaN payloads
    EXPECT_EQ(f32_to_fp16(fp16_to_f32(uint16_t(h))), h) << h;
  }
}

TEST(Fp16, RoundsToNearestEven) {
  EXPECT_EQ(f32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);      // tie -> even
  EXPECT_EQ(f32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie -> even (up)
  EXPECT_EQ(f32_to_fp16(65519.0f), 0x7bff);
  EXPECT_EQ(f32_to_fp16(65520.0f), 0x7c00);  // tie at the top rounds to Inf
  EXPECT_EQ(f32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);      // subnormal tie -> 0
  EXPECT_EQ(f32_to_fp16(3 * std::ldexp(1.0f, -25)), 0x0002);  // subnormal tie -> even
  EXPECT_EQ(f32_to_fp16(-0.0f), 0x8000);
}

__attribute__((target("f16c"))) uint16_t hw_f32_to_fp16(float f) {
  return uint16_t(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}

TEST(Fp16, MatchesF16C) {
  if (!__builtin_cpu_supports("f16c")) GTEST_SKIP() << "no F16C";
  std::mt19937 rng(1);
  for (int i = 0; i < 1000000; ++i) {
    uint32_t u = rng();
    float f;
    std::memcpy(&f, &u, 4);
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_fp16(f), hw_f32_to_fp16(f)) << std::hex << u;
  }
}

// The bulk converters (F16C where available) agree with the scalar ones,
// specials and subnormals included, on every ISA path.
TEST(Fp16, RowConvertersMatchScalar) {
  std::mt19937 rng(3);
  std::vector<float> x(1003);
  for (auto& v : x) {
    uint32_t u = rng();
    if (u % 4 == 0) u = (u & 0x807fffff) | (uint32_t(100 + u % 40) << 23);  // near fp16 range edges
    std::memcpy(&v, &u, 4);
    if (std::isnan(v)) v = 1.5f;
  }
  std::vector<uint16_t> h(x.size());
  std::vector<float> y(x.size());
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (isa > detected_isa()) continue;
    set_isa(isa);
    f32_to_fp16_row(x.data(), h.data(), int64_t(x.size()));
    fp16_to_f32_row(h.data(), y.data(), int64_t(h.size()));
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(h[i], f32_to_fp16(x[i])) << isa_name(isa) << " " << i;
      const float want = fp16_to_f32(h[i]);
      ASSERT_EQ(std::memcmp(&y[i], &want, 4), 0) << isa_name(isa) << " " << i;  // bitwise (signed zeros)
    }
  }
  set_isa(detected_isa());
}

TEST(Bf16, RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);      // tie -> even
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);  // tie -> even (up)
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -7)), 0x3f81);
  EXPECT_EQ(f32_to_bf16(std::nanf("")) & 0x7fc0, 0x7fc0);
}

// ---------------- quantize -> dequantize error bounds ----------------

std::vector<float> random_row(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, scale);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = g(rng);
  // A few outliers, as real weights have.
  for (int64_t i = 0; i < n; i += 97) x[size_t(i)] *= 6.0f;
  return x;
}

std::vector<float> roundtrip(GgmlType t, const std::vector<float>& x) {
  const int64_t n = int64_t(x.size());
  std::vector<uint8_t> q(size_t(row_bytes(t, n)));
  quantize_row(t, x.data(), q.data(), n);
  return dequant(t, q.data(), n);
}

float amax(const float* x, int n) {
  float m = 0;
  for (int i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

TEST(QuantRoundTrip, Q8_0) {
  auto x = random_row(4096, 1);
  auto y = roundtrip(GgmlType::Q8_0, x);
  for (size_t b = 0; b < x.size(); b += 32) {
    // Step d = amax/127; rounding costs d/2. Storing d in fp16 (rel. error
    // 2^-11) moves the largest level (127*d) by at most 127*d*2^-11 = 0.062d.
    const float d = amax(&x[b], 32) / 127;
    for (size_t i = b; i < b + 32; ++i) ASSERT_LE(std::fabs(x[i] - y[i]), 0.57f * d) << i;
  }
}

TEST(QuantRoundTrip, Q4_0) {
  auto x = random_row(4096, 2);
  auto y = roundtrip(GgmlType::Q4_0, x);
  for (size_t b = 0; b < x.size(); b += 32) {
    // Step |d| = amax/8 maps the extreme to -8; the opposite extreme (+8)
    // clamps to 7, costing one full step there, half a step elsewhere.
    const float d = amax(&x[b], 32) / 8;
    for (size_t i = b; i < b + 32; ++i) ASSERT_LE(std::fabs(x[i] - y[i]), 1.01f * d) << i;
  }
  // Typical error is far below the worst case: RMS ~ step/sqrt(12) ~ 0.29 step.
}

double rms(const std::vector<float>& a) {
  double s = 0;
  for (float v : a) s += double(v) * v;
  return std::sqrt(s / double(a.size()));
}

double rms_err(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i] - b[i]) * (a[i] - b[i]);
  return std::sqrt(s / double(a.size()));
}

TEST(QuantRoundTrip, Q4_K) {
  auto x = random_row(8192, 3);
  auto y = roundtrip(GgmlType::Q4_K, x);
  for (size_t sb = 0; sb < x.size(); sb += 32) {
    // A sub-block of 32 spans [min(x,0), max(x)] with 15 steps; the fitted
    // scale and min are re-rounded to 6 bits of the super-block maxima, which
    // can stretch the step by up to ~1/(2*scale6) and shift the grid by up to
    // dmin/2. One full nominal step bounds all of it with margin.
    float lo = 0, hi = x[sb];
    for (size_t i = sb; i < sb + 32; ++i) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
    const float step = (hi - lo) / 15;
    for (size_t i = sb; i < sb + 32; ++i) ASSERT_LE(std::fabs(x[i] - y[i]), step) << i;
  }
  // Gaussian data: ~4.5 bits/weight gives ~0.1 relative RMS error.
  EXPECT_LT(rms_err(x, y) / rms(x), 0.12);
}

TEST(QuantRoundTrip, Q6_K) {
  auto x = random_row(8192, 4);
  auto y = roundtrip(GgmlType::Q6_K, x);
  for (size_t sb = 0; sb < x.size(); sb += 16) {
    // 16 elements on a symmetric grid of 64 levels, step ~ amax/32 (the fit
    // may widen it by 0.9/32); rounding costs half a step, clamping the +32
    // side at 31 one step. The sub-block scale is then stored as an 8-bit
    // multiple of d = max_scale/128 of the whole super-block, off by up to
    // d/2, which moves the outermost level (32 steps) by 16*d = amax_super/256.
    const float step = amax(&x[sb], 16) / 31;
    const float super = amax(&x[sb / 256 * 256], 256);
    for (size_t i = sb; i < sb + 16; ++i) ASSERT_LE(std::fabs(x[i] - y[i]), 1.05f * step + super / 256) << i;
  }
  EXPECT_LT(rms_err(x, y) / rms(x), 0.03);
}

TEST(QuantRoundTrip, F16AndBF16) {
  auto x = random_row(1024, 5);
  auto h = roundtrip(GgmlType::F16, x);
  auto b = roundtrip(GgmlType::BF16, x);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_LE(std::fabs(x[i] - h[i]), std::fabs(x[i]) * 0x1p-11f);  // half an ulp of 10 mantissa bits
    EXPECT_LE(std::fabs(x[i] - b[i]), std::fabs(x[i]) * 0x1p-8f);   // half an ulp of 7 mantissa bits
  }
}

TEST(QuantRoundTrip, ZerosStayZero) {
  std::vector<float> x(512, 0.0f);
  for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K}) {
    auto y = roundtrip(t, x);
    for (float v : y) ASSERT_EQ(v, 0.0f) << type_traits(t).name;
  }
}

// Quantizing values that already lie on a Q8_0 grid reproduces them.
TEST(QuantRoundTrip, Q8_0GridIsFixedPoint) {
  BlockQ8_0 b;
  b.d = f32_to_fp16(0.03125f);
  for (int i = 0; i < 32; ++i) b.qs[i] = int8_t(i == 5 ? -127 : (i * 37) % 255 - 127);
  auto y = dequant(GgmlType::Q8_0, &b, 32);
  BlockQ8_0 c;
  quantize_row(GgmlType::Q8_0, y.data(), &c, 32);
  EXPECT_EQ(0, std::memcmp(&b, &c, sizeof b));
}

TEST(QuantActivations, Q8_KBsums) {
  auto x = random_row(512, 6);
  BlockQ8_K y[2];
  quantize_row_q8_K_ref(x.data(), y, 512);
  for (int b = 0; b < 2; ++b) {
    for (int j = 0; j < 16; ++j) {
      int s = 0;
      for (int i = 0; i < 16; ++i) s += y[b].qs[16 * j + i];
      EXPECT_EQ(s, y[b].bsums[j]);
    }
    const float a = amax(&x[size_t(256 * b)], 256);
    for (int i = 0; i < 256; ++i) ASSERT_LE(std::fabs(y[b].d * y[b].qs[i] - x[size_t(256 * b + i)]), 0.5001f * a / 127);
  }
}

}  // namespace
}  // namespace tern::kernels
