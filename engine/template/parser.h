// Parser: tokens -> AST, following Jinja2's grammar and operator precedence
// (loosest first): `x if c else y`, or, and, not, comparisons (== != < <= >
// >= in, not in), + -, ~, * / // %, **, unary - +, then postfix `.attr`,
// `[i]`, `[a:b:c]`, `(args)`, `| filter` and `is test`.
//
// Statements: if/elif/else, for (tuple targets, `if` filter, else), set
// (plain, attribute, block with optional filter), macro, call, filter,
// with, break, continue, raw (in the lexer) and HF's generation block.
#pragma once

#include <string_view>

#include "template/ast.h"
#include "template/lexer.h"
#include "tern/status.h"

namespace tern::tpl {

// Errors are InvalidArgument("line:col: message"). Nesting deeper than
// kMaxParseDepth (blocks or parentheses) is an error, not a stack overflow.
inline constexpr int kMaxParseDepth = 200;

Result<Body> parse_template(std::string_view source);

}  // namespace tern::tpl
