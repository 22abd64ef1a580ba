// Matrix multiplication of a (possibly quantized) weight matrix by f32
// activations: the one entry point the model uses for every linear layer.
//
//   matmul(pool, W, X, n_tok, Y):   W [rows, cols] @ X [n_tok, cols]^T -> Y [n_tok, rows]
//
// W is row-major in its GGUF encoding (each row is row_bytes(type, cols)
// bytes); X and Y are dense f32 with strides cols and rows. Supported weight
// types: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K (matmul_supported()).
//
// Numerics: F32/F16/BF16 weights accumulate in f32 (as llama.cpp). Quantized
// weights quantize X once per call to 8-bit blocks (32 elements for Q8_0/Q4_0,
// 256 for K-quants, ggml's Q8_0 / Q8_K) and use integer dot products, so the
// result differs from an f32 dot by the activation rounding (relative error
// around 1e-3, see tests/kernels/matmul_test.cpp).
//
// Threading: one parallel region per call; rows are split across the pool's
// workers. The caller must not call matmul concurrently on the same pool.
// Scratch memory is per caller thread and grows to the largest call seen
// (no allocation once warmed up).
#pragma once

#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/ggml_type.h"

namespace tern::kernels {

// How a weight matrix's bytes are arranged.
//   kGguf    rows one after another, as stored in the GGUF file
//   kRows16  repacked (see repack()): groups of 16 rows interleaved block by
//            block so that one 64-byte load feeds 16 rows' dot products;
//            only produced by repack(), only for types can_repack() accepts
enum class Layout : uint8_t { kGguf = 0, kRows16 = 1 };

struct WeightView {
  GgmlType type;
  const void* data;  // kGguf: rows * row_bytes(type, cols) bytes; 64-byte alignment recommended
  int64_t rows;
  int64_t cols;
  Layout layout = Layout::kGguf;
};

// Y[t, r] = sum_c W[r, c] * X[t, c] for t < n_tok, r < rows.
void matmul(ThreadPool& pool, const WeightView& W, const float* X, int64_t n_tok, float* Y);

// Same contract, single-threaded scalar reference: dequantize each row to f32
// and accumulate in f32 (double for nothing). The oracle for tests.
void matmul_ref(const WeightView& W, const float* X, int64_t n_tok, float* Y);

bool matmul_supported(GgmlType t);

// ---- load-time repacking (optional, pays on AVX-512 VNNI CPUs) ----
//
// Usage at load time:
//   if (can_repack(W.type)) {
//     buf = aligned_alloc(64, repacked_bytes(W.type, W.rows, W.cols));
//     W = repack(W, buf);         // W now views buf; the GGUF bytes are no longer read
//   }
// The repacked matrix is ~the same size as the original (rows padded to 16).
// can_repack() answers for the best ISA of this CPU; a repacked matrix still
// works on every ISA (slowly, through the reference path, when forced lower).
bool can_repack(GgmlType t);
int64_t repacked_bytes(GgmlType t, int64_t rows, int64_t cols);
WeightView repack(const WeightView& src, void* dst);
// One row of a repacked matrix back in GGUF encoding (row_bytes(type, cols)).
void unpack_row(const WeightView& W, int64_t r, void* dst);

// ---- instruction-set dispatch ----

enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };
const char* isa_name(Isa isa);
Isa detected_isa();  // best the CPU (and OS) support
Isa active_isa();    // what matmul uses now
// Force a path (tests, benchmarks). Clamped to detected_isa(); returns the ISA
// actually set. Not thread-safe against concurrent matmul calls.
Isa set_isa(Isa isa);

}  // namespace tern::kernels
