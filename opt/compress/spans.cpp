#include "compress/spans.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "toon/toon.h"

namespace tern::compress {

const char* span_kind_name(SpanKind kind) {
  switch (kind) {
    case SpanKind::kCode: return "code";
    case SpanKind::kJson: return "json";
    case SpanKind::kUrl: return "url";
    case SpanKind::kQuoted: return "quoted";
    case SpanKind::kNumber: return "number";
    case SpanKind::kIdentifier: return "identifier";
    case SpanKind::kForced: return "forced";
  }
  return "?";
}

namespace {

constexpr size_t kMaxQuoted = 300;        // longer "quotes" are prose, not a literal
constexpr size_t kMaxJson = 1 << 20;      // bytes scanned for a closing bracket

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_alpha(char c) { return is_upper(c) || is_lower(c); }
// Letters, digits, '_' and every non-ASCII byte (UTF-8 letters).
bool is_word(char c) { return is_alpha(c) || is_digit(c) || c == '_' || static_cast<unsigned char>(c) >= 0x80; }

bool starts_with(std::string_view s, size_t at, std::string_view p) { return s.substr(at, p.size()) == p; }

size_t line_end(std::string_view t, size_t i) {
  const size_t e = t.find('\n', i);
  return e == std::string_view::npos ? t.size() : e;
}

// Fenced blocks: a line whose first non-blank characters are ``` or ~~~, up
// to the line that closes it (or the end of the text); then `inline` code.
void find_code(std::string_view t, std::vector<Span>& out) {
  size_t i = 0;
  std::vector<Span> fences;
  while (i < t.size()) {
    size_t j = i;
    while (j < t.size() && (t[j] == ' ' || t[j] == '\t')) ++j;
    const size_t eol = line_end(t, i);
    if (starts_with(t, j, "```") || starts_with(t, j, "~~~")) {
      const std::string_view fence = t.substr(j, 3);
      size_t k = eol < t.size() ? eol + 1 : eol, close = t.size();
      while (k < t.size()) {
        size_t m = k;
        while (m < t.size() && (t[m] == ' ' || t[m] == '\t')) ++m;
        const size_t e = line_end(t, k);
        if (starts_with(t, m, fence)) {
          close = e;
          break;
        }
        k = e < t.size() ? e + 1 : e;
      }
      fences.push_back({i, close, SpanKind::kCode});
      i = close < t.size() ? close + 1 : close;
      continue;
    }
    i = eol < t.size() ? eol + 1 : eol;
  }
  size_t f = 0;
  for (size_t k = 0; k < t.size(); ++k) {
    while (f < fences.size() && fences[f].end <= k) ++f;
    if (f < fences.size() && k >= fences[f].begin) {
      k = fences[f].end;
      continue;
    }
    if (t[k] != '`') continue;
    const size_t close = t.find('`', k + 1);
    if (close == std::string_view::npos || close == k + 1) continue;
    if (t.substr(k, close - k).find('\n') != std::string_view::npos) continue;
    out.push_back({k, close + 1, SpanKind::kCode});
    k = close;
  }
  out.insert(out.end(), fences.begin(), fences.end());
}

// The end of a bracketed JSON candidate starting at `i`, or npos. `work`
// counts the bytes scanned; callers stop when it runs out, which keeps
// adversarial input (thousands of unclosed brackets) linear.
size_t match_bracket(std::string_view t, size_t i, size_t& work) {
  const size_t limit = std::min({t.size(), i + kMaxJson, i + work});
  size_t scanned = 0;
  const size_t end = toon::json_bracket_end(t, i, limit, &scanned);
  work -= scanned;
  return end;
}

void find_json(std::string_view t, std::vector<Span>& out) {
  size_t work = 8 * t.size() + 65536;  // bytes all candidates together may scan (and parse)
  for (size_t i = 0; i < t.size() && work > 0; ++i) {
    if (t[i] != '{' && t[i] != '[') continue;
    const size_t end = match_bracket(t, i, work);
    if (end == std::string_view::npos) continue;
    const std::string_view cand = t.substr(i, end - i);
    // "[1]" and "{x}" are prose more often than data; demand some structure.
    if (cand.find_first_of(":,\"") == std::string_view::npos) continue;
    work -= std::min(work, cand.size());
    if (!nlohmann::json::accept(cand)) continue;
    out.push_back({i, end, SpanKind::kJson});
    i = end - 1;
  }
}

// Trailing sentence punctuation is not part of an address.
size_t trim_url_end(std::string_view t, size_t b, size_t e) {
  while (e > b) {
    const char c = t[e - 1];
    if (c == '.' || c == ',' || c == ';' || c == ':' || c == '!' || c == '?' || c == '\'' || c == '"') {
      --e;
    } else if (c == ')' || c == ']') {
      const char open = c == ')' ? '(' : '[';
      const std::string_view u = t.substr(b, e - b);
      if (std::count(u.begin(), u.end(), open) >= std::count(u.begin(), u.end(), c)) break;
      --e;
    } else {
      break;
    }
  }
  return e;
}

bool url_char(char c) { return !is_space(c) && c != '<' && c != '>' && c != '"' && c != '`'; }

void find_urls(std::string_view t, std::vector<Span>& out) {
  for (size_t i = 0; i < t.size(); ++i) {
    if (i > 0 && is_word(t[i - 1])) continue;
    if (!(starts_with(t, i, "http://") || starts_with(t, i, "https://") || starts_with(t, i, "ftp://") ||
          starts_with(t, i, "www.")))
      continue;
    size_t e = i;
    while (e < t.size() && url_char(t[e])) ++e;
    e = trim_url_end(t, i, e);
    out.push_back({i, e, SpanKind::kUrl});
    i = e;
  }
  // E-mail: word chars and .+-% before '@', a dotted domain after it.
  for (size_t at = t.find('@'); at != std::string_view::npos; at = t.find('@', at + 1)) {
    size_t b = at;
    while (b > 0 && (is_word(t[b - 1]) || t[b - 1] == '.' || t[b - 1] == '+' || t[b - 1] == '-' || t[b - 1] == '%')) --b;
    size_t e = at + 1;
    bool dot = false;
    while (e < t.size() && (is_word(t[e]) || t[e] == '.' || t[e] == '-')) dot |= t[e++] == '.';
    e = trim_url_end(t, at, e);
    if (b == at || e <= at + 1 || !dot || t.substr(at + 1, e - at - 1).find('.') == std::string_view::npos) continue;
    out.push_back({b, e, SpanKind::kUrl});
  }
}

// A quote opens after a non-word byte and closes before one (so "don't" and
// "Lily's" are not quotes), on the same paragraph, within kMaxQuoted bytes.
void find_quoted(std::string_view t, std::vector<Span>& out) {
  static constexpr std::string_view kLeft = "\xE2\x80\x9C", kRight = "\xE2\x80\x9D";
  for (size_t i = 0; i < t.size(); ++i) {
    std::string_view close;
    size_t open_len = 1;
    if (t[i] == '"') close = "\"";
    else if (t[i] == '\'') close = "'";
    else if (starts_with(t, i, kLeft)) close = kRight, open_len = kLeft.size();
    else continue;
    if (i > 0 && is_word(t[i - 1])) continue;
    const size_t limit = std::min(t.size(), i + kMaxQuoted);
    size_t k = i + open_len;
    size_t found = std::string_view::npos;
    for (; k < limit; ++k) {
      if (t[k] == '\\' && close == "\"") {
        ++k;
        continue;
      }
      if (t[k] == '\n' && k + 1 < t.size() && t[k + 1] == '\n') break;  // paragraph end
      if (starts_with(t, k, close)) {
        const size_t after = k + close.size();
        if (close == "'" && after < t.size() && is_word(t[after])) continue;  // an apostrophe inside
        found = after;
        break;
      }
    }
    if (found == std::string_view::npos || found == i + open_len + close.size()) continue;
    out.push_back({i, found, SpanKind::kQuoted});
    i = found - 1;
  }
}

// Words (runs of non-space bytes) with their leading and trailing
// punctuation stripped: the cores numbers and identifiers are judged on.
void find_words(std::string_view t, const SpanOptions& o, std::vector<Span>& out) {
  auto lead_punct = [](char c) { return c == '(' || c == '[' || c == '{' || c == '<' || c == '"' || c == '\'' || c == '*'; };
  auto trail_punct = [](char c) {
    return c == '.' || c == ',' || c == ';' || c == ':' || c == '!' || c == '?' || c == ')' || c == ']' || c == '}' ||
           c == '>' || c == '"' || c == '\'' || c == '*';
  };
  size_t i = 0;
  while (i < t.size()) {
    while (i < t.size() && is_space(t[i])) ++i;
    size_t e = i;
    while (e < t.size() && !is_space(t[e])) ++e;
    size_t b = i, c = e;
    i = e;
    while (b < c && lead_punct(t[b])) ++b;
    while (c > b && trail_punct(t[c - 1])) --c;
    // A call keeps its parentheses: f(), obj.method(x).
    if (c < e && t[c] == ')' && t.substr(b, c - b).find('(') != std::string_view::npos) ++c;
    if (c <= b) continue;
    const std::string_view w = t.substr(b, c - b);
    bool digit = false, under = false, camel = false, inner_dot = false, slash = false, colons = false, call = false;
    int upper = 0, alpha = 0;
    for (size_t k = 0; k < w.size(); ++k) {
      const char ch = w[k];
      digit |= is_digit(ch);
      under |= ch == '_' && k > 0 && k + 1 < w.size();
      upper += is_upper(ch);
      alpha += is_alpha(ch);
      if (k > 0 && is_upper(ch) && is_lower(w[k - 1])) camel = true;
      if (ch == '.' && k > 0 && k + 1 < w.size() && is_word(w[k - 1]) && is_word(w[k + 1])) inner_dot = true;
      if (ch == '/' && w.size() > 1) slash = true;
      if (ch == ':' && k + 1 < w.size() && w[k + 1] == ':') colons = true;
      if (ch == '(' && k > 0 && is_word(w[k - 1])) call = w.back() == ')';
    }
    const char f = w[0];
    const bool numeric_start = is_digit(f) || ((f == '-' || f == '+' || f == '$' || f == '.') && w.size() > 1 &&
                                               is_digit(w[1])) ||
                               starts_with(w, 0, "\xE2\x82\xAC") || starts_with(w, 0, "\xC2\xA3");
    if (o.numbers && digit && numeric_start) {
      out.push_back({b, c, SpanKind::kNumber});
      continue;
    }
    const bool all_caps = upper >= 2 && upper == alpha;
    if (o.identifiers && (under || camel || all_caps || inner_dot || (slash && alpha > 0) || colons || call ||
                          (digit && alpha > 0))) {
      out.push_back({b, c, SpanKind::kIdentifier});
    } else if (o.numbers && digit) {
      out.push_back({b, c, SpanKind::kNumber});
    }
  }
}

// Arithmetic written out: "75 - 28 = 47", "3 x 4 = 12" — the operators
// between protected numbers carry the fact as much as the numbers do.
void find_arithmetic(std::string_view t, std::vector<Span>& out) {
  struct Word {
    size_t b, e;
  };
  std::vector<Word> words;
  for (size_t i = 0; i < t.size();) {
    while (i < t.size() && is_space(t[i])) ++i;
    size_t e = i;
    while (e < t.size() && !is_space(t[e])) ++e;
    if (e > i) words.push_back({i, e});
    i = e;
  }
  auto number = [&](const Word& w) { return is_digit(t[w.b]) || (t[w.b] == '$' && w.e > w.b + 1 && is_digit(t[w.b + 1])); };
  auto op = [&](const Word& w) {
    const std::string_view s = t.substr(w.b, w.e - w.b);
    return s == "+" || s == "-" || s == "*" || s == "/" || s == "=" || s == "x" || s == "\xC3\x97" || s == "\xC3\xB7";
  };
  for (size_t i = 0; i + 2 < words.size(); ++i) {
    if (!number(words[i]) || !op(words[i + 1]) || !number(words[i + 2])) continue;
    size_t j = i + 2;
    while (j + 2 < words.size() && op(words[j + 1]) && number(words[j + 2])) j += 2;
    size_t e = words[j].e;
    while (e > words[j].b + 1 && !is_digit(t[e - 1]) && t[e - 1] != '%') --e;  // trailing punctuation
    out.push_back({words[i].b, e, SpanKind::kNumber});
    i = j;
  }
}

void find_forced(std::string_view t, const std::vector<std::string>& force, std::vector<Span>& out) {
  for (const std::string& f : force) {
    if (f.empty()) continue;
    for (size_t at = t.find(f); at != std::string_view::npos; at = t.find(f, at + f.size()))
      out.push_back({at, at + f.size(), SpanKind::kForced});
  }
}

}  // namespace

std::vector<Span> find_protected_spans(std::string_view text, const SpanOptions& o) {
  std::vector<Span> all;
  if (o.code) find_code(text, all);
  if (o.json) find_json(text, all);
  if (o.urls) find_urls(text, all);
  if (o.quoted) find_quoted(text, all);
  if (o.numbers || o.identifiers) find_words(text, o, all);
  if (o.numbers) find_arithmetic(text, all);
  find_forced(text, o.force, all);
  std::stable_sort(all.begin(), all.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;
  });
  std::vector<Span> merged;
  for (const Span& s : all) {
    if (s.end <= s.begin) continue;
    if (!merged.empty() && s.begin < merged.back().end) {
      merged.back().end = std::max(merged.back().end, s.end);
    } else {
      merged.push_back(s);
    }
  }
  return merged;
}

}  // namespace tern::compress
