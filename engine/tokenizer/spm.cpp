// SentencePiece-style BPE by scores (see encoders.h).
#include <queue>

#include "tokenizer/encoders.h"
#include "tokenizer/utf8.h"

namespace tern {
namespace {

// A run of text[start, start + n) that is one symbol; n == 0 once merged away.
struct Symbol {
  uint32_t start;
  uint32_t n;
  int32_t prev;
  int32_t next;
};

struct Bigram {
  int32_t left;
  int32_t right;
  float score;
  uint32_t size;  // bytes of left + right when queued: detects stale entries
};

// Highest score first; on equal scores the leftmost pair (llama.cpp's order).
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

void spm_encode(const Vocab& v, std::string_view text, std::vector<TokenId>& out) {
  if (text.empty()) return;
  std::vector<Symbol> sym;
  sym.reserve(text.size());
  for (size_t off = 0; off < text.size();) {
    size_t len = utf8::len_from_lead(static_cast<uint8_t>(text[off]));
    if (len > text.size() - off) len = text.size() - off;
    const auto i = static_cast<int32_t>(sym.size());
    sym.push_back({static_cast<uint32_t>(off), static_cast<uint32_t>(len), i - 1,
                   off + len == text.size() ? -1 : i + 1});
    off += len;
  }

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto try_add = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const uint32_t size = sym[l].n + sym[r].n;
    const TokenId id = v.find(text.substr(sym[l].start, size));
    if (id < 0) return;
    queue.push({l, r, v.score[id], size});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(sym.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = sym[b.left];
    Symbol& r = sym[b.right];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  for (int32_t i = 0; i != -1; i = sym[i].next) {
    const std::string_view piece = text.substr(sym[i].start, sym[i].n);
    if (const TokenId id = v.find(piece); id >= 0) {
      out.push_back(id);
      continue;
    }
    // Only single characters can be left without a token: spell them in bytes.
    for (char c : piece) {
      const TokenId id = v.byte_token[static_cast<uint8_t>(c)];
      if (id >= 0) {
        out.push_back(id);
      } else if (v.unk >= 0) {
        out.push_back(v.unk);
      }
    }
  }
}

}  // namespace tern
