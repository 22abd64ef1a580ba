// Lexer: template source -> flat token stream.
//
// Whitespace rules are those of Jinja2 as Hugging Face configures it
// (trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False):
//   - `{%- ... -%}`, `{{- ... -}}`, `{#- ... -#}` strip all whitespace on that side;
//   - after `%}` or `#}` one newline is dropped (trim_blocks) unless `+%}`;
//   - spaces and tabs between a line start and `{%` / `{#` are dropped
//     (lstrip_blocks) unless `{%+`;
//   - one trailing newline at the end of the source is dropped.
// Comments vanish; `{% raw %}...{% endraw %}` becomes one text token.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tern/status.h"

namespace tern::tpl {

enum class TokenKind {
  kText,        // literal template text
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,
  kString,      // value already unescaped
  kInt,
  kFloat,
  kOp,          // punctuation and operators: + - * / // % ** ~ == != < <= > >= = ( ) [ ] { } , . : |
  kEnd,
};

struct Token {
  TokenKind kind;
  std::string text;
  int line = 1;
  int col = 1;
};

// Fails with InvalidArgument "line:col: message" on an unterminated tag,
// comment or string, or a character that cannot start a token.
Result<std::vector<Token>> tokenize(std::string_view source);

}  // namespace tern::tpl
