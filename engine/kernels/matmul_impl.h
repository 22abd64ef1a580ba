// Internal seam between matmul.cpp (dispatch, threading, scratch) and the
// per-ISA kernel files (matmul_ref.cpp, matmul_avx2.cpp, matmul_avx512.cpp).
// Each ISA file offers, per weight type, a TypeKernel: how to pre-process one
// activation row (usually: quantize it to 8-bit blocks in that ISA's own
// layout) and how to compute a range of output rows for all tokens.
#pragma once

#include <cstdint>

#include "kernels/ggml_type.h"
#include "kernels/matmul.h"

namespace tern::kernels::detail {

struct GemmArgs {
  const WeightView* W;
  const float* X;       // [n_tok, cols] f32 (for kernels that need no activation quantization)
  const uint8_t* act;   // [n_tok, act_stride] pre-processed activations, or null
  int64_t act_stride;   // bytes per token row in act
  int64_t n_tok;
  float* Y;             // [n_tok, rows]
};

struct TypeKernel {
  // Bytes of pre-processed activation per token for `cols` columns; 0 when
  // the kernel reads X directly (then prep is unused).
  int64_t (*act_bytes)(int64_t cols);
  void (*prep)(const float* x, int64_t cols, uint8_t* dst);
  // Y[t, r] for r in [r0, r1), all t. r0 is a multiple of row_grain.
  void (*gemm)(const GemmArgs& a, int64_t r0, int64_t r1);
  int64_t row_grain;
};

// nullptr when that ISA has no kernel for the type, layout and token count
// (the dispatcher then falls back to a lower ISA; the reference handles all).
const TypeKernel* ref_kernel(GgmlType t);
const TypeKernel* avx2_kernel(GgmlType t, Layout layout);
const TypeKernel* avx512_kernel(GgmlType t, Layout layout, int64_t n_tok);
const TypeKernel* avx512_kquant_kernel(GgmlType t);  // Q4_K / Q6_K, kGguf layout
const TypeKernel* avx2_kquant_kernel(GgmlType t);    // Q4_K / Q6_K, kGguf layout

// F16C row conversions (convert_avx2.cpp); quant_ref.cpp dispatches to them.
void fp16_to_f32_row_f16c(const uint16_t* x, float* y, int64_t n);
void f32_to_fp16_row_f16c(const float* x, uint16_t* y, int64_t n);

}  // namespace tern::kernels::detail
