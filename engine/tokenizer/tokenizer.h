// Tokenizer: text <-> token ids for a model, built from its GGUF metadata.
//
//   TERN_ASSIGN_OR_RETURN(auto file, GgufFile::open(path));
//   TERN_ASSIGN_OR_RETURN(auto tok, Tokenizer::from_gguf(*file));
//   std::vector<TokenId> ids = tok->encode("Hello", /*add_special=*/true, /*parse_special=*/false);
//   std::string text = tok->decode(ids);
//
// Supported tokenizer.ggml.model values: "llama" (SentencePiece BPE with byte
// fallback), "gpt2" (byte-level BPE; the pre-tokenizer regexes are chosen by
// tokenizer.ggml.pre) and "bert" (WordPiece, lossy: it lowercases and strips
// accents). Output matches llama.cpp token for token on its tokenizer test
// vectors.
//
// Thread safety: a Tokenizer is immutable after from_gguf(); every const
// method may be called from any number of threads at once. It copies what it
// needs, so the GgufFile may be closed afterwards. A StreamDecoder is a small
// per-sequence object, not shared between threads.
//
// Errors: from_gguf() returns a Status for missing or malformed metadata and
// for unsupported models; afterwards nothing fails. Ids outside [0, n_vocab())
// are a caller error: query functions treat them as unknown (false, -1, "").
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf.h"
#include "tern/status.h"
#include "tern/types.h"

namespace tern {

struct Vocab;
class PreTokenizer;
class SpecialSplitter;

class Tokenizer {
 public:
  static Result<std::unique_ptr<Tokenizer>> from_gguf(const GgufFile& f);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // add_special: add BOS in front (and EOS / SEP at the end) when the model asks for
  //   it: tokenizer.ggml.add_bos_token / add_eos_token, else the default of its
  //   tokenizer kind (SentencePiece: BOS; GPT-2 BPE: none except Llama-3-like).
  // parse_special: text of control tokens (e.g. "<|im_start|>") in `text`
  //   becomes that single token. User-defined tokens are always recognised;
  //   with parse_special off, control-token text is tokenized as plain text.
  // Invalid UTF-8 bytes are tokenized as U+FFFD by the GPT-2 tokenizer and as
  // byte tokens by SentencePiece. `text` must be shorter than 4 GiB.
  std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special) const;

  // The bytes one token stands for: byte tokens <0xAB> give that byte, the
  // SentencePiece ▁ gives a space, GPT-2 byte-encoded text is mapped back to
  // bytes. Control and unknown tokens give "" unless render_special, which
  // gives their text. May be an incomplete UTF-8 sequence.
  std::string token_to_piece(TokenId id, bool render_special = false) const;

  // Inverse of encode(text, add_special=false, ...): the pieces concatenated,
  // minus the one leading space SentencePiece vocabularies put in front of
  // the text (only if the first id is that text's first token; a leading BOS
  // keeps the space, as in llama.cpp). No clean-up of spaces before
  // punctuation, so decode(encode(x)) == x for valid UTF-8 x (except with
  // WordPiece, whose normalization loses case, accents and spacing).
  std::string decode(std::span<const TokenId> ids, bool render_special = false) const;

  int32_t n_vocab() const;
  TokenId bos() const;  // -1 if none
  TokenId eos() const;  // -1 if none
  TokenId eot() const;  // end of turn, -1 if none
  bool add_bos() const;
  bool add_eos() const;

  // End of generation: eos, eot, eom and the turn-ending tokens llama.cpp
  // recognises by text (<|im_end|>, <|eot_id|>, <|end|>, <end_of_turn>, ...).
  bool is_eog(TokenId id) const;
  // Control tokens (BOS, EOS, chat markers); these never appear in decoded
  // text unless rendered explicitly.
  bool is_control(TokenId id) const;

  std::optional<TokenId> find_token(std::string_view text) const;  // exact stored text
  std::string_view token_text(TokenId id) const;                    // stored text ("▁the", "Ġthe")

  // True for SentencePiece vocabularies whose decode() drops one leading space.
  bool strips_leading_space() const;

 private:
  Tokenizer();
  std::unique_ptr<Vocab> vocab_;
  std::unique_ptr<PreTokenizer> pre_;        // GPT-2 BPE only
  std::unique_ptr<SpecialSplitter> splitter_;
  std::vector<std::string> pieces_;          // token_to_piece(id, true) for every id
};

// StreamDecoder turns generated ids into text chunks as they arrive. It holds
// back the bytes of a UTF-8 sequence split across tokens, so every chunk is
// valid UTF-8; bytes that can never become valid are replaced by U+FFFD.
//
// With at_text_start, the first id is treated as the start of the text, as
// decode() does (SentencePiece's leading space is dropped): then, for ids whose
// bytes form valid UTF-8, the concatenated chunks equal decode(ids). Leave it
// false when streaming a continuation of a prompt: pieces are kept verbatim.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool at_text_start = false, bool render_special = false);

  std::string push(TokenId id);  // text now complete; may be empty
  std::string flush();           // whatever is held back (as U+FFFD), then reset

 private:
  const Tokenizer& tok_;
  bool strip_next_space_;
  bool render_special_;
  std::string pending_;  // bytes of an incomplete UTF-8 sequence
};

}  // namespace tern
