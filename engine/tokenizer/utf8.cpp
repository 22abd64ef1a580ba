#include "tokenizer/utf8.h"

#include <array>

namespace tern::utf8 {

std::string sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    // Fast path over ASCII runs.
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      size_t j = i;
      while (j < s.size() && static_cast<uint8_t>(s[j]) < 0x80) ++j;
      out.append(s.data() + i, j - i);
      i = j;
      continue;
    }
    const size_t n = valid_len(s.substr(i));
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.data() + i, n);
      i += n;
    }
  }
  return out;
}

namespace {

// Sequence length promised by a lead byte under RFC 3629, with the allowed
// range of the second byte; 0 for bytes that cannot start a sequence.
size_t strict_lead(uint8_t b0, uint8_t& lo, uint8_t& hi) {
  lo = 0x80;
  hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) return 2;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
    return 4;
  }
  return 0;
}

// True when s[0..min(n, s.size())) is a well-formed start of an n-byte sequence.
bool valid_prefix(std::string_view s, size_t n, uint8_t lo, uint8_t hi) {
  if (s.size() >= 2) {
    const auto b1 = static_cast<uint8_t>(s[1]);
    if (b1 < lo || b1 > hi) return false;
  }
  for (size_t i = 2; i < s.size() && i < n; ++i) {
    if ((static_cast<uint8_t>(s[i]) & 0xC0) != 0x80) return false;
  }
  return true;
}

}  // namespace

size_t valid_len(std::string_view s) {
  if (s.empty()) return 0;
  const auto b0 = static_cast<uint8_t>(s[0]);
  if (b0 < 0x80) return 1;
  uint8_t lo, hi;
  const size_t n = strict_lead(b0, lo, hi);
  if (n == 0 || s.size() < n) return 0;
  return valid_prefix(s.substr(0, n), n, lo, hi) ? n : 0;
}

size_t incomplete_tail(std::string_view s) {
  const size_t max_back = s.size() < 3 ? s.size() : 3;
  for (size_t back = 1; back <= max_back; ++back) {
    const auto b = static_cast<uint8_t>(s[s.size() - back]);
    if ((b & 0xC0) == 0x80) continue;  // continuation byte: look further back
    uint8_t lo, hi;
    const size_t need = strict_lead(b, lo, hi);
    if (need <= back) return 0;  // ASCII, invalid lead, or already complete
    return valid_prefix(s.substr(s.size() - back), need, lo, hi) ? back : 0;
  }
  return 0;
}

void append_codepoint(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

uint32_t decode(std::string_view s, size_t& len) {
  const auto b0 = static_cast<uint8_t>(s[0]);
  len = len_from_lead(b0);
  if (len > s.size()) len = s.size();
  if (len == 1) return b0;
  uint32_t cp = b0 & (0x7F >> len);
  for (size_t i = 1; i < len; ++i) cp = (cp << 6) | (static_cast<uint8_t>(s[i]) & 0x3F);
  return cp;
}

namespace {

struct ByteTables {
  std::array<std::string, 256> to_unicode;
  std::array<int16_t, 324> to_byte;  // codepoints used are all below 0x144

  ByteTables() {
    to_byte.fill(-1);
    auto printable = [](int b) {
      return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const uint32_t cp = printable(b) ? static_cast<uint32_t>(b) : static_cast<uint32_t>(next++);
      append_codepoint(to_unicode[b], cp);
      to_byte[cp] = static_cast<int16_t>(b);
    }
  }
};

const ByteTables& tables() {
  static const ByteTables t;
  return t;
}

}  // namespace

const std::string& byte_to_unicode(uint8_t b) { return tables().to_unicode[b]; }

int unicode_to_byte(uint32_t cp) {
  const auto& t = tables().to_byte;
  return cp < t.size() ? t[cp] : -1;
}

}  // namespace tern::utf8
