// BlockManager: the block tables of all live sequences over one BlockAllocator
// and one PrefixCache. Bookkeeping only: it decides which block holds which
// token position; the KV pool stores the K/V there.
//
// Positions and slots. Block i of a table holds token positions
// [i * block_size, (i + 1) * block_size). The K/V of position p lives in slot
//
//   slot(p) = blocks[p / block_size] * block_size + p % block_size
//
// of the KV pool ([num_blocks * block_size, n_kv_heads, head_dim] per layer).
// A ModelRunner that computes positions [start, start + n) of a sequence
// writes their K/V to slot(start) .. slot(start + n - 1) and attends over
// slots of positions [0, start + n), i.e. over the first
// ceil((start + n) / block_size) entries of `blocks`.
//
// Life of a table:
//   match_prefix()  longest cached prefix of full blocks (never the last token:
//                   at least one token is always computed, to get logits)
//   allocate()      creates the table: adopts the matched blocks, adds blocks
//                   for the first chunk of new tokens
//   append_slots()  before each later step: blocks for the step's tokens, and a
//                   copy-on-write if the block being written is shared
//   commit()        after each step: hashes newly full blocks and registers
//                   them in the prefix cache
//   fork()          shares every block with a new table (parallel sampling)
//   free()          drops the table; cached blocks stay reusable until evicted
//
// Errors: running out of blocks is a ResourceExhausted status from allocate()
// / append_slots(), which then change nothing. Unknown sequence ids and other
// misuse are asserted.
// Thread safety: none; one owner (the Scheduler).
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "kv/block_allocator.h"
#include "kv/prefix_cache.h"
#include "tern/status.h"
#include "tern/types.h"

namespace tern {

using SeqId = int64_t;

// Copy one block's K/V to another, in every layer. A ModelRunner executes a
// batch's copies in order, before its forward pass.
struct BlockCopy {
  BlockId src = kNoBlock;
  BlockId dst = kNoBlock;
  bool operator==(const BlockCopy&) const = default;
};

struct BlockTable {
  std::vector<BlockId> blocks;    // block i holds positions [i*bs, (i+1)*bs)
  std::vector<BlockHash> hashes;  // chain hash of each full, computed block, in order
  BlockHash root = 0;             // hash_root(salt): parent of block 0
  int32_t num_cached_tokens = 0;  // adopted from the prefix cache by allocate()

  // KV pool slot of token position `pos`.
  int64_t slot(int32_t pos, int32_t block_size) const {
    return static_cast<int64_t>(blocks[pos / block_size]) * block_size + pos % block_size;
  }
};

// Result of a prefix lookup; valid until the next call that changes the manager.
struct PrefixMatch {
  std::vector<BlockId> blocks;    // cached blocks of the longest matching prefix
  std::vector<BlockHash> hashes;  // their chain hashes
  BlockHash root = 0;
  int32_t num_query_tokens = 0;   // tokens looked up
  int32_t num_tokens(int32_t block_size) const { return static_cast<int32_t>(blocks.size()) * block_size; }
};

class BlockManager {
 public:
  BlockManager(int32_t num_blocks, int32_t block_size, bool enable_prefix_caching = true);

  int32_t block_size() const { return allocator_.block_size(); }
  int32_t num_blocks() const { return allocator_.num_blocks(); }
  // Free blocks, including unreferenced cached ones (they are evictable).
  int32_t num_free_blocks() const { return allocator_.num_free(); }
  // Fraction of blocks referenced by some table, in [0, 1].
  float usage() const { return static_cast<float>(allocator_.num_used()) / allocator_.num_blocks(); }
  bool prefix_caching() const { return prefix_caching_; }

  // Longest cached prefix of `tokens` made of full blocks, covering at most
  // tokens.size() - 1 tokens. Empty when prefix caching is off.
  PrefixMatch match_prefix(std::span<const TokenId> tokens, uint64_t salt) const;

  // Free blocks that allocate(match, num_new_tokens) would take: new blocks
  // for the tokens after the match, plus matched blocks that are now free.
  int32_t blocks_to_allocate(const PrefixMatch& match, int32_t num_new_tokens) const;

  // Creates the table of `seq`: adopts match.blocks and adds blocks for
  // positions [match tokens, match tokens + num_new_tokens). Counts the lookup
  // in the prefix cache stats. ResourceExhausted (nothing changed) when the
  // free blocks do not suffice. `seq` must have no table.
  Status allocate(SeqId seq, const PrefixMatch& match, int32_t num_new_tokens);

  // Free blocks that append_slots(seq, num_computed, num_new_tokens) would take.
  int32_t blocks_to_append(SeqId seq, int32_t num_computed, int32_t num_new_tokens) const;

  // Makes positions [num_computed, num_computed + num_new_tokens) writable:
  // adds blocks, and when the block holding position num_computed is
  // partially filled and shared, replaces it by a private copy and appends
  // {shared, copy} to *copies. ResourceExhausted (nothing changed) when the
  // free blocks do not suffice.
  Status append_slots(SeqId seq, int32_t num_computed, int32_t num_new_tokens, std::vector<BlockCopy>* copies);

  // After positions [0, num_computed) of `tokens` have their K/V: hashes the
  // blocks that became full and registers them in the prefix cache.
  void commit(SeqId seq, std::span<const TokenId> tokens, int32_t num_computed);

  // Rollback (speculative decoding): positions [num_tokens, ...) are no
  // longer valid; drops the blocks past ceil(num_tokens / block_size). Their
  // contents were never committed, so they return to the free list uncached.
  void truncate(SeqId seq, int32_t num_tokens);

  // `child` gets `parent`'s blocks, each one more reference. The shared
  // partial last block is copied on the first write (append_slots).
  void fork(SeqId parent, SeqId child);

  // Drops the table. Cached blocks go to the LRU end of the free list, the
  // others to the front; the last block is freed first, so a chain is
  // evicted from its tail.
  void free(SeqId seq);

  bool has_table(SeqId seq) const { return tables_.count(seq) != 0; }
  const BlockTable& table(SeqId seq) const;
  int32_t num_cached_tokens(SeqId seq) const { return table(seq).num_cached_tokens; }
  int32_t num_tables() const { return static_cast<int32_t>(tables_.size()); }

  const BlockAllocator& allocator() const { return allocator_; }
  const PrefixCache& prefix_cache() const { return cache_; }
  const PrefixCacheStats& prefix_stats() const { return cache_.stats(); }

  // Allocator and cache consistent; every block's ref count equals the number
  // of tables holding it; no table holds a block twice; a table's registered
  // blocks are registered under the table's hash. O(num_blocks + table sizes).
  Status check_invariants() const;

 private:
  BlockId take_block();  // allocate + evict its old cache entry
  BlockTable& mutable_table(SeqId seq);
  static int32_t ceil_div(int32_t a, int32_t b) { return (a + b - 1) / b; }

  BlockAllocator allocator_;
  PrefixCache cache_;
  bool prefix_caching_;
  std::unordered_map<SeqId, BlockTable> tables_;
};

}  // namespace tern
