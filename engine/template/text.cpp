#include "template/text.h"

#include <cctype>

namespace tern::tpl::text {

std::vector<size_t> code_point_starts(std::string_view s) {
  std::vector<size_t> starts;
  starts.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) starts.push_back(i);
  starts.push_back(s.size());
  return starts;
}

int64_t code_point_count(std::string_view s) {
  int64_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

bool is_py_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == '\x1c' || c == '\x1d' ||
         c == '\x1e' || c == '\x1f';
}

std::string strip(std::string_view s, std::string_view chars, bool left, bool right) {
  auto drop = [&](char c) { return chars.empty() ? is_py_space(c) : chars.find(c) != std::string_view::npos; };
  size_t b = 0, e = s.size();
  if (left)
    while (b < e && drop(s[b])) ++b;
  if (right)
    while (e > b && drop(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

namespace {

// Decodes the code point at s[i] and its byte length; an invalid byte is
// passed through as itself (length 1).
uint32_t decode(std::string_view s, size_t i, size_t* len) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) {
    *len = 1;
    return c;
  }
  uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < n; ++k) {
    unsigned char d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) {
      *len = 1;
      return c;
    }
    cp = (cp << 6) | (d & 0x3F);
  }
  *len = n;
  return cp;
}


// Case mapping for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic;
// other scripts are left unchanged.
uint32_t to_upper(uint32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if ((c >= 0xE0 && c <= 0xFE && c != 0xF7)) return c - 32;
  if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F) {
    bool odd_is_lower = !((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E));
    if ((c % 2 == 1) == odd_is_lower) return c - 1;
    return c;
  }
  if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 32;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  return c;
}

uint32_t to_lower(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if ((c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 32;
  if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F) {
    bool odd_is_lower = !((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E));
    if ((c % 2 == 1) != odd_is_lower) return c + 1;
    return c;
  }
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}

bool is_cased(uint32_t c) { return to_upper(c) != c || to_lower(c) != c; }

// Rewrites each code point with fn(cp, previous cp or 0).
template <typename Fn>
std::string map_code_points(std::string_view s, Fn fn) {
  std::string out;
  out.reserve(s.size());
  uint32_t prev = 0;
  for (size_t i = 0; i < s.size();) {
    size_t len = 1;
    uint32_t cp = decode(s, i, &len);
    if (len == 1 && static_cast<unsigned char>(s[i]) >= 0x80) {
      out += s[i];  // invalid byte: keep as is
    } else {
      append_utf8(out, fn(cp, prev));
    }
    prev = cp;
    i += len;
  }
  return out;
}

}  // namespace

std::string upper(std::string_view s) {
  return map_code_points(s, [](uint32_t c, uint32_t) { return to_upper(c); });
}

std::string lower(std::string_view s) {
  return map_code_points(s, [](uint32_t c, uint32_t) { return to_lower(c); });
}

std::string capitalize(std::string_view s) {
  bool first = true;
  return map_code_points(s, [&](uint32_t c, uint32_t) {
    uint32_t r = first ? to_upper(c) : to_lower(c);
    first = false;
    return r;
  });
}

std::string py_title(std::string_view s) {
  return map_code_points(s, [](uint32_t c, uint32_t prev) {
    return is_cased(prev) ? to_lower(c) : to_upper(c);
  });
}

std::string jinja_title(std::string_view s) {
  return map_code_points(s, [](uint32_t c, uint32_t prev) {
    bool word_start = prev == 0 || (prev < 0x80 && (is_py_space(static_cast<char>(prev)) || prev == '-' ||
                                                    prev == '(' || prev == '{' || prev == '[' || prev == '<'));
    return word_start ? to_upper(c) : to_lower(c);
  });
}

std::string replace(std::string_view s, std::string_view from, std::string_view to, int64_t count) {
  std::string out;
  if (from.empty()) {  // Python inserts `to` before every code point and at the end
    std::vector<size_t> starts = code_point_starts(s);
    int64_t done = 0;
    for (size_t i = 0; i + 1 < starts.size(); ++i) {
      if (count < 0 || done < count) {
        out += to;
        ++done;
      }
      out += s.substr(starts[i], starts[i + 1] - starts[i]);
    }
    if (count < 0 || done < count) out += to;
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  for (;;) {
    size_t hit = (count >= 0 && done >= count) ? std::string_view::npos : s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out += s.substr(pos, hit - pos);
    out += to;
    pos = hit + from.size();
    ++done;
  }
  out += s.substr(pos);
  return out;
}

std::vector<std::string> split(std::string_view s, std::string_view sep, bool whitespace, int64_t maxsplit) {
  std::vector<std::string> parts;
  if (whitespace) {
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && is_py_space(s[i])) ++i;
      if (i >= s.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) {
        parts.push_back(strip(s.substr(i), "", false, true));
        return parts;
      }
      size_t j = i;
      while (j < s.size() && !is_py_space(s[j])) ++j;
      parts.emplace_back(s.substr(i, j - i));
      i = j;
    }
    return parts;
  }
  size_t pos = 0;
  for (;;) {
    size_t hit = (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) ? std::string_view::npos
                                                                                     : s.find(sep, pos);
    if (hit == std::string_view::npos) break;
    parts.emplace_back(s.substr(pos, hit - pos));
    pos = hit + sep.size();
  }
  parts.emplace_back(s.substr(pos));
  return parts;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace tern::tpl::text
