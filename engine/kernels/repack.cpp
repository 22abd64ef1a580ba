// Load-time repacking into the kRows16 layout (see matmul.h), and back.
//
// kRows16, for a type with 32-element blocks, is a sequence of tiles
// [row group g = 16 rows][block b], g-major, each tile:
//   fp16 d[16]                       the 16 rows' block scales (32 bytes)
//   chunk[k], k = 0..K-1, 64 bytes   4 bytes per row: row l at bytes 4l..4l+3
// Q8_0: K = 8, chunk k holds w[4k..4k+3] of each row, stored XOR 0x80
//       (i.e. w + 128 as unsigned) so VNNI's u8 x s8 product needs no fix-up
//       besides -128 * sum(x), folded into the activation side.
// Q4_0: K = 4, chunk k holds the original qs[4k..4k+3] (low nibbles are
//       elements 4k..4k+3, high nibbles 16+4k..16+4k+3).
// Rows past `rows` in the last group are zero.
#include <cassert>
#include <cstring>

#include "kernels/matmul.h"
#include "kernels/quant.h"

namespace tern::kernels {
namespace {

int chunks(GgmlType t) { return t == GgmlType::Q8_0 ? 8 : t == GgmlType::Q4_0 ? 4 : 0; }
int64_t tile_bytes(GgmlType t) { return 32 + 64 * chunks(t); }

}  // namespace

// Asks the active ISA (TERN_ISA may cap it): on lower ISAs a repacked matrix
// only runs through the slow reference path.
bool can_repack(GgmlType t) { return chunks(t) > 0 && active_isa() >= Isa::kAvx512; }

int64_t repacked_bytes(GgmlType t, int64_t rows, int64_t cols) {
  assert(chunks(t) > 0);
  return (rows + 15) / 16 * (cols / 32) * tile_bytes(t);
}

WeightView repack(const WeightView& src, void* dst) {
  assert(src.layout == Layout::kGguf && chunks(src.type) > 0);
  const int64_t nb = src.cols / 32, groups = (src.rows + 15) / 16, tb = tile_bytes(src.type);
  const int64_t rb = row_bytes(src.type, src.cols);
  const bool q8 = src.type == GgmlType::Q8_0;
  auto* out = static_cast<uint8_t*>(dst);
  std::memset(out, 0, size_t(repacked_bytes(src.type, src.rows, src.cols)));
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* tile = out + (g * nb + b) * tb;
      for (int l = 0; l < 16 && g * 16 + l < src.rows; ++l) {
        const uint8_t* blk = static_cast<const uint8_t*>(src.data) + (g * 16 + l) * rb;
        if (q8) {
          const auto* bq = reinterpret_cast<const BlockQ8_0*>(blk) + b;
          std::memcpy(tile + 2 * l, &bq->d, 2);
          for (int k = 0; k < 8; ++k)
            for (int j = 0; j < 4; ++j) tile[32 + 64 * k + 4 * l + j] = uint8_t(bq->qs[4 * k + j]) ^ 0x80;
        } else {
          const auto* bq = reinterpret_cast<const BlockQ4_0*>(blk) + b;
          std::memcpy(tile + 2 * l, &bq->d, 2);
          for (int k = 0; k < 4; ++k) std::memcpy(tile + 32 + 64 * k + 4 * l, bq->qs + 4 * k, 4);
        }
      }
    }
  }
  WeightView v = src;
  v.data = dst;
  v.layout = Layout::kRows16;
  return v;
}

void unpack_row(const WeightView& W, int64_t r, void* dst) {
  const int64_t rb = row_bytes(W.type, W.cols);
  if (W.layout == Layout::kGguf) {
    std::memcpy(dst, static_cast<const uint8_t*>(W.data) + r * rb, size_t(rb));
    return;
  }
  const int64_t nb = W.cols / 32, tb = tile_bytes(W.type), g = r / 16, l = r % 16;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* tile = static_cast<const uint8_t*>(W.data) + (g * nb + b) * tb;
    if (W.type == GgmlType::Q8_0) {
      auto* bq = static_cast<BlockQ8_0*>(dst) + b;
      std::memcpy(&bq->d, tile + 2 * l, 2);
      for (int k = 0; k < 8; ++k)
        for (int j = 0; j < 4; ++j) bq->qs[4 * k + j] = int8_t(tile[32 + 64 * k + 4 * l + j] ^ 0x80);
    } else {
      auto* bq = static_cast<BlockQ4_0*>(dst) + b;
      std::memcpy(&bq->d, tile + 2 * l, 2);
      for (int k = 0; k < 4; ++k) std::memcpy(bq->qs + 4 * k, tile + 32 + 64 * k + 4 * l, 4);
    }
  }
}

}  // namespace tern::kernels
