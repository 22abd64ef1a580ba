// AVX-512 (F/BW/VL/DQ/VNNI/BF16) matmul kernels. Phase 1: none yet; the
// dispatcher falls back to AVX2 for every type.
#include "kernels/matmul_impl.h"

namespace tern::kernels {

const detail::TypeKernel* detail::avx512_kernel(GgmlType) { return nullptr; }

}  // namespace tern::kernels
