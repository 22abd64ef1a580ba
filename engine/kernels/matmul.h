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
// workers (activation quantization of big batches runs inside the same
// region, behind one spin barrier). The caller must not call matmul
// concurrently on the same pool. Scratch memory is per caller thread and
// grows to the largest call seen (no allocation once warmed up).
//
// Paths (AVX-512 = F/BW/VL/DQ/VNNI/BF16, picked at run time):
//   type   layout    n_tok   AVX-512                          AVX2
//   Q8_0   kGguf     < 16    block pairs per zmm, vpdpbusd    maddubs, 1 block
//   Q8_0   kGguf     >= 16   repack 64 rows on the fly -> kRows16 kernel
//   Q8_0   kRows16   any     16 rows x 8 tokens per tile      (reference)
//   Q4_0   same as Q8_0
//   Q4_K/Q6_K kGguf  < 16    row kernel, 4-token tiles        maddubs+madd
//   Q4_K/Q6_K kGguf  >= 16   16-row tiles built on the fly, 16 rows x 8 tokens
//   F32/F16/BF16     any     8 rows (decode) / 4x4 FMA tiles  4-row FMA
//
// Measured (bench/kernels/matmul_bench: the 85 linear layers of bench-110m,
// dim 768, FFN 2048, vocab 32000; matmuls only, 1 thread, rates by CPU time
// on the 2-vCPU AMD EPYC while other jobs shared it, spread ~10-20%):
//   AVX-512            decode tok/s  GB/s      pp512 tok/s  GFLOP/s
//   Q8_0 kGguf          187-211      22-24     1150-1210    252-265
//   Q8_0 kRows16        233-311      27-36     1410-1540    310-337
//   Q4_0 kGguf          305-316      19        1315-1390    288-305
//   Q4_0 kRows16        382-444      24-27     1470-1550    321-340
//   Q4_K                332-364      20-22     1300-1330    285-292
//   Q6_K                254-342      23-31     1285-1380    280-302
//   F32                 50-64        22-28     400-470      88-103
//   F16 / BF16          77-156       17-34     500-550      110-120
// Single-thread streaming read peaks at ~31 GB/s here (67 GB/s with 2).
// AVX2 for comparison: Q8_0 176-184 / 198-205, Q4_0 185-198 / 193-210,
// Q4_K 124-195 / 251-298, Q6_K 67-70 / 165, F32 44-53 / 219-224
// (decode / pp512 tok/s).
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

// Y[t, r] = sum_c W[r, c] * X[t, c] for t < n_tok, r < rows. Y must not
// overlap X or W. cols must be a multiple of the type's block size.
void matmul(ThreadPool& pool, const WeightView& W, const float* X, int64_t n_tok, float* Y);

// Same contract, single-threaded scalar reference: dequantize each row to f32
// and accumulate in f32 (double for nothing). The oracle for tests.
void matmul_ref(const WeightView& W, const float* X, int64_t n_tok, float* Y);

bool matmul_supported(GgmlType t);

// The summation order of every F32-weight dot product, on every ISA (scalar,
// AVX2, AVX-512 give identical bits). It is the order of llama.cpp's CPU
// backend in its AVX-512 build, so F32 models reproduce its logits to ~1e-5
// instead of drifting by float-rounding noise (golden_test):
//   n % 16 == 0: 16 lanes; lane j accumulates w[j+16i]*x[j+16i] over i with
//     fused multiply-adds; the lanes are then summed pairwise (j += j+8,
//     then j += j+4, j += j+2, j += j+1).
//   otherwise: the first n & ~63 elements in steps of 64 over 4 x 16 lanes
//     (fused multiply-adds), the four lane groups folded (0+=2, 1+=3, 0+=1)
//     and summed pairwise as above; the rest fused-multiply-added in order.
float dot_f32_ordered(const float* w, const float* x, int64_t n);

// ---- load-time repacking (optional, pays on AVX-512 VNNI CPUs) ----
//
// Usage at load time:
//   if (can_repack(W.type)) {
//     buf = aligned_alloc(64, repacked_bytes(W.type, W.rows, W.cols));
//     W = repack(W, buf);         // W now views buf; the GGUF bytes are no longer read
//   }
// The repacked matrix is ~the same size as the original (rows padded to 16).
// can_repack() answers for the active ISA (call it after any set_isa); a
// repacked matrix still works on every ISA, slowly (reference path), if the
// ISA is lowered afterwards.
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
