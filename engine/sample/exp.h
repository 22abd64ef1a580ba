// exp for softmax weights: exp(x) for x <= 0, built only from IEEE + - *
// and bit moves, so it gives the same bits on every platform (std::exp comes
// from the C library, whose rounding differs between libms) and the compiler
// can vectorize loops over it (a libm call blocks that).
//
// Method (Cephes expf): x = n ln2 + r with n = round(x / ln2), |r| <= ln2/2;
// exp(r) by a degree-7 polynomial; exp(x) = 2^n exp(r). Max relative error
// about 2e-7 (tests/unit/sampler_test.cpp). exp(0) == 1 exactly. Inputs below
// -87.3 (where 2^n would leave the normal range), -inf and NaN included,
// give 0. Domain x < 88 (2^n overflows above); the sampler passes only
// logit - max_logit <= 0.
#pragma once

#include <bit>
#include <cstdint>

namespace tern::sample {

inline float exp_weight(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;  // ln 2 split so that n * kLn2Hi is exact
  constexpr float kLn2Lo = -2.12194440e-4f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  // keep: all ones unless x < -87.3, -inf or NaN. Decided on the bits and
  // applied as a mask: GCC will not vectorize a float select or a float
  // comparison that may trap on NaN (-ftrapping-math). Negative floats order
  // the other way round as unsigned integers.
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint32_t in_range = (bits <= std::bit_cast<uint32_t>(-87.3f)) & ((bits & 0x7FFFFFFFu) <= 0x7F800000u);
  const uint32_t keep = 0u - in_range;
  const float xc = std::bit_cast<float>(bits & keep);  // 0 when out of range
  const float t = xc * kLog2e + kRound;  // round-to-nearest(x / ln2) in the low mantissa bits
  const float n = t - kRound;
  const int32_t ni = std::bit_cast<int32_t>(t) - std::bit_cast<int32_t>(kRound);
  float r = xc - n * kLn2Hi;
  r = r - n * kLn2Lo;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * (r * r) + r + 1.0f;
  const float scale = std::bit_cast<float>((ni + 127) << 23);  // 2^n
  return std::bit_cast<float>(std::bit_cast<uint32_t>(e * scale) & keep);
}

}  // namespace tern::sample
