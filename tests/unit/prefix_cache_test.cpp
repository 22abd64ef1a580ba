// Automatic prefix caching: chained block hashes, verified lookups, adoption
// of the longest cached prefix, LRU eviction of unreferenced cached blocks,
// stats in tokens.
#include "kv/block_manager.h"
#include "kv/prefix_cache.h"

#include <gtest/gtest.h>

#include <numeric>
#include <set>
#include <vector>

namespace tern {
namespace {

#define EXPECT_INVARIANTS(x)                         \
  do {                                               \
    const Status _st = (x).check_invariants();       \
    EXPECT_TRUE(_st.ok()) << _st.message();          \
  } while (0)

constexpr int32_t kBs = 4;

std::vector<TokenId> iota_tokens(int n, TokenId first = 100) {
  std::vector<TokenId> t(n);
  std::iota(t.begin(), t.end(), first);
  return t;
}

std::vector<TokenId> concat(std::vector<TokenId> a, const std::vector<TokenId>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Prefill `tokens` fully for `seq` (one chunk) and register its full blocks,
// as the scheduler does after the step. Returns the cached tokens adopted.
int32_t prefill(BlockManager& m, SeqId seq, const std::vector<TokenId>& tokens, uint64_t salt = 0) {
  const PrefixMatch match = m.match_prefix(tokens, salt);
  const int32_t cached = match.num_tokens(m.block_size());
  const Status st = m.allocate(seq, match, static_cast<int32_t>(tokens.size()) - cached);
  EXPECT_TRUE(st.ok()) << st.message();
  m.commit(seq, tokens, static_cast<int32_t>(tokens.size()));
  return cached;
}

TEST(BlockHash, DependsOnParentTokensOrderAndSalt) {
  const std::vector<TokenId> a = {1, 2, 3, 4};
  const std::vector<TokenId> b = {1, 2, 4, 3};
  const BlockHash r0 = hash_root(0), r1 = hash_root(1);
  EXPECT_NE(r0, r1);
  EXPECT_EQ(hash_block(r0, a), hash_block(r0, a));
  EXPECT_NE(hash_block(r0, a), hash_block(r0, b));
  EXPECT_NE(hash_block(r0, a), hash_block(r1, a));
  EXPECT_NE(hash_block(hash_block(r0, a), a), hash_block(r0, a));
  // Token ids are hashed as 32-bit words: no aliasing between neighbours.
  EXPECT_NE(hash_block(r0, std::vector<TokenId>{0, 1}), hash_block(r0, std::vector<TokenId>{1, 0}));
  EXPECT_NE(hash_block(r0, std::vector<TokenId>{-1, 0}), hash_block(r0, std::vector<TokenId>{0, -1}));
}

TEST(BlockHash, NoCollisionsAmongManySmallBlocks) {
  std::set<BlockHash> seen;
  const BlockHash root = hash_root(0);
  for (TokenId x = 0; x < 200; ++x) {
    for (TokenId y = 0; y < 200; ++y) seen.insert(hash_block(root, std::vector<TokenId>{x, y, x ^ y, 7}));
  }
  EXPECT_EQ(seen.size(), 200u * 200u);
}

TEST(PrefixCache, FindVerifiesParentAndTokens) {
  PrefixCache c(4, kBs);
  const std::vector<TokenId> t = {1, 2, 3, 4};
  const BlockHash root = hash_root(0);
  const BlockHash h = hash_block(root, t);
  ASSERT_TRUE(c.insert(h, root, t, 2));
  EXPECT_EQ(c.find(h, root, t), 2);
  // A (forged) collision: same hash, other tokens or parent, is a miss.
  EXPECT_EQ(c.find(h, root, std::vector<TokenId>{1, 2, 3, 5}), kNoBlock);
  EXPECT_EQ(c.find(h, hash_root(9), t), kNoBlock);
  // One block per hash and one hash per block.
  EXPECT_FALSE(c.insert(h, root, t, 3));
  EXPECT_FALSE(c.insert(h + 1, root, t, 2));
  EXPECT_EQ(c.size(), 1);
  EXPECT_TRUE(c.evict(2));
  EXPECT_FALSE(c.evict(2));
  EXPECT_EQ(c.find(h, root, t), kNoBlock);
  EXPECT_INVARIANTS(c);
}

TEST(PrefixCache, SecondSequenceAdoptsTheLongestCachedPrefix) {
  BlockManager m(16, kBs);
  const auto shared = iota_tokens(8);  // two full blocks
  const auto a = concat(shared, {1, 2, 3});
  const auto b = concat(shared, {9, 9, 9, 9, 9});
  EXPECT_EQ(prefill(m, 1, a), 0);
  EXPECT_EQ(prefill(m, 2, b), 8);
  EXPECT_EQ(m.num_cached_tokens(2), 8);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(m.table(1).blocks[i], m.table(2).blocks[i]);
    EXPECT_EQ(m.allocator().ref_count(m.table(1).blocks[i]), 2);
  }
  EXPECT_NE(m.table(1).blocks[2], m.table(2).blocks[2]);
  EXPECT_EQ(m.prefix_stats().query_tokens, 11 + 13);
  EXPECT_EQ(m.prefix_stats().hit_tokens, 8);
  EXPECT_INVARIANTS(m);
}

TEST(PrefixCache, TheLastTokenIsAlwaysComputed) {
  BlockManager m(16, kBs);
  const auto t = iota_tokens(8);  // exactly two full blocks
  prefill(m, 1, t);
  // Same prompt: only the first block is adopted, so position 7 is computed
  // again and yields logits.
  const PrefixMatch match = m.match_prefix(t, 0);
  EXPECT_EQ(match.num_tokens(kBs), 4);
  // One more token: both blocks.
  EXPECT_EQ(m.match_prefix(concat(t, {5}), 0).num_tokens(kBs), 8);
}

TEST(PrefixCache, DifferentSaltNeverMatches) {
  BlockManager m(16, kBs);
  const auto t = iota_tokens(12);
  prefill(m, 1, t, /*salt=*/1);
  EXPECT_EQ(m.match_prefix(t, 2).num_tokens(kBs), 0);
  EXPECT_EQ(m.match_prefix(t, 1).num_tokens(kBs), 8);
}

TEST(PrefixCache, ADifferentEarlierBlockBreaksTheChain) {
  BlockManager m(16, kBs);
  const auto t = iota_tokens(12);
  prefill(m, 1, t);
  auto u = t;
  u[1] = 999;  // block 0 differs, block 1 is identical
  EXPECT_EQ(m.match_prefix(u, 0).num_tokens(kBs), 0);
}

TEST(PrefixCache, PartialBlocksAreNeverCached) {
  BlockManager m(16, kBs);
  const auto t = iota_tokens(6);  // one full block + 2 tokens
  prefill(m, 1, t);
  EXPECT_EQ(m.prefix_cache().size(), 1);
  EXPECT_FALSE(m.prefix_cache().contains(m.table(1).blocks[1]));
}

TEST(PrefixCache, UnreferencedCachedBlocksStayReusable) {
  BlockManager m(8, kBs);
  const auto t = iota_tokens(10);
  prefill(m, 1, t);
  const std::vector<BlockId> first = m.table(1).blocks;
  m.free(1);
  EXPECT_EQ(m.num_free_blocks(), 8);  // cached blocks count as free
  EXPECT_FLOAT_EQ(m.usage(), 0.0f);
  EXPECT_EQ(m.prefix_cache().size(), 2);
  // Another sequence: the partial third block went to the front of the free
  // list, so fresh allocations take it before the cached ones.
  EXPECT_EQ(prefill(m, 2, iota_tokens(3, 500)), 0);
  EXPECT_EQ(m.table(2).blocks[0], first[2]);
  // The cached blocks come back with their ref counts.
  EXPECT_EQ(prefill(m, 3, t), 8);
  EXPECT_EQ(m.table(3).blocks[0], first[0]);
  EXPECT_EQ(m.table(3).blocks[1], first[1]);
  EXPECT_EQ(m.allocator().ref_count(first[0]), 1);
  EXPECT_INVARIANTS(m);
}

TEST(PrefixCache, AdoptingFreeCachedBlocksCountsThemAsNeeded) {
  BlockManager m(3, kBs);
  const auto t = iota_tokens(9);
  prefill(m, 1, t);  // 3 blocks, two cached
  m.free(1);
  const PrefixMatch match = m.match_prefix(t, 0);
  ASSERT_EQ(match.blocks.size(), 2u);
  // 2 revived + 1 new = the whole pool; the new block must not be one of the
  // matched ones (they leave the free list before the new one is taken).
  EXPECT_EQ(m.blocks_to_allocate(match, 1), 3);
  ASSERT_TRUE(m.allocate(2, match, 1).ok());
  const auto& b = m.table(2).blocks;
  EXPECT_EQ(std::set<BlockId>(b.begin(), b.end()).size(), 3u);
  EXPECT_EQ(m.prefix_cache().size(), 2);
  EXPECT_INVARIANTS(m);
}

TEST(PrefixCache, EvictsUnreferencedCachedBlocksLeastRecentlyUsedFirst) {
  BlockManager m(6, kBs);
  const auto a = iota_tokens(9, 100);  // 2 cached blocks + 1 partial
  const auto b = iota_tokens(9, 200);
  prefill(m, 1, a);
  prefill(m, 2, b);
  m.free(1);  // a's blocks released first: older
  m.free(2);
  EXPECT_EQ(m.prefix_cache().size(), 4);
  // A new 8-token sequence needs 2 blocks: the two partial blocks (worthless)
  // go first; nothing cached is evicted.
  prefill(m, 3, iota_tokens(8, 300));
  EXPECT_EQ(m.prefix_stats().evictions, 0);
  EXPECT_EQ(m.match_prefix(a, 0).num_tokens(kBs), 8);
  // Two more blocks: evicts a's, tail block first, and keeps b's.
  prefill(m, 4, iota_tokens(8, 400));
  EXPECT_EQ(m.prefix_stats().evictions, 2);
  EXPECT_EQ(m.match_prefix(a, 0).num_tokens(kBs), 0);
  EXPECT_EQ(m.match_prefix(b, 0).num_tokens(kBs), 8);
  EXPECT_INVARIANTS(m);
}

TEST(PrefixCache, AHitRefreshesRecency) {
  BlockManager m(4, kBs);
  const auto a = iota_tokens(5, 100);  // block 0 cached, block 1 partial
  const auto b = iota_tokens(5, 200);
  prefill(m, 1, a);
  prefill(m, 2, b);
  m.free(1);
  m.free(2);  // LRU: a0, b0 (partials at the front)
  EXPECT_EQ(prefill(m, 3, a), 4);  // reuse a0: it is in use again
  m.free(3);  // a0 is now the most recently released
  // Needs 3 fresh blocks: the two free partials... and then b0, not a0.
  prefill(m, 4, iota_tokens(12, 300));
  EXPECT_EQ(m.match_prefix(a, 0).num_tokens(kBs), 4);
  EXPECT_EQ(m.match_prefix(b, 0).num_tokens(kBs), 0);
  EXPECT_INVARIANTS(m);
}

TEST(PrefixCache, IdenticalBlocksFilledTogetherKeepOneEntry) {
  BlockManager m(8, kBs);
  const auto t = iota_tokens(9);
  // Both admitted before either is committed: no hit, two private copies.
  ASSERT_TRUE(m.allocate(1, m.match_prefix(t, 0), 9).ok());
  ASSERT_TRUE(m.allocate(2, m.match_prefix(t, 0), 9).ok());
  m.commit(1, t, 9);
  m.commit(2, t, 9);
  EXPECT_EQ(m.prefix_cache().size(), 2);
  EXPECT_TRUE(m.prefix_cache().contains(m.table(1).blocks[0]));
  EXPECT_FALSE(m.prefix_cache().contains(m.table(2).blocks[0]));
  EXPECT_EQ(m.table(2).hashes, m.table(1).hashes);  // the chain is still known
  const std::vector<BlockId> dup = m.table(2).blocks;
  m.free(2);  // its duplicates are worthless: front of the free list
  const std::vector<BlockId> free_list = m.allocator().free_list();
  EXPECT_EQ(std::vector<BlockId>(free_list.begin(), free_list.begin() + 3), dup);
  EXPECT_INVARIANTS(m);
}

TEST(PrefixCache, DecodeFillsBlocksThatLaterSequencesAdopt) {
  BlockManager m(8, kBs);
  auto t = iota_tokens(3);
  prefill(m, 1, t);
  std::vector<BlockCopy> copies;
  // Decode five tokens one at a time: position p is computed, then p+1 added.
  for (int i = 0; i < 5; ++i) {
    t.push_back(static_cast<TokenId>(1000 + i));
    const int32_t computed = static_cast<int32_t>(t.size()) - 1;
    ASSERT_TRUE(m.append_slots(1, computed, 1, &copies).ok());
    m.commit(1, t, computed + 1);
  }
  EXPECT_EQ(m.prefix_cache().size(), 2);  // 8 computed tokens = 2 full blocks
  EXPECT_EQ(m.match_prefix(concat(t, {7}), 0).num_tokens(kBs), 8);
  EXPECT_INVARIANTS(m);
}

TEST(PrefixCache, DisabledCachingNeverMatchesOrCounts) {
  BlockManager m(8, kBs, /*enable_prefix_caching=*/false);
  const auto t = iota_tokens(9);
  prefill(m, 1, t);
  EXPECT_EQ(m.prefix_cache().size(), 0);
  EXPECT_EQ(m.match_prefix(t, 0).num_tokens(kBs), 0);
  EXPECT_EQ(m.prefix_stats().query_tokens, 0);
}

}  // namespace
}  // namespace tern
