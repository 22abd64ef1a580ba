#include "template/lexer.h"

#include "template/text.h"

#include <cctype>
#include <cstdint>

namespace tern::tpl {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }


class Lexer {
 public:
  explicit Lexer(std::string source) : src_(std::move(source)) {}

  Result<std::vector<Token>> run() {
    bool line_starting = true;  // the previous token ended a line (for lstrip_blocks)
    bool strip_next = false;    // the previous tag ended with '-'
    while (pos_ < src_.size()) {
      size_t tag = find_tag(pos_);
      std::string text = src_.substr(pos_, tag - pos_);
      if (strip_next) {
        size_t i = 0;
        while (i < text.size() && is_space(text[i])) ++i;
        text.erase(0, i);
      }
      char kind = tag < src_.size() ? src_[tag + 1] : 0;
      char mod = tag + 2 < src_.size() ? src_[tag + 2] : 0;
      if (tag < src_.size()) {
        if (mod == '-') {
          while (!text.empty() && is_space(text.back())) text.pop_back();
        } else if (mod != '+' && (kind == '%' || kind == '#')) {
          lstrip_line(text, line_starting);
        }
      }
      if (!text.empty()) push(TokenKind::kText, std::move(text), pos_);
      if (tag >= src_.size()) break;
      pos_ = tag;
      bool trailing_newline = false;
      Status st = kind == '#' ? lex_comment(strip_next, trailing_newline)
                              : lex_tag(kind, strip_next, trailing_newline);
      if (!st.ok()) return st;
      line_starting = trailing_newline;
    }
    push(TokenKind::kEnd, "", pos_);
    return std::move(tokens_);
  }

 private:
  // Index of the next "{{", "{%" or "{#" at or after `from`, else size().
  size_t find_tag(size_t from) const {
    for (size_t i = from; i + 1 < src_.size(); ++i)
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    return src_.size();
  }

  // lstrip_blocks: drop spaces/tabs between the last line start and the tag.
  static void lstrip_line(std::string& text, bool line_starting) {
    size_t nl = text.rfind('\n');
    size_t start = nl == std::string::npos ? 0 : nl + 1;
    if (nl == std::string::npos && !line_starting) return;
    for (size_t i = start; i < text.size(); ++i)
      if (text[i] != ' ' && text[i] != '\t') return;
    text.erase(start);
  }

  // After a tag closer at pos_: apply '-' (strip) or trim_blocks.
  void after_close(bool minus, bool plus, bool block, bool& strip_next, bool& trailing_newline) {
    strip_next = minus;
    trailing_newline = false;
    if (minus) {
      // Jinja's closing regex swallows the whitespace itself; remember
      // whether it ended a line.
      size_t i = pos_;
      while (i < src_.size() && is_space(src_[i])) ++i;
      trailing_newline = i > pos_ && src_[i - 1] == '\n';
      advance_to(i);
      strip_next = false;
    } else if (block && !plus && pos_ < src_.size() && src_[pos_] == '\n') {
      advance_to(pos_ + 1);
      trailing_newline = true;
    }
  }

  Status lex_comment(bool& strip_next, bool& trailing_newline) {
    size_t end = src_.find("#}", pos_ + 2);
    if (end == std::string::npos) return error(pos_, "unterminated comment");
    bool minus = end > pos_ + 2 && src_[end - 1] == '-';
    bool plus = end > pos_ + 2 && src_[end - 1] == '+';
    advance_to(end + 2);
    after_close(minus, plus, true, strip_next, trailing_newline);
    return Status::Ok();
  }

  Status lex_tag(char kind, bool& strip_next, bool& trailing_newline) {
    bool block = kind == '%';
    size_t open = pos_;
    push(block ? TokenKind::kBlockBegin : TokenKind::kVarBegin, block ? "{%" : "{{", pos_);
    advance_to(pos_ + 2);
    if (pos_ < src_.size() && (src_[pos_] == '-' || src_[pos_] == '+')) advance_to(pos_ + 1);
    const char closer = block ? '%' : '}';
    size_t first_token = tokens_.size();
    for (;;) {
      while (pos_ < src_.size() && is_space(src_[pos_])) advance_to(pos_ + 1);
      if (pos_ >= src_.size()) return error(open, block ? "unterminated '{%' tag" : "unterminated '{{' tag");
      char c = src_[pos_];
      bool minus = c == '-' && pos_ + 2 < src_.size() && src_[pos_ + 1] == closer && src_[pos_ + 2] == '}';
      bool plus = c == '+' && pos_ + 2 < src_.size() && src_[pos_ + 1] == closer && src_[pos_ + 2] == '}';
      if (minus || plus) advance_to(pos_ + 1);
      if (minus || plus || (c == closer && pos_ + 1 < src_.size() && src_[pos_ + 1] == '}')) {
        push(block ? TokenKind::kBlockEnd : TokenKind::kVarEnd, block ? "%}" : "}}", pos_);
        advance_to(pos_ + 2);
        after_close(minus, plus, block, strip_next, trailing_newline);
        if (block && tokens_.size() == first_token + 2 && tokens_[first_token].kind == TokenKind::kName &&
            tokens_[first_token].text == "raw")
          return lex_raw(strip_next, trailing_newline);
        return Status::Ok();
      }
      TERN_RETURN_IF_ERROR(lex_expr_token());
    }
  }

  // Body of {% raw %}: everything up to {% endraw %}, verbatim.
  Status lex_raw(bool& strip_next, bool& trailing_newline) {
    // Drop the "{%", "raw", "%}" tokens just pushed.
    size_t raw_line = tokens_[tokens_.size() - 3].line, raw_col = tokens_[tokens_.size() - 3].col;
    tokens_.resize(tokens_.size() - 3);
    size_t search = pos_;
    for (;;) {
      size_t open = src_.find("{%", search);
      if (open == std::string::npos) {
        return InvalidArgument(std::to_string(raw_line) + ":" + std::to_string(raw_col) + ": unterminated raw block");
      }
      size_t i = open + 2;
      bool lminus = i < src_.size() && src_[i] == '-';
      if (lminus || (i < src_.size() && src_[i] == '+')) ++i;
      while (i < src_.size() && is_space(src_[i])) ++i;
      if (src_.compare(i, 6, "endraw") != 0) {
        search = open + 2;
        continue;
      }
      i += 6;
      while (i < src_.size() && is_space(src_[i])) ++i;
      bool rminus = i < src_.size() && src_[i] == '-';
      bool rplus = i < src_.size() && src_[i] == '+';
      if (rminus || rplus) ++i;
      if (src_.compare(i, 2, "%}") != 0) {
        search = open + 2;
        continue;
      }
      std::string text = src_.substr(pos_, open - pos_);
      if (strip_next) {
        size_t k = 0;
        while (k < text.size() && is_space(text[k])) ++k;
        text.erase(0, k);
      }
      if (lminus)
        while (!text.empty() && is_space(text.back())) text.pop_back();
      else
        lstrip_line(text, false);
      if (!text.empty()) push(TokenKind::kText, std::move(text), pos_);
      advance_to(i + 2);
      after_close(rminus, rplus, true, strip_next, trailing_newline);
      return Status::Ok();
    }
  }

  Status lex_expr_token() {
    size_t start = pos_;
    char c = src_[pos_];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t i = pos_;
      while (i < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[i])) || src_[i] == '_')) ++i;
      push(TokenKind::kName, src_.substr(pos_, i - pos_), start);
      advance_to(i);
      return Status::Ok();
    }
    if (std::isdigit(static_cast<unsigned char>(c))) return lex_number();
    if (c == '\'' || c == '"') return lex_string();
    static const char* kTwo[] = {"//", "**", "==", "!=", "<=", ">="};
    for (const char* op : kTwo) {
      if (src_.compare(pos_, 2, op) == 0) {
        push(TokenKind::kOp, op, start);
        advance_to(pos_ + 2);
        return Status::Ok();
      }
    }
    if (std::string_view("+-*/%~<>=()[]{},.:|").find(c) != std::string_view::npos) {
      push(TokenKind::kOp, std::string(1, c), start);
      advance_to(pos_ + 1);
      return Status::Ok();
    }
    return error(pos_, std::string("unexpected character '") + c + "'");
  }

  Status lex_number() {
    size_t start = pos_, i = pos_;
    auto digits = [&] {
      while (i < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[i])) || src_[i] == '_')) ++i;
    };
    digits();
    bool is_float = false;
    if (i + 1 < src_.size() && src_[i] == '.' && std::isdigit(static_cast<unsigned char>(src_[i + 1]))) {
      is_float = true;
      ++i;
      digits();
    }
    if (i < src_.size() && (src_[i] == 'e' || src_[i] == 'E')) {
      size_t j = i + 1;
      if (j < src_.size() && (src_[j] == '+' || src_[j] == '-')) ++j;
      if (j < src_.size() && std::isdigit(static_cast<unsigned char>(src_[j]))) {
        is_float = true;
        i = j;
        digits();
      }
    }
    std::string text;
    for (size_t k = start; k < i; ++k)
      if (src_[k] != '_') text += src_[k];
    push(is_float ? TokenKind::kFloat : TokenKind::kInt, std::move(text), start);
    advance_to(i);
    return Status::Ok();
  }

  // Python string literal escapes, as Jinja decodes them.
  Status lex_string() {
    size_t start = pos_;
    char quote = src_[pos_];
    std::string value;
    size_t i = pos_ + 1;
    for (;;) {
      if (i >= src_.size()) return error(start, "unterminated string literal");
      char c = src_[i];
      if (c == quote) break;
      if (c != '\\' || i + 1 >= src_.size()) {
        value += c;
        ++i;
        continue;
      }
      char e = src_[i + 1];
      i += 2;
      switch (e) {
        case 'n': value += '\n'; break;
        case 't': value += '\t'; break;
        case 'r': value += '\r'; break;
        case '0': value += '\0'; break;
        case 'a': value += '\a'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
        case 'v': value += '\v'; break;
        case '\\': value += '\\'; break;
        case '\'': value += '\''; break;
        case '"': value += '"'; break;
        case '\n': break;  // line continuation
        case 'x':
        case 'u':
        case 'U': {
          size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          uint32_t cp = 0;
          size_t k = 0;
          for (; k < n && i + k < src_.size() && std::isxdigit(static_cast<unsigned char>(src_[i + k])); ++k)
            cp = cp * 16 + static_cast<uint32_t>(std::stoi(std::string(1, src_[i + k]), nullptr, 16));
          if (k != n || cp > 0x10FFFF) return error(i - 2, "malformed \\" + std::string(1, e) + " escape");
          text::append_utf8(value, cp);
          i += n;
          break;
        }
        default:  // unknown escapes keep their backslash, as in Python
          value += '\\';
          value += e;
      }
    }
    push(TokenKind::kString, std::move(value), start);
    advance_to(i + 1);
    return Status::Ok();
  }

  void push(TokenKind kind, std::string text, size_t at) {
    auto [line, col] = position(at);
    tokens_.push_back(Token{kind, std::move(text), line, col});
  }

  // Line and column of byte offset `at`; computed incrementally since tokens
  // are pushed in increasing offset order (raw text tokens aside).
  std::pair<int, int> position(size_t at) {
    if (at < pos_cache_) {
      pos_cache_ = 0;
      line_cache_ = 1;
      line_start_cache_ = 0;
    }
    for (; pos_cache_ < at && pos_cache_ < src_.size(); ++pos_cache_) {
      if (src_[pos_cache_] == '\n') {
        ++line_cache_;
        line_start_cache_ = pos_cache_ + 1;
      }
    }
    return {line_cache_, static_cast<int>(at - line_start_cache_) + 1};
  }

  void advance_to(size_t p) { pos_ = p; }

  Status error(size_t at, const std::string& msg) {
    auto [line, col] = position(at);
    return InvalidArgument(std::to_string(line) + ":" + std::to_string(col) + ": " + msg);
  }

  std::string src_;
  size_t pos_ = 0;
  std::vector<Token> tokens_;
  size_t pos_cache_ = 0;
  int line_cache_ = 1;
  size_t line_start_cache_ = 0;
};

}  // namespace

Result<std::vector<Token>> tokenize(std::string_view source) {
  std::string src;
  src.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {  // newline normalization, as Jinja does
    if (source[i] == '\r') {
      src += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      src += source[i];
    }
  }
  if (!src.empty() && src.back() == '\n') src.pop_back();  // keep_trailing_newline=False
  return Lexer(std::move(src)).run();
}

}  // namespace tern::tpl
