// TOON decoder (spec §4–§14): TOON text → JSON value.
//
// Two passes. The line pass splits the text into lines, drops CRs and comment
// lines (§5.1), marks blank lines and computes each line's depth (§12). The
// structure pass is a recursive descent over those lines: an object reads the
// lines at its depth, an array header reads its rows or list items one level
// deeper. Every string_view points into the caller's text, so an error's
// column is a pointer difference.
//
// Internally a ParseError is thrown and caught at decode(), which turns it
// into a Status: the descent has ~40 failure points and no cleanup to do.
#include <charconv>
#include <cmath>
#include <optional>
#include <vector>

#include "toon/toon.h"

namespace tern::toon {
namespace {

struct ParseError {
  size_t line, column;
  std::string message;
};

struct Line {
  std::string_view raw;      // the whole line, CR excluded
  std::string_view content;  // after the indentation
  int depth = 0;
  size_t number = 0;         // 1-based
  size_t blank_before = 0;   // number of the last blank line just above, 0 if none
};

// A header's field list entry; non-empty `children` make it a nested group.
struct FieldNode {
  std::string name;
  std::vector<FieldNode> children;
};

struct Header {
  std::optional<std::string> key;  // nullopt: keyless (`[N]:`)
  size_t length = 0;
  bool keyed = false;              // `[N:]`: an object in keyed tabular form
  char delim = ',';
  bool has_fields = false;
  std::vector<FieldNode> fields;
  size_t leaf_count = 0;
  std::string_view rest;           // after the header's colon
};

std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// Position of the first `c` outside double quotes (backslash escapes inside
// quotes skip a character), or npos.
size_t find_unquoted(std::string_view s, char c) {
  bool quoted = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (quoted) {
      if (s[i] == '\\') {
        ++i;
      } else if (s[i] == '"') {
        quoted = false;
      }
    } else if (s[i] == '"') {
      quoted = true;
    } else if (s[i] == c) {
      return i;
    }
  }
  return std::string_view::npos;
}

// §4 number grammar: /^-?[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?$/i without
// forbidden leading zeros ("05", "-007").
bool is_number_token(std::string_view s, bool& integral) {
  size_t i = 0, n = s.size();
  auto digits = [&] {
    size_t start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
    return i - start;
  };
  if (i < n && s[i] == '-') ++i;
  const size_t int_start = i;
  const size_t int_digits = digits();
  if (int_digits == 0) return false;
  if (int_digits > 1 && s[int_start] == '0') return false;
  integral = true;
  if (i < n && s[i] == '.') {
    ++i;
    if (digits() == 0) return false;
    integral = false;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (digits() == 0) return false;
    integral = false;
  }
  return i == n;
}

Json number_value(std::string_view s, bool integral) {
  if (integral) {
    int64_t i = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), i);
    if (r.ec == std::errc() && r.ptr == s.data() + s.size()) return Json(i);
    uint64_t u = 0;
    r = std::from_chars(s.data(), s.data() + s.size(), u);
    if (r.ec == std::errc() && r.ptr == s.data() + s.size()) return Json(u);
  }
  double d = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), d);  // grammar checked: only range errors
  if (r.ec != std::errc()) return Json(std::string(s));  // beyond double: keep the token, lossless
  if (d == 0) return Json(0);  // -0 → 0
  if (std::fabs(d) <= 9007199254740992.0 && d == std::floor(d)) return Json(static_cast<int64_t>(d));
  return Json(d);
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Length of the valid UTF-8 sequence at s[i], or 0 when ill-formed
// (overlong, surrogate, > U+10FFFF, truncated).
size_t utf8_sequence(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (len == 0 || c > 0xF4 || i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k)
    if ((b(k) & 0xC0) != 0x80) return 0;
  if (c == 0xE0 && b(1) < 0xA0) return 0;  // overlong
  if (c == 0xED && b(1) >= 0xA0) return 0;  // surrogates
  if (c == 0xF0 && b(1) < 0x90) return 0;  // overlong
  if (c == 0xF4 && b(1) >= 0x90) return 0;  // > U+10FFFF
  return len;
}

class Parser {
 public:
  Parser(std::string_view text, const DecodeOptions& o)
      : text_(text), indent_(o.indent > 0 ? o.indent : 2), strict_(o.strict) {}

  Json run() {
    if (strict_) check_utf8();
    split_lines();
    if (lines_.empty()) return Json::object();
    const Line& first = lines_[0];
    if (strict_ && first.depth != 0) fail(first, first.content.data(), "unexpected indentation at the start of the document");
    if (first.content == "[]") {
      take();
      expect_end("root []");
      return Json::array();
    }
    std::optional<Header> h = header(first, first.content);
    if (h && !h->key) {  // root array or keyed root object
      take();
      Json v = header_value(first, *h, 0);
      expect_end("root array");
      return v;
    }
    if (lines_.size() == 1 && !h && find_unquoted(first.content, ':') == std::string_view::npos) {
      take();
      return primitive(first, first.content);
    }
    Json obj = Json::object();
    object_body(0, obj);
    return obj;
  }

 private:
  // ---- errors and the line pass ------------------------------------------

  [[noreturn]] void fail(const Line& l, const char* at, const std::string& msg) const {
    throw ParseError{l.number, static_cast<size_t>(at - l.raw.data()) + 1, msg};
  }
  [[noreturn]] void fail_at(size_t line, size_t col, const std::string& msg) const {
    throw ParseError{line, col, msg};
  }

  void check_utf8() const {
    size_t line = 1, line_start = 0;
    for (size_t i = 0; i < text_.size();) {
      const size_t len = utf8_sequence(text_, i);
      if (len == 0) fail_at(line, i - line_start + 1, "invalid UTF-8");
      if (text_[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
      i += len;
    }
  }

  void split_lines() {
    size_t number = 0, blank = 0;
    for (size_t start = 0; start <= text_.size();) {
      size_t end = text_.find('\n', start);
      if (end == std::string_view::npos) end = text_.size();
      std::string_view raw = text_.substr(start, end - start);
      start = end + 1;
      ++number;
      if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
      size_t spaces = 0;
      while (spaces < raw.size() && raw[spaces] == ' ') ++spaces;
      if (spaces < raw.size() && raw[spaces] == '#') continue;  // comment line (§5.1)
      if (raw.find_first_not_of(" \t") == std::string_view::npos) {
        if (end < text_.size() || !raw.empty()) blank = number;
        continue;
      }
      Line l;
      l.raw = raw;
      l.number = number;
      l.blank_before = blank;
      blank = 0;
      size_t width = 0, i = 0;  // indentation width; a tab counts `indent_` (non-strict)
      for (; i < raw.size() && (raw[i] == ' ' || raw[i] == '\t'); ++i) {
        if (raw[i] == '\t') {
          if (strict_) fail(l, raw.data() + i, "tab in indentation");
          width += indent_;
        } else {
          ++width;
        }
      }
      l.content = raw.substr(i);
      if (strict_ && width % indent_ != 0)
        fail(l, l.content.data(), "indentation of " + std::to_string(width) +
                                      " spaces is not a multiple of " + std::to_string(indent_));
      l.depth = static_cast<int>(width / indent_);
      lines_.push_back(l);
    }
  }

  const Line* peek() const { return pos_ < lines_.size() ? &lines_[pos_] : nullptr; }

  // Consumes the next line. Inside an array span (§12) no blank line may
  // precede it in strict mode.
  const Line& take() {
    const Line& l = lines_[pos_++];
    if (strict_ && span_ > 0 && l.blank_before)
      fail_at(l.blank_before, 1, "blank line inside an array");
    return l;
  }

  void expect_end(const char* what) {
    if (const Line* l = peek(); l && strict_)
      fail(*l, l->content.data(), std::string("unexpected content after the ") + what);
  }

  // ---- tokens --------------------------------------------------------------

  // Parses the quoted string starting at s[0] == '"'; returns the index just
  // past the closing quote.
  size_t quoted(const Line& l, std::string_view s, std::string& out) const {
    out.clear();
    for (size_t i = 1; i < s.size(); ++i) {
      const char c = s[i];
      if (c == '"') return i + 1;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i + 1 >= s.size()) break;
      const char e = s[++i];
      switch (e) {
        case '\\': out += '\\'; break;
        case '"': out += '"'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = 0;
          if (s.size() < i + 5) fail(l, s.data() + i - 1, "\\u escape needs four hex digits");
          auto r = std::from_chars(s.data() + i + 1, s.data() + i + 5, cp, 16);
          if (r.ptr != s.data() + i + 5) fail(l, s.data() + i - 1, "\\u escape needs four hex digits");
          if (cp >= 0xD800 && cp <= 0xDFFF) fail(l, s.data() + i - 1, "\\u escape of a lone surrogate");
          append_utf8(out, cp);
          i += 4;
          break;
        }
        default:
          fail(l, s.data() + i - 1, std::string("invalid escape \\") + e);
      }
    }
    fail(l, s.data(), "unterminated string");
  }

  // A value token (already trimmed): quoted string, literal, number or string.
  Json primitive(const Line& l, std::string_view tok) const {
    if (!tok.empty() && tok[0] == '"') {
      std::string s;
      const size_t end = quoted(l, tok, s);
      if (end != tok.size()) fail(l, tok.data() + end, "unexpected characters after a quoted string");
      return Json(std::move(s));
    }
    if (tok == "true") return Json(true);
    if (tok == "false") return Json(false);
    if (tok == "null") return Json(nullptr);
    bool integral = false;
    if (is_number_token(tok, integral)) return number_value(tok, integral);
    return Json(std::string(tok));
  }

  // A key token (the text before a key-value line's colon).
  std::string key(const Line& l, std::string_view tok) const {
    tok = trim_spaces(tok);
    if (tok.empty() || tok[0] != '"') return std::string(tok);
    std::string s;
    const size_t end = quoted(l, tok, s);
    if (end != tok.size()) fail(l, tok.data() + end, "unexpected characters after a quoted key");
    return s;
  }

  // Splits on the active delimiter outside quotes; tokens are space-trimmed.
  static std::vector<std::string_view> split(std::string_view s, char delim) {
    std::vector<std::string_view> out;
    bool quoted = false;
    size_t start = 0;
    for (size_t i = 0; i <= s.size(); ++i) {
      if (i < s.size() && quoted) {
        if (s[i] == '\\') {
          ++i;
        } else if (s[i] == '"') {
          quoted = false;
        }
        continue;
      }
      if (i == s.size() || s[i] == delim) {
        out.push_back(trim_spaces(s.substr(start, std::min(i, s.size()) - start)));
        start = i + 1;
      } else if (s[i] == '"') {
        quoted = true;
      }
    }
    return out;
  }

  // ---- headers (§6) --------------------------------------------------------

  // Throws in strict mode; in non-strict mode the line is read as key: value.
  std::optional<Header> bad_header(const Line& l, const char* at, const std::string& msg) const {
    if (strict_) fail(l, at, msg);
    return std::nullopt;
  }

  // The header on `s` (a line's content, or the rest after "- "), nullopt if
  // `s` is not a header.
  std::optional<Header> header(const Line& l, std::string_view s) const {
    const size_t bracket = find_unquoted(s, '[');
    const size_t colon = find_unquoted(s, ':');
    if (bracket == std::string_view::npos) return std::nullopt;
    if (colon != std::string_view::npos && colon < bracket) return std::nullopt;
    Header h;
    std::string_view k = s.substr(0, bracket);
    if (!k.empty() && k[0] == '"') {
      std::string name;
      if (quoted(l, k, name) != k.size()) return std::nullopt;
      h.key = std::move(name);
    } else if (!k.empty()) {
      if (k.find_first_of(" \t\"") != std::string_view::npos) return std::nullopt;  // `foo [2]: x`
      h.key = std::string(k);
    }
    size_t i = bracket + 1;
    const size_t digits_start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    const size_t ndigits = i - digits_start;
    if (ndigits == 0 || (ndigits > 1 && s[digits_start] == '0'))
      return bad_header(l, s.data() + digits_start, "array length must be a non-negative integer without leading zeros");
    std::from_chars(s.data() + digits_start, s.data() + i, h.length);
    if (i < s.size() && s[i] == ':') {
      h.keyed = true;
      ++i;
    }
    if (i < s.size() && (s[i] == '\t' || s[i] == '|')) h.delim = s[i++];
    if (i >= s.size() || s[i] != ']') return bad_header(l, s.data() + std::min(i, s.size()), "malformed bracket segment");
    ++i;
    if (i < s.size() && s[i] == '{') {
      h.has_fields = true;
      auto fields = field_group(l, s, ++i, h.delim);
      if (!fields) return std::nullopt;
      h.fields = std::move(*fields);
      h.leaf_count = count_leaves(h.fields);
    }
    if (i >= s.size()) return bad_header(l, s.data() + i, "missing ':' after the array header");
    if (s[i] != ':') return bad_header(l, s.data() + i, "unexpected characters after the array header");
    if (h.keyed && !h.has_fields) return bad_header(l, s.data() + i, "a keyed header [N:] needs a {fields} segment");
    h.rest = s.substr(i + 1);
    if (h.has_fields && !trim_spaces(h.rest).empty())
      return bad_header(l, h.rest.data(), "no values may follow a tabular header's ':'");
    return h;
  }

  std::optional<std::vector<FieldNode>> bad_group(const Line& l, const char* at, const std::string& msg) const {
    bad_header(l, at, msg);
    return std::nullopt;
  }

  static size_t count_leaves(const std::vector<FieldNode>& fields) {
    size_t n = 0;
    for (const auto& f : fields) n += f.children.empty() ? 1 : count_leaves(f.children);
    return n;
  }

  // `{a,b{c,d}}` from just after the '{' to just after the matching '}'.
  std::optional<std::vector<FieldNode>> field_group(const Line& l, std::string_view s, size_t& i,
                                                   char delim) const {
    std::vector<FieldNode> out;
    auto skip_spaces = [&] {
      while (i < s.size() && s[i] == ' ') ++i;
    };
    for (;;) {
      skip_spaces();
      const char* at = s.data() + i;
      FieldNode f;
      if (i < s.size() && s[i] == '"') {
        i += quoted(l, s.substr(i), f.name);
      } else {
        const size_t start = i;
        while (i < s.size() && s[i] != delim && s[i] != '{' && s[i] != '}') ++i;
        std::string_view name = trim_spaces(s.substr(start, i - start));
        if (name.empty())
          return bad_group(l, at, i >= s.size() ? "unmatched '{' in the fields segment"
                                                 : "empty field name in the fields segment");
        if (name.find_first_of(",|\t") != std::string_view::npos)
          return bad_group(l, at, "the fields segment's delimiter differs from the bracket's");
        f.name = std::string(name);
      }
      skip_spaces();
      if (i < s.size() && s[i] == '{') {
        ++i;
        auto children = field_group(l, s, i, delim);
        if (!children) return std::nullopt;
        f.children = std::move(*children);
        skip_spaces();
      }
      for (const auto& g : out)
        if (strict_ && g.name == f.name) fail(l, at, "duplicate field name '" + f.name + "'");
      out.push_back(std::move(f));
      if (i >= s.size()) return bad_group(l, s.data() + i, "unmatched '{' in the fields segment");
      if (s[i] == '}') {
        ++i;
        return out;
      }
      if (s[i] != delim) return bad_group(l, s.data() + i, "unexpected character in the fields segment");
      ++i;
    }
  }

  // ---- structure -----------------------------------------------------------

  void set(const Line& l, const char* at, Json& obj, std::string k, Json v) const {
    if (strict_ && obj.contains(k)) fail(l, at, "duplicate key '" + k + "'");
    obj[std::move(k)] = std::move(v);  // non-strict: last write wins
  }

  // The fields of an object whose lines stand at `depth`.
  void object_body(int depth, Json& obj) {
    while (const Line* l = peek()) {
      if (l->depth < depth) return;
      if (l->depth > depth) {
        if (strict_) fail(*l, l->content.data(), "unexpected indentation");
        take();  // non-strict: a line that belongs to no scope is skipped
        continue;
      }
      const Line& line = take();
      field(line, line.content, depth, obj);
    }
  }

  // One field `s` of an object (a whole line, or the rest after "- ");
  // the field stands at `depth`, its nested content at depth + 1.
  void field(const Line& l, std::string_view s, int depth, Json& obj) {
    if (std::optional<Header> h = header(l, s)) {
      if (h->key) {
        Json v = header_value(l, *h, depth);
        set(l, s.data(), obj, std::move(*h->key), std::move(v));
        return;
      }
      if (strict_) fail(l, s.data(), "an array header needs a key here ([N]: is only valid at the root or after '- ')");
    }
    const size_t colon = find_unquoted(s, ':');
    if (colon == std::string_view::npos) {
      if (strict_) fail(l, s.data() + s.size(), "missing ':' after key");
      return;
    }
    std::string k = key(l, s.substr(0, colon));
    std::string_view rest = trim_spaces(s.substr(colon + 1));
    if (!rest.empty()) {
      set(l, s.data(), obj, std::move(k), rest == "[]" ? Json::array() : primitive(l, rest));
      return;
    }
    Json child = Json::object();
    if (const Line* next = peek(); next && next->depth > depth) {
      if (strict_ && next->depth != depth + 1)
        fail(*next, next->content.data(), "indentation jumps more than one level");
      object_body(next->depth, child);
    }
    set(l, s.data(), obj, std::move(k), std::move(child));
  }

  // The value of a header standing at `depth` (its rows/items at depth + 1).
  Json header_value(const Line& l, const Header& h, int depth) {
    if (h.keyed) return keyed_rows(l, h, depth + 1);
    if (h.has_fields) return table_rows(l, h, depth + 1);
    std::string_view rest = trim_spaces(h.rest);
    if (rest.empty()) return list_items(l, h, depth + 1);
    Json arr = Json::array();
    for (std::string_view tok : split(rest, h.delim)) arr.push_back(primitive(l, tok));
    check_count(l, h, arr.size(), "values");
    return arr;
  }

  void check_count(const Line& l, const Header& h, size_t n, const char* what) const {
    if (strict_ && n != h.length)
      fail(l, l.content.data(), "declared " + std::to_string(h.length) + " " + what + ", found " + std::to_string(n));
  }

  // Cells → an object, walking the field tree depth-first.
  void fill(const Line& l, const std::vector<FieldNode>& fields, const std::vector<std::string_view>& cells,
            size_t& next, Json& obj) const {
    for (const FieldNode& f : fields) {
      if (!f.children.empty()) {
        Json sub = Json::object();
        fill(l, f.children, cells, next, sub);
        obj[f.name] = std::move(sub);
      } else if (next < cells.size()) {
        obj[f.name] = primitive(l, cells[next++]);
      }
    }
  }

  Json row_object(const Line& l, const Header& h, std::string_view cells_text, const char* at) const {
    std::vector<std::string_view> cells;
    if (!trim_spaces(cells_text).empty()) cells = split(cells_text, h.delim);
    if (strict_ && cells.size() != h.leaf_count)
      fail(l, at, "row has " + std::to_string(cells.size()) + " values, the header declares " +
                      std::to_string(h.leaf_count) + " fields");
    Json obj = Json::object();
    size_t next = 0;
    fill(l, h.fields, cells, next, obj);
    return obj;
  }

  // Rows of a tabular array (§9.3) at `depth`.
  Json table_rows(const Line& hl, const Header& h, int depth) {
    Json arr = Json::array();
    const int span = span_;
    while (const Line* l = peek()) {
      if (l->depth != depth) break;  // shallower: done; deeper: the parent reports it
      const size_t colon = find_unquoted(l->content, ':');
      const size_t delim = find_unquoted(l->content, h.delim);
      if (colon != std::string_view::npos && (delim == std::string_view::npos || colon < delim)) break;
      const Line& row = take();
      span_ = span + 1;
      arr.push_back(row_object(row, h, row.content, row.content.data()));
    }
    span_ = span;
    check_count(hl, h, arr.size(), "rows");
    return arr;
  }

  // Entry rows `key: cells` of a keyed table (§9.5) at `depth`.
  Json keyed_rows(const Line& hl, const Header& h, int depth) {
    Json obj = Json::object();
    const int span = span_;
    size_t rows = 0;
    while (const Line* l = peek()) {
      if (l->depth != depth) break;
      const size_t colon = find_unquoted(l->content, ':');
      const Line& row = take();
      span_ = span + 1;
      if (colon == std::string_view::npos) {
        if (strict_) fail(row, row.content.data(), "entry row needs 'key: values'");
        continue;
      }
      ++rows;
      std::string k = key(row, row.content.substr(0, colon));
      std::string_view cells = row.content.substr(colon + 1);
      set(row, row.content.data(), obj, std::move(k), row_object(row, h, cells, cells.data()));
    }
    span_ = span;
    check_count(hl, h, rows, "entries");
    return obj;
  }

  // Items `- ...` of an expanded array (§9.4) at `depth`.
  Json list_items(const Line& hl, const Header& h, int depth) {
    Json arr = Json::array();
    const int span = span_;
    while (const Line* l = peek()) {
      if (l->depth != depth) break;
      const std::string_view c = l->content;
      if (c != "-" && c.substr(0, 2) != "- ") {
        if (strict_) fail(*l, c.data(), "expected a list item '- '");
        break;
      }
      const Line& item = take();
      span_ = span + 1;
      arr.push_back(list_item(item, depth));
    }
    span_ = span;
    check_count(hl, h, arr.size(), "list items");
    return arr;
  }

  Json list_item(const Line& l, int depth) {
    if (l.content == "-") return Json::object();
    std::string_view s = trim_spaces(l.content.substr(2));
    if (s.empty()) return Json::object();  // "- " with trailing spaces, as a bare "-"
    if (s == "[]") return Json::array();
    if (std::optional<Header> h = header(l, s)) {
      if (!h->key) {
        if (strict_ && (h->keyed || h->has_fields))
          fail(l, s.data(), "a keyless tabular header is only valid at the document root");
        if (!h->keyed && !h->has_fields) return header_value(l, *h, depth);  // inner array
      }
    }
    if (find_unquoted(s, ':') == std::string_view::npos) return primitive(l, s);
    // An object whose first field is on the hyphen line; its fields stand at depth + 1.
    Json obj = Json::object();
    field(l, s, depth + 1, obj);
    object_body(depth + 1, obj);
    return obj;
  }

  std::string_view text_;
  int indent_;
  bool strict_;
  std::vector<Line> lines_;
  size_t pos_ = 0;
  int span_ = 0;  // > 0 while inside an array span whose first item was read
};

}  // namespace

Result<Json> decode(std::string_view text, const DecodeOptions& options) {
  try {
    return Parser(text, options).run();
  } catch (const ParseError& e) {
    return InvalidArgument(std::to_string(e.line) + ":" + std::to_string(e.column) + ": " + e.message);
  }
}

}  // namespace tern::toon
