// UTF-8 helpers and the GPT-2 byte <-> unicode mapping used by the tokenizer.
//
// All functions are pure and thread-safe. "Valid" means well-formed UTF-8 as
// in RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tern::utf8 {

// Length of a sequence judged by its first byte alone (1 for ASCII and for
// stray continuation bytes, 2..4 for lead bytes). SentencePiece splits text
// into characters this way, without validating the continuation bytes.
inline size_t len_from_lead(uint8_t b) {
  static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[b >> 4];
}

// Length of the well-formed sequence starting at s[0], or 0 when s does not
// start with one (invalid or truncated).
size_t valid_len(std::string_view s);

// Copy of `s` in which every byte that does not belong to a well-formed
// sequence is replaced by U+FFFD (the output is then valid UTF-8).
std::string sanitize(std::string_view s);

// Number of bytes at the end of `s` that form the beginning of a well-formed
// sequence still missing bytes (0..3). Streaming holds these back.
size_t incomplete_tail(std::string_view s);

void append_codepoint(std::string& out, uint32_t cp);

// Decodes one codepoint from a well-formed sequence at s[0]; advances `len`.
uint32_t decode(std::string_view s, size_t& len);

// GPT-2 byte-level BPE represents each byte 0..255 as one printable codepoint:
// printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100 up.
// byte_to_unicode(b) is that codepoint as UTF-8; unicode_to_byte returns the
// byte for a codepoint, or -1 when the codepoint is not one of the 256.
const std::string& byte_to_unicode(uint8_t b);
int unicode_to_byte(uint32_t cp);

}  // namespace tern::utf8
