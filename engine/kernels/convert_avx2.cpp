// F16C row conversions (compiled with -mf16c; called only when the CPU has
// it). Both round to nearest even, like the scalar helpers in quant.h.
#include <immintrin.h>

#include "kernels/matmul_impl.h"
#include "kernels/quant.h"

namespace tern::kernels::detail {

void fp16_to_f32_row_f16c(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
  for (; i < n; ++i) y[i] = fp16_to_f32(x[i]);
}

void f32_to_fp16_row_f16c(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) y[i] = f32_to_fp16(x[i]);
}

}  // namespace tern::kernels::detail
