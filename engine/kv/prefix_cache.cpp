#include "kv/prefix_cache.h"

#include <algorithm>
#include <cassert>
#include <string>

namespace tern {

namespace {

// wyhash's constants and 128-bit multiply-fold.
constexpr uint64_t kP0 = 0xa0761d6478bd642full;
constexpr uint64_t kP1 = 0xe7037ed1a0b428dbull;
constexpr uint64_t kP2 = 0x8ebc6af09c88c6e3ull;

inline uint64_t mum(uint64_t a, uint64_t b) {
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

// splitmix64's finalizer: every step (xor-shift, odd multiply) is invertible.
inline uint64_t fmix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace

BlockHash hash_root(uint64_t salt) { return fmix(salt ^ kP0); }

BlockHash hash_block(BlockHash parent, std::span<const TokenId> tokens) {
  uint64_t h = parent ^ kP0;
  size_t i = 0;
  for (; i + 2 <= tokens.size(); i += 2) {
    const uint64_t w = static_cast<uint32_t>(tokens[i]) |
                       (static_cast<uint64_t>(static_cast<uint32_t>(tokens[i + 1])) << 32);
    h = mum(h ^ kP1, w ^ kP2) + h;
  }
  if (i < tokens.size()) h = mum(h ^ kP1, static_cast<uint32_t>(tokens[i]) ^ kP2) + h;
  return fmix(h ^ tokens.size());
}

PrefixCache::PrefixCache(int32_t num_blocks, int32_t block_size)
    : block_size_(block_size),
      registered_(num_blocks, 0),
      hash_(num_blocks, 0),
      parent_(num_blocks, 0),
      tokens_(static_cast<size_t>(num_blocks) * block_size, 0) {
  assert(num_blocks > 0 && block_size > 0);
}

BlockId PrefixCache::find(BlockHash hash, BlockHash parent, std::span<const TokenId> tokens) const {
  assert(static_cast<int32_t>(tokens.size()) == block_size_);
  const auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return kNoBlock;
  const BlockId b = it->second;
  if (parent_[b] != parent) return kNoBlock;
  const TokenId* stored = &tokens_[static_cast<size_t>(b) * block_size_];
  if (!std::equal(tokens.begin(), tokens.end(), stored)) return kNoBlock;
  return b;
}

bool PrefixCache::insert(BlockHash hash, BlockHash parent, std::span<const TokenId> tokens, BlockId block) {
  assert(static_cast<int32_t>(tokens.size()) == block_size_);
  if (registered_[block]) return false;
  if (!by_hash_.emplace(hash, block).second) return false;
  registered_[block] = 1;
  hash_[block] = hash;
  parent_[block] = parent;
  std::copy(tokens.begin(), tokens.end(), &tokens_[static_cast<size_t>(block) * block_size_]);
  return true;
}

bool PrefixCache::evict(BlockId block) {
  if (!registered_[block]) return false;
  const size_t erased = by_hash_.erase(hash_[block]);
  assert(erased == 1);
  (void)erased;
  registered_[block] = 0;
  ++stats_.evictions;
  return true;
}

void PrefixCache::clear() {
  by_hash_.clear();
  std::fill(registered_.begin(), registered_.end(), 0);
}

Status PrefixCache::check_invariants() const {
  int32_t n = 0;
  for (size_t b = 0; b < registered_.size(); ++b) {
    if (!registered_[b]) continue;
    ++n;
    const auto it = by_hash_.find(hash_[b]);
    if (it == by_hash_.end() || it->second != static_cast<BlockId>(b)) {
      return Internal("block " + std::to_string(b) + " registered but its hash maps elsewhere");
    }
  }
  if (n != size()) {
    return Internal("hash map has " + std::to_string(size()) + " entries, blocks say " + std::to_string(n));
  }
  return Status::Ok();
}

}  // namespace tern
