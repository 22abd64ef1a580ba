// Byte-level BPE with ranked merges (see encoders.h).
//
// Symbols are runs of raw bytes; the vocabulary spells them byte-encoded
// (GPT-2 mapping), so ids are tracked alongside: a byte's id comes from
// Vocab::bpe_byte_token and a merged symbol's id from the merge rule. Merge
// rules whose halves are not both tokens (rare) are looked up by string.
#include <queue>
#include <string>

#include "tokenizer/encoders.h"
#include "tokenizer/utf8.h"

namespace tern {
namespace {

struct Symbol {
  uint32_t start;
  uint32_t n;  // 0 once merged into its left neighbour
  int32_t prev;
  int32_t next;
  TokenId id;  // token spelling this symbol, -1 if none
};

struct Bigram {
  int32_t left;
  int32_t right;
  int32_t rank;
  uint32_t left_n;   // sizes when queued: detect stale entries
  uint32_t right_n;
  TokenId result;
};

// Lowest rank first; on equal ranks the leftmost pair (llama.cpp's order).
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

void byte_encode(std::string_view raw, std::string& out) {
  out.clear();
  for (char c : raw) out += utf8::byte_to_unicode(static_cast<uint8_t>(c));
}

}  // namespace

void bpe_encode(const Vocab& v, std::string_view word, std::vector<TokenId>& out) {
  if (word.empty()) return;
  std::string scratch, scratch2;

  if (v.ignore_merges) {
    byte_encode(word, scratch);
    if (const TokenId id = v.find(scratch); id >= 0) {
      out.push_back(id);
      return;
    }
  }

  std::vector<Symbol> sym(word.size());
  for (size_t i = 0; i < word.size(); ++i) {
    const auto k = static_cast<int32_t>(i);
    sym[i] = {static_cast<uint32_t>(i), 1, k - 1, i + 1 == word.size() ? -1 : k + 1,
              v.bpe_byte_token[static_cast<uint8_t>(word[i])]};
  }

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto try_add = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const Symbol& a = sym[l];
    const Symbol& b = sym[r];
    if (a.id >= 0 && b.id >= 0) {
      auto it = v.merges.find(Vocab::pair_key(a.id, b.id));
      if (it == v.merges.end()) return;
      queue.push({l, r, it->second.rank, a.n, b.n, it->second.result});
      return;
    }
    if (v.string_merges.empty()) return;
    byte_encode(word.substr(a.start, a.n), scratch);
    byte_encode(word.substr(b.start, b.n), scratch2);
    const size_t left_len = scratch.size();
    scratch += ' ';
    scratch += scratch2;
    auto it = v.string_merges.find(scratch);
    if (it == v.string_merges.end()) return;
    scratch.erase(left_len, 1);
    queue.push({l, r, it->second, a.n, b.n, v.find(scratch)});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(sym.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram bg = queue.top();
    queue.pop();
    Symbol& l = sym[bg.left];
    Symbol& r = sym[bg.right];
    if (l.n != bg.left_n || r.n != bg.right_n || l.next != bg.right) continue;  // stale
    l.n += r.n;
    l.id = bg.result;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = bg.left;
    try_add(l.prev, bg.left);
    try_add(bg.left, l.next);
  }

  for (int32_t i = 0; i != -1; i = sym[i].next) {
    const Symbol& s = sym[i];
    if (s.id >= 0) {
      out.push_back(s.id);
      continue;
    }
    // No token spells this run. llama.cpp then looks up each byte of its
    // byte-encoded spelling as a one-byte token (printable ASCII survives).
    byte_encode(word.substr(s.start, s.n), scratch);
    for (char c : scratch) {
      if (const TokenId id = v.find(std::string_view(&c, 1)); id >= 0) out.push_back(id);
    }
  }
}

}  // namespace tern
