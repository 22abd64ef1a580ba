// Tensor element types, numbered as in the GGUF file format (ggml_type).
// Block layouts are described in quant_blocks.h; this header only names types
// and gives their block geometry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tern {

enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21,
  IQ2_S = 22, IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28,
  IQ1_M = 29, BF16 = 30,
};

struct TypeTraits {
  std::string_view name;
  int64_t block_elems;   // elements per block (1 for plain types)
  int64_t block_bytes;   // bytes per block
  bool supported;        // tern can dequantize / compute with it
};

// Geometry for any type id found in a file; unknown ids give block_elems == 0.
TypeTraits type_traits(uint32_t type_id);
inline TypeTraits type_traits(GgmlType t) { return type_traits(static_cast<uint32_t>(t)); }

// Bytes used by a row of n elements; n must be a multiple of the block size.
inline int64_t row_bytes(GgmlType t, int64_t n) {
  TypeTraits tt = type_traits(t);
  return n / tt.block_elems * tt.block_bytes;
}

}  // namespace tern
