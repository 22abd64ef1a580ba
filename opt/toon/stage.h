// toon/stage.h — the TOON pipeline stage: rewrites JSON found in chat
// messages (tool results above all) into TOON when, and only when, that
// saves tokens under the target model's tokenizer.
//
//   tern::toon::StageStats stats;
//   tern::toon::rewrite_messages(messages, count_tokens, {}, &stats);   // in place
//
// What counts as JSON in a message's text (a string content or the text
// parts of an array content):
//  * the whole text, when it parses as a JSON object or array;
//  * a fenced block tagged json (```json ... ```), which becomes ```toon;
//  * an object or array that fills whole lines of prose (starts a line with
//    `{`/`[` and its closing bracket ends a line).
// Each candidate is replaced by maybe_encode() (TOON, or minified JSON when
// TOON is not smaller) only if that has strictly fewer tokens than the
// original text, and only after decoding the TOON back gives the same JSON
// value (lossless by construction; a candidate that fails the check stays).
// JSON scalars and candidates shorter than min_bytes are left alone.
//
// Thread safety: pure functions (the counter must be callable concurrently
// if the caller shares it). Errors: rewrite_messages() fails only on a
// malformed messages array (InvalidArgument); text that is not JSON is simply
// not rewritten.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "toon/toon.h"

namespace tern::toon {

struct StageOptions {
  std::vector<std::string> roles = {"tool", "user", "function"};  // messages whose text is rewritten
  size_t min_bytes = 32;   // smaller JSON candidates are left as they are
  EncodeOptions encode;    // TOON layout
};

struct StageStats {
  int32_t candidates = 0;       // JSON values found
  int32_t rewritten = 0;        // replaced (TOON or minified JSON)
  int32_t as_toon = 0;          // of which TOON
  int64_t tokens_before = 0;    // tokens of the rewritten candidates before
  int64_t tokens_after = 0;     // and after
  // The text of every replacement (TOON or minified JSON), in order. A later
  // compression stage protects them whole (CompressOptions::protect.force):
  // TOON is not JSON to the span detector, and words dropped from it would
  // change the data.
  std::vector<std::string> replacements;
};

// Rewrites the JSON in one text; returns the new text (== text when nothing
// is worth rewriting).
std::string rewrite_text(std::string_view text, const TokenCounter& count_tokens, const StageOptions& options = {},
                         StageStats* stats = nullptr);

// Rewrites, in place, the messages of an OpenAI `messages` array whose role
// is in options.roles.
Status rewrite_messages(Json& messages, const TokenCounter& count_tokens, const StageOptions& options = {},
                        StageStats* stats = nullptr);

}  // namespace tern::toon
