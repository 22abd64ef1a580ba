#include "toon/stage.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace tern::toon {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Reads JSON text for what a parsed value would lose: a number the parser
// cannot hold exactly (an integer beyond 64 bits, a decimal with more than
// 17 significant digits) or a key repeated in one object. Such text is
// never rewritten: re-encoding the parsed value would change the data.
class ExactnessCheck : public nlohmann::json_sax<Json> {
 public:
  bool exact = true;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t v, const string_t& s) override {
    if (s.find_first_of(".eE") == std::string::npos) return exact = false;  // an integer too large for 64 bits
    if (!std::isfinite(v)) return exact = false;                           // 1e400
    int digits = 0;
    bool leading = true;
    for (char c : s) {
      if (c == 'e' || c == 'E') break;
      if (c < '0' || c > '9') continue;
      if (leading && c == '0') continue;
      leading = false;
      ++digits;
    }
    if (digits > 17) exact = false;
    return exact;
  }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    keys_.emplace_back();
    return true;
  }
  bool key(string_t& k) override {
    if (!keys_.back().insert(k).second) exact = false;  // a repeated key: the parsed value keeps one
    return exact;
  }
  bool end_object() override {
    keys_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return exact = false; }

 private:
  std::vector<std::set<std::string>> keys_;
};

bool parses_exactly(std::string_view text) {
  ExactnessCheck check;
  Json::sax_parse(text.begin(), text.end(), &check);
  return check.exact;
}

// The replacement for one JSON candidate, or nullopt to keep it.
std::optional<std::string> replace(std::string_view original, const TokenCounter& count, const StageOptions& o,
                                   StageStats& st) {
  if (original.size() < o.min_bytes) return std::nullopt;
  Json value;
  try {
    value = Json::parse(original);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (!value.is_object() && !value.is_array()) return std::nullopt;
  if (!parses_exactly(original)) return std::nullopt;  // the parsed value is not the text's data
  ++st.candidates;
  const MaybeEncoded enc = maybe_encode_detailed(value, count, o.encode);
  const size_t before = count(original);
  if (enc.tokens >= before) return std::nullopt;
  if (enc.is_toon) {
    DecodeOptions d;
    d.indent = o.encode.indent;
    Result<Json> back = decode(enc.text, d);
    if (!back.ok() || *back != value) return std::nullopt;  // not lossless: keep the JSON
  }
  ++st.rewritten;
  st.as_toon += enc.is_toon ? 1 : 0;
  st.tokens_before += static_cast<int64_t>(before);
  st.tokens_after += static_cast<int64_t>(enc.tokens);
  st.replacements.push_back(enc.text);
  return enc.text;
}

size_t line_end(std::string_view t, size_t i) {
  const size_t e = t.find('\n', i);
  return e == std::string_view::npos ? t.size() : e;
}

}  // namespace

std::string rewrite_text(std::string_view text, const TokenCounter& count, const StageOptions& o, StageStats* stats) {
  StageStats local;
  StageStats& st = stats ? *stats : local;
  const std::string_view whole = trim(text);
  if (!whole.empty() && (whole.front() == '{' || whole.front() == '[') &&
      json_bracket_end(whole, 0, whole.size()) == whole.size()) {
    if (auto r = replace(whole, count, o, st)) return *r;
    return std::string(text);
  }
  // Line by line: fenced json blocks and block-level objects/arrays.
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    const size_t eol = line_end(text, i);
    const std::string_view line = text.substr(i, eol - i);
    const std::string_view tl = trim(line);
    if (tl == "```json" || tl == "```JSON") {
      const size_t body = eol < text.size() ? eol + 1 : eol;
      size_t k = body, close = std::string_view::npos;
      while (k < text.size()) {
        const size_t e = line_end(text, k);
        if (trim(text.substr(k, e - k)) == "```") {
          close = k;
          break;
        }
        k = e + 1;
      }
      if (close != std::string_view::npos) {
        const std::string_view json = text.substr(body, close - body);
        if (auto r = replace(trim(json), count, o, st)) {
          out += "```toon\n" + *r + "\n";
          i = close;
          continue;
        }
      }
    } else if (!tl.empty() && (tl.front() == '{' || tl.front() == '[')) {
      const size_t start = i + static_cast<size_t>(tl.data() - line.data());
      const size_t end = json_bracket_end(text, start, text.size());
      if (end != std::string_view::npos) {
        const size_t after = line_end(text, end);
        if (trim(text.substr(end, after - end)).empty()) {
          if (auto r = replace(text.substr(start, end - start), count, o, st)) {
            out.append(text.substr(i, start - i));
            out += *r;
            i = end;
            continue;
          }
        }
      }
    }
    out.append(line);
    if (eol < text.size()) out += '\n';
    i = eol + 1;
  }
  return out;
}

Status rewrite_messages(Json& messages, const TokenCounter& count, const StageOptions& o, StageStats* stats) {
  if (!messages.is_array()) return InvalidArgument("messages must be an array");
  for (Json& m : messages) {
    if (!m.is_object()) return InvalidArgument("every message must be an object");
    if (!m.contains("role") || !m["role"].is_string()) return InvalidArgument("every message needs a string role");
    const std::string role = m["role"].get<std::string>();
    if (std::find(o.roles.begin(), o.roles.end(), role) == o.roles.end() || !m.contains("content")) continue;
    Json& c = m["content"];
    if (c.is_string()) {
      c = rewrite_text(c.get<std::string>(), count, o, stats);
    } else if (c.is_array()) {
      for (Json& part : c)
        if (part.is_object() && part.contains("text") && part["text"].is_string())
          part["text"] = rewrite_text(part["text"].get<std::string>(), count, o, stats);
    }
  }
  return Status::Ok();
}

size_t json_bracket_end(std::string_view t, size_t begin, size_t end, size_t* scanned) {
  std::vector<char> stack;
  bool in_string = false;
  end = std::min(end, t.size());
  size_t k = begin, result = std::string_view::npos;
  for (; k < end; ++k) {
    const char c = t[k];
    if (in_string) {
      if (c == '\\') ++k;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') stack.push_back(c == '{' ? '}' : ']');
    else if (c == '}' || c == ']') {
      if (stack.empty() || stack.back() != c) break;
      stack.pop_back();
      if (stack.empty()) {
        result = k + 1;
        break;
      }
    }
  }
  if (scanned) *scanned = std::min(k, end) - begin;
  return result;
}

}  // namespace tern::toon
