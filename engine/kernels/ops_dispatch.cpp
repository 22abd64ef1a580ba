// Run-time choice between the scalar and AVX2/F16C attention ops.
#include <cpuid.h>

#include "kernels/ops.h"

namespace tern::kernels {
namespace detail {
float dot_f16_avx2(const float* q, const uint16_t* k, int64_t n);
void axpy_f16_avx2(float* y, float s, const uint16_t* x, int64_t n);
void dot_rows_f16_avx2(const float* q, const uint16_t* const* rows, int64_t n_rows, int64_t dim, float* scores);
void weighted_sum_f16_avx2(const float* w, const uint16_t* const* rows, int64_t n_rows, int64_t dim, float* out);
}  // namespace detail

namespace {
bool has_avx2_f16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_F16C) || !(c & bit_FMA)) return false;
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}
const bool kAvx2 = has_avx2_f16c();
}  // namespace

float dot_f16(const float* q, const uint16_t* k, int64_t n) {
  return kAvx2 ? detail::dot_f16_avx2(q, k, n) : dot_f16_ref(q, k, n);
}
void axpy_f16(float* y, float s, const uint16_t* x, int64_t n) {
  kAvx2 ? detail::axpy_f16_avx2(y, s, x, n) : axpy_f16_ref(y, s, x, n);
}

void dot_rows_f16(const float* q, const uint16_t* const* rows, int64_t n_rows, int64_t dim, float* scores) {
  if (kAvx2 && dim % 8 == 0) return detail::dot_rows_f16_avx2(q, rows, n_rows, dim, scores);
  dot_rows_f16_ref(q, rows, n_rows, dim, scores);
}
void weighted_sum_f16(const float* w, const uint16_t* const* rows, int64_t n_rows, int64_t dim, float* out) {
  if (kAvx2 && dim % 8 == 0) return detail::weighted_sum_f16_avx2(w, rows, n_rows, dim, out);
  weighted_sum_f16_ref(w, rows, n_rows, dim, out);
}

}  // namespace tern::kernels
