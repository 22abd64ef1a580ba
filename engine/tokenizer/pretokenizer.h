// PreTokenizer: splits text into the words that byte-level BPE merges within,
// using the regex sequence selected by tokenizer.ggml.pre.
//
// Each regex of the sequence splits every piece produced by the previous one;
// both the matches and the text between them become pieces (HuggingFace's
// Split pre-tokenizer with "isolated" behaviour, as llama.cpp applies it). A
// regex sees one piece at a time: lookarounds and `$` stop at its edges.
//
// Regexes are PCRE2 with UTF + UCP (Unicode properties for \s, \p{L}, ...),
// compiled and JIT-compiled once per PreTokenizer. split() is const and
// thread-safe; per-thread match state is kept in thread-local storage.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tern/status.h"

namespace tern {

class PreTokenizer {
 public:
  // Unimplemented for a `pre` name tern does not know; Internal if a regex
  // fails to compile (a bug in the table).
  static Result<std::unique_ptr<PreTokenizer>> create(std::string_view pre);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // `text` must be valid UTF-8 (see utf8::sanitize). Appends views into `text`
  // that cover it exactly, in order.
  void split(std::string_view text, std::vector<std::string_view>& out) const;

 private:
  struct Regex;
  PreTokenizer() = default;
  std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace tern
