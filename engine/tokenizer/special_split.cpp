#include "tokenizer/special_split.h"

#include <algorithm>

namespace tern {
namespace {

// llama.cpp strips with C isspace(): ASCII whitespace only.
bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

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

  // Pass 1: which eligible specials occur at all (by rank).
  const uint32_t eligible = parse_special ? (kAttrControl | kAttrUserDefined | kAttrUnknown) : kAttrUserDefined;
  std::vector<uint8_t> occurs(vocab_.specials.size(), 0);
  bool any = false;
  for (size_t i = 0; i < text.size(); ++i) {
    int32_t node = 0;
    for (size_t j = i; j < text.size(); ++j) {
      node = child(node, static_cast<uint8_t>(text[j]));
      if (node < 0) break;
      const TokenId t = nodes_[node].token;
      if (t >= 0 && (vocab_.attr[t] & eligible)) occurs[priority_[t]] = any = true;
    }
  }
  if (!any) return whole_text();

  // Pass 2: in priority order, each occurring special claims its leftmost
  // non-overlapping occurrences that lie wholly in unclaimed text.
  std::vector<uint8_t> state(text.size(), kFree);
  std::vector<TokenId> token_at(text.size(), -1);  // start byte of a claimed special -> its id
  for (size_t rank = 0; rank < occurs.size(); ++rank) {
    if (!occurs[rank]) continue;
    const TokenId id = vocab_.specials[rank];
    const std::string_view needle = vocab_.text[id];
    const uint32_t attr = vocab_.attr[id];
    for (size_t p = text.find(needle); p != std::string_view::npos; p = text.find(needle, p)) {
      const size_t end = p + needle.size();
      size_t k = p;
      while (k < end && state[k] == kFree) ++k;
      if (k < end) {  // overlaps claimed text: retry past the obstacle
        p = k + 1;
        continue;
      }
      std::fill(state.begin() + p, state.begin() + end, kClaimed);
      token_at[p] = id;
      if (attr & kAttrLstrip) {
        for (size_t q = p; q > 0 && state[q - 1] == kFree && is_space(text[q - 1]); --q) state[q - 1] = kDropped;
      }
      if (attr & kAttrRstrip) {
        for (size_t q = end; q < text.size() && state[q] == kFree && is_space(text[q]); ++q) state[q] = kDropped;
      }
      p = end;
    }
  }

  for (size_t i = 0; i < text.size();) {
    if (state[i] == kDropped) {
      ++i;
    } else if (state[i] == kClaimed) {
      const TokenId id = token_at[i];
      const auto len = static_cast<uint32_t>(vocab_.text[id].size());
      out.push_back({id, static_cast<uint32_t>(i), len});
      i += len;
    } else {
      size_t j = i;
      while (j < text.size() && state[j] == kFree) ++j;
      out.push_back({-1, static_cast<uint32_t>(i), static_cast<uint32_t>(j - i)});
      i = j;
    }
  }
}

}  // namespace tern
