#include "model/kv_pool.h"

#include <cstring>

#include "kernels/quant.h"

namespace tern {

KvPool::KvPool(int n_layers, int kv_dim, int block_size, int n_blocks, KvType type)
    : n_layers_(n_layers), kv_dim_(kv_dim), block_size_(block_size), n_blocks_(n_blocks), type_(type) {
  const size_t bytes = static_cast<size_t>(n_slots()) * static_cast<size_t>(kv_dim) * static_cast<size_t>(elem_bytes());
  for (int l = 0; l < n_layers; ++l) {
    k_.push_back(std::make_unique_for_overwrite<uint8_t[]>(bytes));
    v_.push_back(std::make_unique_for_overwrite<uint8_t[]>(bytes));
  }
}

int KvPool::blocks_for_bytes(int64_t bytes, int n_layers, int kv_dim, int block_size, KvType type) {
  const int64_t per_block = 2LL * n_layers * kv_dim * block_size * (type == KvType::kF32 ? 4 : 2);
  return static_cast<int>(bytes / per_block);
}

const void* KvPool::k_row(int layer, int64_t slot) const {
  return k_[static_cast<size_t>(layer)].get() + slot * kv_dim_ * elem_bytes();
}
const void* KvPool::v_row(int layer, int64_t slot) const {
  return v_[static_cast<size_t>(layer)].get() + slot * kv_dim_ * elem_bytes();
}

void KvPool::write(int layer, int64_t slot, const float* k, const float* v) {
  uint8_t* kd = k_[static_cast<size_t>(layer)].get() + slot * kv_dim_ * elem_bytes();
  uint8_t* vd = v_[static_cast<size_t>(layer)].get() + slot * kv_dim_ * elem_bytes();
  if (type_ == KvType::kF32) {
    std::memcpy(kd, k, sizeof(float) * static_cast<size_t>(kv_dim_));
    std::memcpy(vd, v, sizeof(float) * static_cast<size_t>(kv_dim_));
  } else {
    kernels::quantize_row(GgmlType::F16, k, kd, kv_dim_);
    kernels::quantize_row(GgmlType::F16, v, vd, kv_dim_);
  }
}

void KvPool::read_k(int layer, int64_t slot, float* out) const {
  kernels::dequantize_row(type_ == KvType::kF32 ? GgmlType::F32 : GgmlType::F16, k_row(layer, slot), out, kv_dim_);
}
void KvPool::read_v(int layer, int64_t slot, float* out) const {
  kernels::dequantize_row(type_ == KvType::kF32 ? GgmlType::F32 : GgmlType::F16, v_row(layer, slot), out, kv_dim_);
}

void KvPool::copy_block(int src, int dst) {
  const size_t row = static_cast<size_t>(kv_dim_) * static_cast<size_t>(elem_bytes());
  const size_t n = row * static_cast<size_t>(block_size_);
  for (int l = 0; l < n_layers_; ++l) {
    auto& K = k_[static_cast<size_t>(l)];
    auto& V = v_[static_cast<size_t>(l)];
    std::memmove(K.get() + static_cast<size_t>(dst) * n, K.get() + static_cast<size_t>(src) * n, n);
    std::memmove(V.get() + static_cast<size_t>(dst) * n, V.get() + static_cast<size_t>(src) * n, n);
  }
}

}  // namespace tern
