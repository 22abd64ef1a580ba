// toon/toon.h — TOON (Token-Oriented Object Notation) encoder and decoder.
//
// TOON carries the JSON data model in fewer tokens: objects use indentation
// instead of braces, arrays declare their length, and uniform arrays of
// objects become tables whose field names appear once. This implementation
// targets the TOON specification v4.0 draft (`toon-spec: 4.0`,
// ../shared/toon/SPEC.md) and passes its conformance fixtures.
//
//   using tern::toon::Json;
//   Json data = Json::parse(R"({"users":[{"id":1,"name":"Ada"},{"id":2,"name":"Bob"}]})");
//   std::string text = tern::toon::encode(data);
//   // users[2]{id,name}:
//   //   1,Ada
//   //   2,Bob
//   tern::Result<Json> back = tern::toon::decode(text);   // back.value() == data
//
// Thread safety: every function is pure (no shared state); call from any thread.
// Errors: encode() cannot fail. decode() returns kInvalidArgument for input
// that is not TOON (or, in strict mode, violates a strict-mode rule of §14);
// the message starts with "LINE:COLUMN: " (1-based, the column counted in
// bytes) and is one line.
//
// Numbers (spec §2, §4): the numeric domain is nlohmann's: int64, uint64 and
// IEEE double. The encoder writes integers exactly and doubles in the shortest
// form that round-trips, in plain decimal for 1e-6 <= |x| < 1e21 and as
// `1.5e+300` / `1e-7` outside that range; -0 becomes 0 and NaN/Inf become
// null. The decoder returns int64 (or uint64) for integer tokens that fit,
// an integral double of magnitude <= 2^53 as int64, and anything else as the
// nearest double (large integers beyond uint64 lose precision).
//
// Key order: objects keep their order, except that rows of a tabular array and
// entries of a keyed table decode in the header's field order (the first
// element's order), as the specification's equality rule allows.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "tern/status.h"

namespace tern::toon {

// Key order matters in TOON, so the JSON type is the insertion-ordered one.
using Json = nlohmann::ordered_json;

struct EncodeOptions {
  int indent = 2;          // spaces per level (indentSize), >= 1
  char delimiter = ',';    // document delimiter: ',', '\t' or '|'
};

struct DecodeOptions {
  int indent = 2;          // spaces per level (indentSize), >= 1
  // Strict mode (spec §14): declared lengths and row widths must match,
  // indentation must be exact multiples without tabs, no blank lines inside
  // arrays, no duplicate keys, no malformed headers, UTF-8 must be valid.
  // Non-strict mode tolerates these (duplicate keys: last write wins; tabs in
  // indentation count as `indent` spaces; depth = floor(spaces / indent)).
  bool strict = true;
};

// JSON → TOON. The output has LF line endings and no trailing newline; an
// empty root object encodes to the empty string.
std::string encode(const Json& value, const EncodeOptions& options = {});

// TOON → JSON. `text` may use LF or CRLF line endings.
Result<Json> decode(std::string_view text, const DecodeOptions& options = {});

// Counts the tokens of a text under some tokenizer (e.g. the target model's).
using TokenCounter = std::function<size_t(std::string_view)>;

// The rule of issue #9, "never more tokens than minified JSON": returns the
// TOON encoding of `value` only when it has strictly fewer tokens than the
// minified JSON (`value.dump()`) under `count_tokens`; otherwise (ties
// included) the minified JSON itself. Both carry the same data; `is_toon`
// says which one was chosen. Costs two encodings and two token counts.
struct MaybeEncoded {
  std::string text;
  bool is_toon = false;
  size_t tokens = 0;       // tokens of `text`
  size_t json_tokens = 0;  // tokens of the minified JSON
};
MaybeEncoded maybe_encode_detailed(const Json& value, const TokenCounter& count_tokens,
                                   const EncodeOptions& options = {});
inline std::string maybe_encode(const Json& value, const TokenCounter& count_tokens,
                                const EncodeOptions& options = {}) {
  return maybe_encode_detailed(value, count_tokens, options).text;
}

// One past the end of the bracketed JSON candidate ({...} or [...]) that
// starts at t[begin], scanning no further than t[end - 1]: brackets are
// matched outside strings (escapes skipped), so the extent is found without
// parsing. npos when the brackets do not close before `end` or mismatch.
// `scanned` (optional) receives how many bytes were looked at.
size_t json_bracket_end(std::string_view t, size_t begin, size_t end, size_t* scanned = nullptr);

}  // namespace tern::toon
