#include "kv/block_allocator.h"

#include <cassert>
#include <string>

namespace tern {

BlockAllocator::BlockAllocator(int32_t num_blocks, int32_t block_size)
    : num_blocks_(num_blocks),
      block_size_(block_size),
      refs_(num_blocks, 0),
      prev_(num_blocks + 1),
      next_(num_blocks + 1) {
  assert(num_blocks > 0 && block_size > 0);
  const int32_t s = num_blocks_;
  prev_[s] = next_[s] = s;
  for (BlockId id = 0; id < num_blocks_; ++id) link_back(id);  // ids ascending
}

void BlockAllocator::link_front(BlockId id) {
  const int32_t s = num_blocks_;
  prev_[id] = s;
  next_[id] = next_[s];
  prev_[next_[s]] = id;
  next_[s] = id;
  ++num_free_;
}

void BlockAllocator::link_back(BlockId id) {
  const int32_t s = num_blocks_;
  next_[id] = s;
  prev_[id] = prev_[s];
  next_[prev_[s]] = id;
  prev_[s] = id;
  ++num_free_;
}

void BlockAllocator::unlink(BlockId id) {
  next_[prev_[id]] = next_[id];
  prev_[next_[id]] = prev_[id];
  prev_[id] = next_[id] = -1;
  --num_free_;
}

BlockId BlockAllocator::allocate() {
  if (num_free_ == 0) return kNoBlock;
  const BlockId id = next_[num_blocks_];
  assert(refs_[id] == 0);
  unlink(id);
  refs_[id] = 1;
  return id;
}

void BlockAllocator::ref(BlockId id) {
  assert(id >= 0 && id < num_blocks_);
  if (refs_[id] == 0) unlink(id);
  ++refs_[id];
}

bool BlockAllocator::unref(BlockId id, Retain retain) {
  assert(id >= 0 && id < num_blocks_);
  assert(refs_[id] > 0 && "unref of a free block (double free)");
  if (--refs_[id] > 0) return false;
  if (retain == Retain::kCached) {
    link_back(id);
  } else {
    link_front(id);
  }
  return true;
}

int32_t BlockAllocator::ref_count(BlockId id) const {
  assert(id >= 0 && id < num_blocks_);
  return refs_[id];
}

std::vector<BlockId> BlockAllocator::free_list() const {
  std::vector<BlockId> out;
  out.reserve(num_free_);
  for (int32_t id = next_[num_blocks_]; id != num_blocks_; id = next_[id]) out.push_back(id);
  return out;
}

Status BlockAllocator::check_invariants() const {
  const int32_t s = num_blocks_;
  std::vector<uint8_t> seen(num_blocks_, 0);
  int32_t count = 0;
  for (int32_t id = next_[s], prev = s; id != s; prev = id, id = next_[id]) {
    if (id < 0 || id >= num_blocks_) return Internal("free list holds bad id " + std::to_string(id));
    if (prev_[id] != prev) return Internal("free list back link broken at " + std::to_string(id));
    if (seen[id]) return Internal("block " + std::to_string(id) + " twice in the free list");
    if (refs_[id] != 0) {
      return Internal("block " + std::to_string(id) + " in the free list with ref count " +
                      std::to_string(refs_[id]));
    }
    seen[id] = 1;
    if (++count > num_blocks_) return Internal("free list cycle");
  }
  if (count != num_free_) {
    return Internal("free list length " + std::to_string(count) + " != num_free " + std::to_string(num_free_));
  }
  for (BlockId id = 0; id < num_blocks_; ++id) {
    if (refs_[id] < 0) return Internal("negative ref count on block " + std::to_string(id));
    if (refs_[id] == 0 && !seen[id]) return Internal("free block " + std::to_string(id) + " leaked (not listed)");
  }
  return Status::Ok();
}

}  // namespace tern
