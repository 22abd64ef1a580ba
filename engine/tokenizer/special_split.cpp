#include "tokenizer/special_split.h"

#include <algorithm>

namespace tern {
namespace {

// llama.cpp strips with C isspace(): ASCII whitespace only.
bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

struct Occurrence {
  int32_t priority;
  uint32_t start;
  uint32_t end;
  TokenId token;
};

// Per-byte state while claiming.
enum : uint8_t { kFree = 0, kClaimed = 1, kDropped = 2 };

}  // namespace

SpecialSplitter::SpecialSplitter(const Vocab& v) : vocab_(v), priority_(v.n_tokens(), -1) {
  nodes_.emplace_back();
  for (size_t rank = 0; rank < v.specials.size(); ++rank) {
    const TokenId id = v.specials[rank];
    priority_[id] = static_cast<int32_t>(rank);
    if (v.attr[id] & kAttrUserDefined) has_user_defined_ = true;
    int32_t node = 0;
    for (char c : v.text[id]) {
      const auto b = static_cast<uint8_t>(c);
      int32_t next = child(node, b);
      if (next < 0) {
        next = static_cast<int32_t>(nodes_.size());
        nodes_.emplace_back();
        auto& ch = nodes_[node].children;
        ch.insert(std::lower_bound(ch.begin(), ch.end(), std::make_pair(b, int32_t{-1})),
                  std::make_pair(b, next));
      }
      node = next;
    }
    nodes_[node].token = id;
  }
}

int32_t SpecialSplitter::child(int32_t node, uint8_t b) const {
  const auto& ch = nodes_[node].children;
  auto it = std::lower_bound(ch.begin(), ch.end(), std::make_pair(b, int32_t{-1}));
  return it != ch.end() && it->first == b ? it->second : -1;
}

void SpecialSplitter::split(std::string_view text, bool parse_special, std::vector<Fragment>& out) const {
  if (text.empty()) return;
  auto whole_text = [&] { out.push_back({-1, 0, static_cast<uint32_t>(text.size())}); };
  if (nodes_.size() == 1 || (!parse_special && !has_user_defined_)) return whole_text();

  const uint32_t eligible = parse_special ? (kAttrControl | kAttrUserDefined | kAttrUnknown) : kAttrUserDefined;
  std::vector<Occurrence> occ;
  for (uint32_t i = 0; i < text.size(); ++i) {
    int32_t node = 0;
    for (uint32_t j = i; j < text.size(); ++j) {
      node = child(node, static_cast<uint8_t>(text[j]));
      if (node < 0) break;
      const TokenId t = nodes_[node].token;
      if (t >= 0 && (vocab_.attr[t] & eligible)) occ.push_back({priority_[t], i, j + 1, t});
    }
  }
  if (occ.empty()) return whole_text();

  std::sort(occ.begin(), occ.end(), [](const Occurrence& a, const Occurrence& b) {
    return a.priority != b.priority ? a.priority < b.priority : a.start < b.start;
  });
  std::vector<uint8_t> state(text.size(), kFree);
  std::vector<Occurrence> taken;
  for (const Occurrence& o : occ) {
    bool free = true;
    for (uint32_t k = o.start; k < o.end && free; ++k) free = state[k] == kFree;
    if (!free) continue;
    std::fill(state.begin() + o.start, state.begin() + o.end, kClaimed);
    taken.push_back(o);
    const uint32_t attr = vocab_.attr[o.token];
    if (attr & kAttrLstrip) {
      for (uint32_t k = o.start; k > 0 && state[k - 1] == kFree && is_space(text[k - 1]); --k) state[k - 1] = kDropped;
    }
    if (attr & kAttrRstrip) {
      for (uint32_t k = o.end; k < text.size() && state[k] == kFree && is_space(text[k]); ++k) state[k] = kDropped;
    }
  }
  std::sort(taken.begin(), taken.end(), [](const Occurrence& a, const Occurrence& b) { return a.start < b.start; });

  size_t next_taken = 0;
  uint32_t i = 0;
  while (i < text.size()) {
    if (state[i] == kDropped) {
      ++i;
    } else if (state[i] == kClaimed) {
      const Occurrence& o = taken[next_taken++];
      out.push_back({o.token, o.start, o.end - o.start});
      i = o.end;
    } else {
      uint32_t j = i;
      while (j < text.size() && state[j] == kFree) ++j;
      out.push_back({-1, i, j - i});
      i = j;
    }
  }
}

}  // namespace tern
