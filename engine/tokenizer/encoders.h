// The merge algorithms behind Tokenizer::encode, one per supported vocabulary kind.
//
// Each encodes one piece of plain text (special tokens already split off) and
// appends ids to `out`. They are free functions over an immutable Vocab and
// keep their working state on the stack: thread-safe. The BPE variants merge
// with a priority queue in O(n log n) for an n-byte piece.
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

// WordPiece ("bert"): normalize and split into words as BERT does, then cover
// each word greedily with the longest vocabulary pieces from the left; the
// first piece of a word carries the ▁ prefix (how GGUF converters spell
// BERT's non-"##" pieces). A word that cannot be covered becomes the unknown
// token. `text` is one fragment of raw text. Not O(n log n): each position
// tries up to max_token_len lengths.
void wpm_encode(const Vocab& v, std::string_view text, std::vector<TokenId>& out);

}  // namespace tern
