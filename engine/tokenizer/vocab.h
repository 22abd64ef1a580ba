// Vocab: the tokenizer's tables as read from GGUF metadata (tokenizer.ggml.*).
//
// Internal to engine/tokenizer. Immutable after load_vocab(); safe to share
// between threads. Token texts are copied out of the GGUF file, so a Vocab
// does not depend on the file staying open.
//
// Defaults and derived values follow llama.cpp (src/llama-vocab.cpp) so that
// the same GGUF tokenizes identically in both: per-model default special ids
// and add_bos, auto-detected end-of-generation tokens, and token attributes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "gguf/gguf.h"
#include "tern/status.h"
#include "tern/types.h"

namespace tern {

enum class VocabKind { kSpm, kBpe, kWpm };

// Token attributes, a bit set (token_type values 1..6 map to one bit each;
// the strip bits come from per-model rules).
enum TokenAttr : uint32_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1u << 0,
  kAttrUnused = 1u << 1,
  kAttrNormal = 1u << 2,
  kAttrControl = 1u << 3,
  kAttrUserDefined = 1u << 4,
  kAttrByte = 1u << 5,
  kAttrLstrip = 1u << 6,  // swallow whitespace left of the token when parsing specials
  kAttrRstrip = 1u << 7,  // swallow whitespace right of the token
};

struct Vocab {
  VocabKind kind = VocabKind::kSpm;
  std::string model;  // tokenizer.ggml.model
  std::string pre;    // tokenizer.ggml.pre ("" when absent)

  std::vector<std::string> text;  // id -> token text as stored (▁ / byte-encoded)
  std::vector<float> score;
  std::vector<uint32_t> attr;     // TokenAttr bits
  // Keys view into `text`; valid because `text` never changes after load.
  std::unordered_map<std::string_view, TokenId> to_id;

  TokenId bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, sep = -1, pad = -1, mask = -1;
  TokenId fim_pre = -1, fim_suf = -1, fim_mid = -1, fim_pad = -1, fim_rep = -1, fim_sep = -1;
  std::unordered_set<TokenId> eog;

  bool add_bos = false;
  bool add_eos = false;
  bool add_sep = false;
  bool add_space_prefix = false;  // SPM: a space goes in front of each text fragment
  bool ignore_merges = false;     // BPE: a whole pre-token that is in the vocab is emitted as is
  bool wpm_lowercase = true;      // WPM normalizer (tokenizer.ggml.normalizer.*)
  bool wpm_strip_accents = true;
  size_t max_token_len = 0;       // longest token text in bytes

  // BPE merge table. Ranks of pairs of token ids (the common case) and, for
  // merges whose halves are not both tokens, of "left right" strings.
  struct Merge {
    int32_t rank;
    TokenId result;  // id of left+right, -1 if that text is not a token
  };
  std::unordered_map<uint64_t, Merge> merges;
  std::unordered_map<std::string, int32_t> string_merges;

  // Control, user-defined and unknown tokens: candidates for special-token
  // parsing, longest text first (ties by id).
  std::vector<TokenId> specials;

  // SPM/WPM: byte-fallback id for each byte value (-1: none).
  TokenId byte_token[256];
  // BPE: id of the byte-encoded single-byte token for each byte (-1: none).
  TokenId bpe_byte_token[256];

  int32_t n_tokens() const { return static_cast<int32_t>(text.size()); }
  bool valid(TokenId id) const { return id >= 0 && id < n_tokens(); }
  TokenId find(std::string_view s) const {
    auto it = to_id.find(s);
    return it == to_id.end() ? -1 : it->second;
  }
  static uint64_t pair_key(TokenId l, TokenId r) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32) | static_cast<uint32_t>(r);
  }
};

// Reads and validates the tokenizer metadata. Errors: NotFound when the token
// list is missing, InvalidArgument for malformed arrays or ids, Unimplemented
// for tokenizer models tern does not implement.
Result<std::unique_ptr<Vocab>> load_vocab(const GgufFile& f);

}  // namespace tern
