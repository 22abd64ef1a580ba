// BlockAllocator and BlockManager bookkeeping: ref counts, free-list order,
// slots, fork and copy-on-write. Prefix adoption is in prefix_cache_test.
#include "kv/block_allocator.h"
#include "kv/block_manager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

namespace tern {
namespace {

using Retain = BlockAllocator::Retain;

#define EXPECT_INVARIANTS(x)                         \
  do {                                               \
    const Status _st = (x).check_invariants();       \
    EXPECT_TRUE(_st.ok()) << _st.message();          \
  } while (0)

TEST(BlockAllocator, AllocatesEveryBlockOnceThenReportsExhaustion) {
  BlockAllocator a(4, 16);
  EXPECT_EQ(a.num_free(), 4);
  std::vector<BlockId> got;
  for (int i = 0; i < 4; ++i) got.push_back(a.allocate());
  EXPECT_EQ(got, (std::vector<BlockId>{0, 1, 2, 3}));  // fresh pool: ascending ids
  EXPECT_EQ(a.allocate(), kNoBlock);
  EXPECT_EQ(a.num_free(), 0);
  EXPECT_EQ(a.num_used(), 4);
  for (BlockId b : got) EXPECT_EQ(a.ref_count(b), 1);
  EXPECT_INVARIANTS(a);
}

TEST(BlockAllocator, RefCountsAndRelease) {
  BlockAllocator a(3, 8);
  const BlockId b = a.allocate();
  a.ref(b);
  a.ref(b);
  EXPECT_EQ(a.ref_count(b), 3);
  EXPECT_FALSE(a.unref(b, Retain::kNothing));
  EXPECT_FALSE(a.unref(b, Retain::kNothing));
  EXPECT_EQ(a.num_free(), 2);
  EXPECT_TRUE(a.unref(b, Retain::kNothing));
  EXPECT_TRUE(a.is_free(b));
  EXPECT_EQ(a.num_free(), 3);
  EXPECT_INVARIANTS(a);
}

TEST(BlockAllocator, WorthlessBlocksAreReusedBeforeCachedOnesAndCachedInLruOrder) {
  BlockAllocator a(5, 4);
  for (int i = 0; i < 5; ++i) a.allocate();
  a.unref(3, Retain::kCached);   // LRU: 3
  a.unref(1, Retain::kCached);   // LRU: 3, 1
  a.unref(4, Retain::kNothing);  // front
  a.unref(0, Retain::kCached);   // LRU: 3, 1, 0
  a.unref(2, Retain::kNothing);  // front
  EXPECT_EQ(a.free_list(), (std::vector<BlockId>{2, 4, 3, 1, 0}));
  EXPECT_EQ(a.allocate(), 2);
  EXPECT_EQ(a.allocate(), 4);
  EXPECT_EQ(a.allocate(), 3);  // least recently released cached block
  EXPECT_INVARIANTS(a);
}

TEST(BlockAllocator, RefRevivesAFreeBlockOutOfTheFreeList) {
  BlockAllocator a(3, 4);
  for (int i = 0; i < 3; ++i) a.allocate();
  a.unref(0, Retain::kCached);
  a.unref(1, Retain::kCached);
  a.unref(2, Retain::kCached);
  a.ref(1);  // prefix-cache hit on an unreferenced block
  EXPECT_EQ(a.ref_count(1), 1);
  EXPECT_EQ(a.free_list(), (std::vector<BlockId>{0, 2}));
  EXPECT_INVARIANTS(a);
}

#ifndef NDEBUG
TEST(BlockAllocatorDeathTest, DoubleFreeAsserts) {
  BlockAllocator a(2, 4);
  const BlockId b = a.allocate();
  a.unref(b, Retain::kNothing);
  EXPECT_DEATH(a.unref(b, Retain::kNothing), "double free");
}
#endif

TEST(BlockAllocator, RandomOperationsKeepInvariantsAgainstAModel) {
  constexpr int kBlocks = 32;
  BlockAllocator a(kBlocks, 16);
  std::vector<int> model(kBlocks, 0);  // expected ref counts
  std::mt19937 rng(7);
  for (int step = 0; step < 20000; ++step) {
    const int op = rng() % 3;
    if (op == 0) {
      const BlockId b = a.allocate();
      const int free = static_cast<int>(std::count(model.begin(), model.end(), 0));
      if (free == 0) {
        EXPECT_EQ(b, kNoBlock);
      } else {
        ASSERT_NE(b, kNoBlock);
        ASSERT_EQ(model[b], 0);
        model[b] = 1;
      }
    } else {
      const BlockId b = static_cast<BlockId>(rng() % kBlocks);
      if (op == 1 && (model[b] > 0 || rng() % 4 == 0)) {
        a.ref(b);
        ++model[b];
      } else if (model[b] > 0) {
        const bool freed = a.unref(b, rng() % 2 ? Retain::kCached : Retain::kNothing);
        --model[b];
        EXPECT_EQ(freed, model[b] == 0);
      }
    }
    for (int b = 0; b < kBlocks; ++b) ASSERT_EQ(a.ref_count(b), model[b]);
    const Status st = a.check_invariants();
    ASSERT_TRUE(st.ok()) << "step " << step << ": " << st.message();
  }
}

// --- BlockManager: tables, slots, fork, copy-on-write -----------------------

std::vector<TokenId> iota_tokens(int n, TokenId first = 100) {
  std::vector<TokenId> t(n);
  std::iota(t.begin(), t.end(), first);
  return t;
}

TEST(BlockManager, AllocateAndAppendCoverExactlyTheComputedPositions) {
  BlockManager m(8, 4, /*enable_prefix_caching=*/false);
  const auto tokens = iota_tokens(10);
  const PrefixMatch none = m.match_prefix(tokens, 0);
  EXPECT_TRUE(none.blocks.empty());
  EXPECT_EQ(m.blocks_to_allocate(none, 6), 2);
  ASSERT_TRUE(m.allocate(1, none, 6).ok());  // chunk [0, 6)
  EXPECT_EQ(m.table(1).blocks.size(), 2u);
  EXPECT_EQ(m.blocks_to_append(1, 6, 2), 0);  // [6, 8) fits block 1
  std::vector<BlockCopy> copies;
  ASSERT_TRUE(m.append_slots(1, 6, 2, &copies).ok());
  EXPECT_EQ(m.blocks_to_append(1, 8, 1), 1);  // position 8 opens block 2
  ASSERT_TRUE(m.append_slots(1, 8, 1, &copies).ok());
  EXPECT_TRUE(copies.empty());
  const BlockTable& t = m.table(1);
  ASSERT_EQ(t.blocks.size(), 3u);
  for (int p = 0; p < 9; ++p) EXPECT_EQ(t.slot(p, 4), t.blocks[p / 4] * 4 + p % 4);
  EXPECT_FLOAT_EQ(m.usage(), 3.0f / 8);
  EXPECT_INVARIANTS(m);
  m.free(1);
  EXPECT_EQ(m.num_free_blocks(), 8);
  EXPECT_FALSE(m.has_table(1));
  EXPECT_INVARIANTS(m);
}

TEST(BlockManager, ExhaustionIsAStatusAndChangesNothing) {
  BlockManager m(3, 4, false);
  const auto tokens = iota_tokens(20);
  EXPECT_EQ(m.allocate(1, m.match_prefix(tokens, 0), 13).code(), StatusCode::kResourceExhausted);
  EXPECT_FALSE(m.has_table(1));
  ASSERT_TRUE(m.allocate(1, m.match_prefix(tokens, 0), 12).ok());
  std::vector<BlockCopy> copies;
  EXPECT_EQ(m.append_slots(1, 12, 1, &copies).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(m.table(1).blocks.size(), 3u);
  EXPECT_INVARIANTS(m);
}

TEST(BlockManager, ForkSharesBlocksAndCopiesThePartialBlockOnFirstWrite) {
  BlockManager m(8, 4, false);
  const auto tokens = iota_tokens(6);
  ASSERT_TRUE(m.allocate(1, m.match_prefix(tokens, 0), 6).ok());  // blocks: full, partial (2 of 4)
  m.fork(1, 2);
  const std::vector<BlockId> shared = m.table(1).blocks;
  EXPECT_EQ(m.table(2).blocks, shared);
  for (BlockId b : shared) EXPECT_EQ(m.allocator().ref_count(b), 2);
  EXPECT_INVARIANTS(m);

  // The child writes position 6 (inside the shared partial block): copy.
  EXPECT_EQ(m.blocks_to_append(2, 6, 1), 1);
  std::vector<BlockCopy> copies;
  ASSERT_TRUE(m.append_slots(2, 6, 1, &copies).ok());
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].src, shared[1]);
  EXPECT_EQ(copies[0].dst, m.table(2).blocks[1]);
  EXPECT_NE(copies[0].dst, shared[1]);
  EXPECT_EQ(m.table(2).blocks[0], shared[0]);  // full block stays shared
  EXPECT_EQ(m.allocator().ref_count(shared[0]), 2);
  EXPECT_EQ(m.allocator().ref_count(shared[1]), 1);

  // The parent is now the only holder: it writes in place.
  copies.clear();
  EXPECT_EQ(m.blocks_to_append(1, 6, 1), 0);
  ASSERT_TRUE(m.append_slots(1, 6, 1, &copies).ok());
  EXPECT_TRUE(copies.empty());
  EXPECT_EQ(m.table(1).blocks, shared);
  EXPECT_INVARIANTS(m);

  m.free(1);
  EXPECT_EQ(m.allocator().ref_count(shared[0]), 1);
  m.free(2);
  EXPECT_EQ(m.num_free_blocks(), 8);
  EXPECT_INVARIANTS(m);
}

TEST(BlockManager, ForkAtABlockBoundaryNeedsNoCopy) {
  BlockManager m(8, 4, false);
  const auto tokens = iota_tokens(8);
  ASSERT_TRUE(m.allocate(1, m.match_prefix(tokens, 0), 8).ok());
  m.fork(1, 2);
  std::vector<BlockCopy> copies;
  ASSERT_TRUE(m.append_slots(2, 8, 1, &copies).ok());
  ASSERT_TRUE(m.append_slots(1, 8, 1, &copies).ok());
  EXPECT_TRUE(copies.empty());
  EXPECT_NE(m.table(1).blocks[2], m.table(2).blocks[2]);
  EXPECT_INVARIANTS(m);
}

TEST(BlockManager, CopyOnWriteCountsTheCopyBlockWhenCheckingSpace) {
  BlockManager m(3, 4, false);
  const auto tokens = iota_tokens(6);
  ASSERT_TRUE(m.allocate(1, m.match_prefix(tokens, 0), 6).ok());
  m.fork(1, 2);
  ASSERT_TRUE(m.allocate(3, m.match_prefix(tokens, 7), 1).ok());  // takes the last free block
  std::vector<BlockCopy> copies;
  EXPECT_EQ(m.append_slots(2, 6, 1, &copies).code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(copies.empty());
  EXPECT_INVARIANTS(m);
}

}  // namespace
}  // namespace tern
