// BlockAllocator: ref-counted KV blocks and their free list. Bookkeeping only;
// the KV pool owns the memory a block id stands for.
//
// The pool holds num_blocks blocks of block_size token slots each. A block is
// used while its ref count is > 0 (one ref per BlockTable holding it) and free
// at 0. The free list is ordered for eviction, head first:
//
//   head  [blocks whose contents are worthless] ... [cached blocks, LRU] tail
//
// allocate() takes the head. A block released with Retain::kCached keeps its
// contents for the prefix cache and joins the tail, so it is reused only after
// every worthless block and every cached block freed before it (LRU). ref() on
// a free block takes it back out of the list: that is how the prefix cache
// revives an unreferenced cached block. The allocator does not know hashes;
// whoever allocates must tell the PrefixCache that the block it got is
// overwritten (BlockManager does).
//
// All operations are O(1) (an intrusive doubly linked list over block ids).
// Thread safety: none; one owner (the scheduler thread).
#pragma once

#include <cstdint>
#include <vector>

#include "tern/status.h"

namespace tern {

using BlockId = int32_t;
inline constexpr BlockId kNoBlock = -1;

class BlockAllocator {
 public:
  // What a released block's contents are worth.
  enum class Retain {
    kNothing,  // reuse it first
    kCached,   // registered in the prefix cache: reuse it last, LRU
  };

  BlockAllocator(int32_t num_blocks, int32_t block_size);

  int32_t num_blocks() const { return num_blocks_; }
  int32_t block_size() const { return block_size_; }
  int32_t num_free() const { return num_free_; }
  int32_t num_used() const { return num_blocks_ - num_free_; }

  // Takes the head of the free list with ref count 1; kNoBlock when none is free.
  BlockId allocate();

  // Adds a reference. A free block leaves the free list (ref 0 -> 1).
  void ref(BlockId id);

  // Drops a reference; at 0 the block joins the free list where `retain` says.
  // Returns true when the block became free. Asserts the block was used.
  bool unref(BlockId id, Retain retain);

  int32_t ref_count(BlockId id) const;
  bool is_free(BlockId id) const { return ref_count(id) == 0; }

  // The free list, head (next to be allocated) first. O(num_free), for tests.
  std::vector<BlockId> free_list() const;

  // Free list well formed, holds exactly the blocks with ref count 0, and
  // num_free() agrees. O(num_blocks).
  Status check_invariants() const;

 private:
  void link_front(BlockId id);
  void link_back(BlockId id);
  void unlink(BlockId id);

  int32_t num_blocks_;
  int32_t block_size_;
  int32_t num_free_ = 0;
  std::vector<int32_t> refs_;
  // Doubly linked free list; index num_blocks_ is the sentinel.
  std::vector<int32_t> prev_;
  std::vector<int32_t> next_;
};

}  // namespace tern
