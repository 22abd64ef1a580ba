#include "kv/block_manager.h"

#include <algorithm>
#include <cassert>
#include <string>

namespace tern {

BlockManager::BlockManager(int32_t num_blocks, int32_t block_size, bool enable_prefix_caching)
    : allocator_(num_blocks, block_size), cache_(num_blocks, block_size), prefix_caching_(enable_prefix_caching) {}

const BlockTable& BlockManager::table(SeqId seq) const {
  const auto it = tables_.find(seq);
  assert(it != tables_.end() && "sequence has no block table");
  return it->second;
}

BlockTable& BlockManager::mutable_table(SeqId seq) {
  const auto it = tables_.find(seq);
  assert(it != tables_.end() && "sequence has no block table");
  return it->second;
}

BlockId BlockManager::take_block() {
  const BlockId id = allocator_.allocate();
  assert(id != kNoBlock);  // callers count free blocks first
  cache_.evict(id);
  return id;
}

PrefixMatch BlockManager::match_prefix(std::span<const TokenId> tokens, uint64_t salt) const {
  PrefixMatch m;
  m.root = hash_root(salt);
  m.num_query_tokens = static_cast<int32_t>(tokens.size());
  if (!prefix_caching_ || tokens.empty()) return m;
  const int32_t bs = block_size();
  const int32_t max_blocks = static_cast<int32_t>(tokens.size() - 1) / bs;
  BlockHash parent = m.root;
  for (int32_t i = 0; i < max_blocks; ++i) {
    const auto block_tokens = tokens.subspan(static_cast<size_t>(i) * bs, bs);
    const BlockHash h = hash_block(parent, block_tokens);
    const BlockId b = cache_.find(h, parent, block_tokens);
    if (b == kNoBlock) break;
    m.blocks.push_back(b);
    m.hashes.push_back(h);
    parent = h;
  }
  return m;
}

int32_t BlockManager::blocks_to_allocate(const PrefixMatch& match, int32_t num_new_tokens) const {
  const int32_t bs = block_size();
  int32_t need = ceil_div(match.num_tokens(bs) + num_new_tokens, bs) - static_cast<int32_t>(match.blocks.size());
  for (BlockId b : match.blocks) need += allocator_.is_free(b) ? 1 : 0;
  return need;
}

Status BlockManager::allocate(SeqId seq, const PrefixMatch& match, int32_t num_new_tokens) {
  assert(!has_table(seq));
  assert(num_new_tokens >= 0);
  const int32_t need = blocks_to_allocate(match, num_new_tokens);
  if (need > allocator_.num_free()) {
    return ResourceExhausted("need " + std::to_string(need) + " KV blocks, " +
                             std::to_string(allocator_.num_free()) + " free");
  }
  const int32_t bs = block_size();
  BlockTable& t = tables_[seq];
  t.root = match.root;
  t.num_cached_tokens = match.num_tokens(bs);
  // Adopt first: a matched block that is free must leave the free list before
  // take_block() could hand it out (and evict it) as a new block.
  for (BlockId b : match.blocks) allocator_.ref(b);
  t.blocks = match.blocks;
  t.hashes = match.hashes;
  const int32_t total = ceil_div(t.num_cached_tokens + num_new_tokens, bs);
  while (static_cast<int32_t>(t.blocks.size()) < total) t.blocks.push_back(take_block());
  if (prefix_caching_) cache_.record_query(match.num_query_tokens, t.num_cached_tokens);
  return Status::Ok();
}

int32_t BlockManager::blocks_to_append(SeqId seq, int32_t num_computed, int32_t num_new_tokens) const {
  const BlockTable& t = table(seq);
  const int32_t bs = block_size();
  assert(static_cast<int32_t>(t.blocks.size()) >= ceil_div(num_computed, bs));
  int32_t need = std::max(0, ceil_div(num_computed + num_new_tokens, bs) - static_cast<int32_t>(t.blocks.size()));
  if (num_new_tokens > 0 && num_computed % bs != 0 && allocator_.ref_count(t.blocks[num_computed / bs]) > 1) {
    ++need;  // copy-on-write of the shared partial block
  }
  return need;
}

Status BlockManager::append_slots(SeqId seq, int32_t num_computed, int32_t num_new_tokens,
                                  std::vector<BlockCopy>* copies) {
  const int32_t need = blocks_to_append(seq, num_computed, num_new_tokens);
  if (need > allocator_.num_free()) {
    return ResourceExhausted("need " + std::to_string(need) + " KV blocks, " +
                             std::to_string(allocator_.num_free()) + " free");
  }
  BlockTable& t = mutable_table(seq);
  const int32_t bs = block_size();
  if (num_new_tokens > 0 && num_computed % bs != 0) {
    BlockId& shared = t.blocks[num_computed / bs];
    if (allocator_.ref_count(shared) > 1) {
      const BlockId copy = take_block();
      copies->push_back({shared, copy});
      // Still held by another table, so this never frees it. A partial block
      // is never in the prefix cache.
      const bool freed = allocator_.unref(shared, BlockAllocator::Retain::kNothing);
      assert(!freed);
      (void)freed;
      shared = copy;
    }
  }
  const int32_t total = ceil_div(num_computed + num_new_tokens, bs);
  while (static_cast<int32_t>(t.blocks.size()) < total) t.blocks.push_back(take_block());
  return Status::Ok();
}

void BlockManager::commit(SeqId seq, std::span<const TokenId> tokens, int32_t num_computed) {
  if (!prefix_caching_) return;
  BlockTable& t = mutable_table(seq);
  const int32_t bs = block_size();
  assert(num_computed <= static_cast<int32_t>(tokens.size()));
  assert(static_cast<int32_t>(t.blocks.size()) >= ceil_div(num_computed, bs));
  const int32_t full = num_computed / bs;
  while (static_cast<int32_t>(t.hashes.size()) < full) {
    const size_t i = t.hashes.size();
    const BlockHash parent = i == 0 ? t.root : t.hashes[i - 1];
    const auto block_tokens = tokens.subspan(i * bs, bs);
    const BlockHash h = hash_block(parent, block_tokens);
    t.hashes.push_back(h);
    cache_.insert(h, parent, block_tokens, t.blocks[i]);  // false: an identical block is cached already
  }
}

void BlockManager::truncate(SeqId seq, int32_t num_tokens) {
  BlockTable& t = mutable_table(seq);
  const int32_t keep = ceil_div(std::max(0, num_tokens), block_size());
  assert(static_cast<int32_t>(t.hashes.size()) <= keep);
  while (static_cast<int32_t>(t.blocks.size()) > keep) {
    const BlockId b = t.blocks.back();
    t.blocks.pop_back();
    allocator_.unref(b, cache_.contains(b) ? BlockAllocator::Retain::kCached : BlockAllocator::Retain::kNothing);
  }
}

void BlockManager::fork(SeqId parent, SeqId child) {
  assert(!has_table(child));
  BlockTable copy = table(parent);
  for (BlockId b : copy.blocks) allocator_.ref(b);
  tables_.emplace(child, std::move(copy));
}

void BlockManager::free(SeqId seq) {
  const auto it = tables_.find(seq);
  assert(it != tables_.end() && "free of a sequence without a table");
  const std::vector<BlockId>& blocks = it->second.blocks;
  for (auto b = blocks.rbegin(); b != blocks.rend(); ++b) {
    allocator_.unref(*b, cache_.contains(*b) ? BlockAllocator::Retain::kCached : BlockAllocator::Retain::kNothing);
  }
  tables_.erase(it);
}

Status BlockManager::check_invariants() const {
  TERN_RETURN_IF_ERROR(allocator_.check_invariants());
  TERN_RETURN_IF_ERROR(cache_.check_invariants());
  const int32_t n = num_blocks();
  std::vector<int32_t> holders(n, 0);
  std::vector<SeqId> last_holder(n, -1);
  for (const auto& [seq, t] : tables_) {
    const std::string who = "sequence " + std::to_string(seq);
    if (t.hashes.size() > t.blocks.size()) return Internal(who + ": more hashes than blocks");
    for (size_t i = 0; i < t.blocks.size(); ++i) {
      const BlockId b = t.blocks[i];
      if (b < 0 || b >= n) return Internal(who + " holds bad block id " + std::to_string(b));
      if (holders[b] > 0 && last_holder[b] == seq) return Internal(who + " holds block " + std::to_string(b) + " twice");
      ++holders[b];
      last_holder[b] = seq;
      if (i < t.hashes.size() && cache_.contains(b) && cache_.hash_of(b) != t.hashes[i]) {
        return Internal(who + ": block " + std::to_string(b) + " is cached under another hash");
      }
    }
  }
  for (BlockId b = 0; b < n; ++b) {
    if (holders[b] != allocator_.ref_count(b)) {
      return Internal("block " + std::to_string(b) + " has ref count " + std::to_string(allocator_.ref_count(b)) +
                      " but " + std::to_string(holders[b]) + " tables hold it");
    }
  }
  if (allocator_.num_free() + allocator_.num_used() != n) return Internal("free + used != total");
  return Status::Ok();
}

}  // namespace tern
