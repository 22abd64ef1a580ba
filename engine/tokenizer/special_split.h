// SpecialSplitter: cuts text at occurrences of special tokens' texts before
// the merge algorithms run (llama.cpp's tokenizer_st_partition).
//
// Semantics, identical to llama.cpp's: tokens are tried longest text first;
// each claims all its non-overlapping occurrences, left to right, within the
// text no earlier token claimed. Tokens flagged lstrip/rstrip also swallow the
// whitespace next to them. User-defined tokens are always split off; control
// and unknown tokens only when `parse_special` is set.
//
// Cost: one pass over the text through a byte trie of the special texts
// (O(n · longest special)) finds which specials occur; then one search pass
// per special that does occur. Extra memory: 5 bytes per input byte.
// Immutable after construction; split() is thread-safe.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tern/types.h"
#include "tokenizer/vocab.h"

namespace tern {

// One piece of the input: a special token, or a span of plain text.
struct Fragment {
  TokenId token;  // >= 0: this special token; -1: text[offset, offset + length)
  uint32_t offset;
  uint32_t length;
};

class SpecialSplitter {
 public:
  explicit SpecialSplitter(const Vocab& v);

  // Appends the fragments of `text` in order (none for empty text).
  void split(std::string_view text, bool parse_special, std::vector<Fragment>& out) const;

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;  // sorted by byte
    TokenId token = -1;
  };
  int32_t child(int32_t node, uint8_t b) const;

  const Vocab& vocab_;
  std::vector<Node> nodes_;          // nodes_[0] is the root
  std::vector<int32_t> priority_;    // token id -> rank in Vocab::specials (-1: not special)
  bool has_user_defined_ = false;
};

}  // namespace tern
