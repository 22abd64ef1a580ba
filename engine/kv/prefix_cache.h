// PrefixCache: which KV blocks hold which full blocks of tokens, so that a new
// sequence adopts the blocks of its longest cached prefix instead of
// recomputing them (automatic prefix caching, as in vLLM).
//
// A full block (block_size tokens) is named by a hash chained over its
// parent's hash and its own tokens; the chain starts at hash_root(salt), where
// the salt identifies the model and adapter (and optionally a tenant), so
// blocks of different weights never match:
//
//   h[-1] = hash_root(salt)
//   h[i]  = hash_block(h[i-1], tokens[i*bs, (i+1)*bs))
//
// A block's hash thus names its whole prefix, and a lookup walks the chain
// from block 0 until the first miss. Only full blocks are cached; a partially
// filled block is never shared through this cache (see BlockManager for
// copy-on-write of blocks shared by fork()).
//
// Hits are verified: the cache keeps each entry's parent hash and tokens and
// compares them, so a 64-bit collision between different token blocks costs a
// miss, never a wrong answer. (The parent is compared by hash; that chain link
// is the one place a collision, ~2^-64 per lookup, could go unnoticed.)
//
// Entries live as long as their block's contents: the cache keeps entries for
// unreferenced blocks (they sit at the LRU tail of the allocator's free list)
// and forgets an entry only when evict(block) says the block is being reused.
// Each block has at most one entry and each hash at most one block: when two
// sequences fill identical blocks at the same time, the first registered wins
// and the other stays an ordinary private block.
//
// Thread safety: none; one owner (BlockManager).
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "kv/block_allocator.h"
#include "tern/status.h"
#include "tern/types.h"

namespace tern {

using BlockHash = uint64_t;

// Start of a chain. A bijection of the salt, so distinct salts never collide.
BlockHash hash_root(uint64_t salt);
// Hash of a full block given its parent's hash. A wyhash-style multiply-mix
// over 64-bit words (two tokens each); not cryptographic.
BlockHash hash_block(BlockHash parent, std::span<const TokenId> tokens);

// Counted in tokens, as vLLM's prefix_cache_queries / prefix_cache_hits.
struct PrefixCacheStats {
  int64_t query_tokens = 0;  // prompt tokens of sequences that looked up the cache
  int64_t hit_tokens = 0;    // of which found cached
  int64_t evictions = 0;     // cached blocks overwritten by a new allocation
};

class PrefixCache {
 public:
  PrefixCache(int32_t num_blocks, int32_t block_size);

  int32_t block_size() const { return block_size_; }
  // Number of registered blocks (referenced or not).
  int32_t size() const { return static_cast<int32_t>(by_hash_.size()); }

  // The block registered under `hash` whose recorded parent and tokens equal
  // the given ones; kNoBlock otherwise. tokens.size() == block_size.
  BlockId find(BlockHash hash, BlockHash parent, std::span<const TokenId> tokens) const;

  // Registers `block` as holding `tokens` under `hash`. Returns false (and
  // changes nothing) when the hash is already taken or the block already has
  // an entry.
  bool insert(BlockHash hash, BlockHash parent, std::span<const TokenId> tokens, BlockId block);

  // Forgets the entry of `block` because its contents are about to be
  // overwritten. Returns whether it had one.
  bool evict(BlockId block);

  bool contains(BlockId block) const { return registered_[block] != 0; }
  BlockHash hash_of(BlockId block) const { return hash_[block]; }

  // Drops every entry (new weights, new salt semantics). Stats are kept.
  void clear();

  void record_query(int64_t query_tokens, int64_t hit_tokens) {
    stats_.query_tokens += query_tokens;
    stats_.hit_tokens += hit_tokens;
  }
  const PrefixCacheStats& stats() const { return stats_; }

  // The hash map and the per-block entries describe the same set.
  Status check_invariants() const;

 private:
  int32_t block_size_;
  std::unordered_map<BlockHash, BlockId> by_hash_;
  // Per block id: entry present, its hash, its parent's hash, its tokens.
  std::vector<uint8_t> registered_;
  std::vector<BlockHash> hash_;
  std::vector<BlockHash> parent_;
  std::vector<TokenId> tokens_;  // [num_blocks, block_size]
  PrefixCacheStats stats_;
};

}  // namespace tern
