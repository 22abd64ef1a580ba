// The merge algorithms behind Tokenizer::encode, one per supported vocabulary kind.
//
// Each encodes one piece of plain text (special tokens already split off) and
// appends ids to `out`. They are free functions over an immutable Vocab and
// keep their working state on the stack: thread-safe. Both merge with a
// priority queue in O(n log n) for an n-byte piece.
#pragma once

#include <string_view>
#include <vector>

#include "tern/types.h"
#include "tokenizer/vocab.h"

namespace tern {

// SentencePiece BPE ("llama"): start from UTF-8 characters and repeatedly merge
// the adjacent pair whose concatenation is the vocabulary token with the
// highest score (leftmost on ties). Characters left without a token fall back
// to their <0xNN> byte tokens. `text` has its spaces already escaped to ▁.
void spm_encode(const Vocab& v, std::string_view text, std::vector<TokenId>& out);

// Byte-level BPE ("gpt2"): start from single bytes (the vocabulary spells them
// with the GPT-2 byte-to-unicode mapping) and repeatedly apply the merge rule
// of lowest rank (leftmost on ties). `word` is one pre-token, raw UTF-8.
void bpe_encode(const Vocab& v, std::string_view word, std::vector<TokenId>& out);

}  // namespace tern
