// KvPool: the tensor memory of the paged KV cache.
//
// Per layer, K and V are [n_blocks * block_size, kv_dim] row-major; a token's
// keys and values live at one slot = block_id * block_size + offset. Which
// blocks a sequence owns is bookkeeping kept elsewhere (BlockManager); the
// pool only stores rows and copies blocks (copy-on-write).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "tern/status.h"

namespace tern {

enum class KvType { kF32, kF16 };

class KvPool {
 public:
  KvPool(int n_layers, int kv_dim, int block_size, int n_blocks, KvType type);

  int block_size() const { return block_size_; }
  int n_blocks() const { return n_blocks_; }
  int kv_dim() const { return kv_dim_; }
  KvType type() const { return type_; }
  int64_t n_slots() const { return int64_t{n_blocks_} * block_size_; }
  // Bytes per token over all layers (K and V).
  int64_t bytes_per_token() const { return 2LL * n_layers_ * kv_dim_ * elem_bytes(); }
  int64_t total_bytes() const { return bytes_per_token() * n_slots(); }

  // Store one token's K and V rows ([kv_dim] f32 each) at `slot`.
  void write(int layer, int64_t slot, const float* k, const float* v);
  // Load rows into f32 buffers [kv_dim].
  void read_k(int layer, int64_t slot, float* out) const;
  void read_v(int layer, int64_t slot, float* out) const;
  // Raw row pointers (element type per type()).
  const void* k_row(int layer, int64_t slot) const;
  const void* v_row(int layer, int64_t slot) const;
  // Copy every layer's rows of block `src` to block `dst` (copy-on-write).
  void copy_block(int src, int dst);

  // How many blocks of `block_size` fit in `bytes`.
  static int blocks_for_bytes(int64_t bytes, int n_layers, int kv_dim, int block_size, KvType type);

 private:
  int elem_bytes() const { return type_ == KvType::kF32 ? 4 : 2; }
  int n_layers_, kv_dim_, block_size_, n_blocks_;
  KvType type_;
  // Per layer; allocated without zero-filling so that pages are only faulted
  // in when first written (a large pool costs nothing until used). Slots are
  // always written before they are read.
  std::vector<std::unique_ptr<uint8_t[]>> k_, v_;
};

}  // namespace tern
