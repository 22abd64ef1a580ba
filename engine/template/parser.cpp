#include "template/parser.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <initializer_list>

namespace tern::tpl {
namespace {

// Thrown inside the parser only; parse_template turns it into a Status.
struct ParseError {
  Status status;
};

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  Body parse_all() {
    Body body = parse_body({});
    if (cur().kind != TokenKind::kEnd) fail(cur(), "unexpected tag");
    return body;
  }

 private:
  // ---- token helpers ----
  const Token& cur() const { return toks_[i_]; }
  const Token& peek(size_t n = 1) const { return toks_[std::min(i_ + n, toks_.size() - 1)]; }
  const Token& next() {
    const Token& t = toks_[i_];
    if (i_ + 1 < toks_.size()) ++i_;
    return t;
  }
  bool is_op(const char* op) const { return cur().kind == TokenKind::kOp && cur().text == op; }
  bool is_name(const char* name) const { return cur().kind == TokenKind::kName && cur().text == name; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* name) {
    if (!is_name(name)) return false;
    next();
    return true;
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) fail(cur(), std::string("expected '") + op + "'");
  }
  std::string expect_name() {
    if (cur().kind != TokenKind::kName) fail(cur(), "expected a name");
    return next().text;
  }
  void expect_block_end() {
    if (cur().kind != TokenKind::kBlockEnd) fail(cur(), "expected '%}'");
    next();
  }
  [[noreturn]] static void fail(const Token& at, const std::string& msg) {
    std::string shown = at.kind == TokenKind::kEnd ? "end of template" : "'" + at.text.substr(0, 40) + "'";
    throw ParseError{InvalidArgument(std::to_string(at.line) + ":" + std::to_string(at.col) + ": " + msg +
                                     " (at " + shown + ")")};
  }

  struct DepthGuard {
    Parser& p;
    DepthGuard(Parser& parser, const Token& at) : p(parser) {
      if (++p.depth_ > kMaxParseDepth) fail(at, "template nested too deeply");
    }
    ~DepthGuard() { --p.depth_; }
  };

  ExprPtr make(ExprKind kind, const Token& at) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = at.line;
    e->col = at.col;
    return e;
  }
  NodePtr make_node(NodeKind kind, const Token& at) {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->line = at.line;
    n->col = at.col;
    return n;
  }

  // ---- statements ----

  // Parses nodes until a block tag whose keyword is in `ends` (left current:
  // cur() is that keyword, just after "{%"), or the end of input when `ends`
  // is empty.
  Body parse_body(std::initializer_list<const char*> ends) {
    Body body;
    for (;;) {
      const Token& t = cur();
      if (t.kind == TokenKind::kEnd) {
        if (ends.size() != 0) fail(t, std::string("missing '{% ") + *ends.begin() + " %}'");
        return body;
      }
      if (t.kind == TokenKind::kText) {
        auto n = make_node(NodeKind::kText, t);
        n->text = t.text;
        next();
        body.push_back(std::move(n));
      } else if (t.kind == TokenKind::kVarBegin) {
        next();
        auto n = make_node(NodeKind::kOutput, t);
        n->expr = parse_expr();
        if (cur().kind != TokenKind::kVarEnd) fail(cur(), "expected '}}'");
        next();
        body.push_back(std::move(n));
      } else if (t.kind == TokenKind::kBlockBegin) {
        const Token& kw = peek();
        for (const char* e : ends)
          if (kw.kind == TokenKind::kName && kw.text == e) {
            next();  // leave cur() on the keyword
            return body;
          }
        next();
        body.push_back(parse_statement());
      } else {
        fail(t, "unexpected token");
      }
    }
  }

  // Consumes "keyword %}" of an end tag after parse_body stopped on it.
  void end_tag(const char* keyword) {
    if (!skip_name(keyword)) fail(cur(), std::string("expected '") + keyword + "'");
    expect_block_end();
  }

  NodePtr parse_statement() {
    const Token& kw = cur();
    DepthGuard guard(*this, kw);
    if (kw.kind != TokenKind::kName) fail(kw, "expected a statement keyword");
    std::string k = kw.text;
    if (k == "if") return parse_if();
    if (k == "for") return parse_for();
    if (k == "set") return parse_set();
    if (k == "macro") return parse_macro();
    if (k == "call") return parse_call_block();
    if (k == "filter") return parse_filter_block();
    if (k == "with") return parse_with();
    if (k == "break" || k == "continue") {
      next();
      expect_block_end();
      if (loop_depth_ == 0) fail(kw, "'" + k + "' outside a loop");
      return make_node(k == "break" ? NodeKind::kBreak : NodeKind::kContinue, kw);
    }
    if (k == "generation") {  // HF's assistant-mask marker: renders its body
      next();
      expect_block_end();
      auto n = make_node(NodeKind::kScope, kw);
      n->body = parse_body({"endgeneration"});
      end_tag("endgeneration");
      return n;
    }
    fail(kw, "unknown or unexpected tag '" + k + "'");
  }

  NodePtr parse_if() {
    auto n = make_node(NodeKind::kIf, next());
    n->conds.push_back(parse_expr());
    expect_block_end();
    for (;;) {
      n->bodies.push_back(parse_body({"elif", "else", "endif"}));
      if (skip_name("elif")) {
        n->conds.push_back(parse_expr());
        expect_block_end();
        continue;
      }
      if (skip_name("else")) {
        expect_block_end();
        n->bodies.push_back(parse_body({"endif"}));
      }
      end_tag("endif");
      return n;
    }
  }

  std::vector<std::string> parse_targets() {
    std::vector<std::string> targets;
    bool paren = skip_op("(");
    do {
      targets.push_back(expect_name());
    } while (skip_op(","));
    if (paren) expect_op(")");
    return targets;
  }

  NodePtr parse_for() {
    auto n = make_node(NodeKind::kFor, next());
    n->targets = parse_targets();
    if (!skip_name("in")) fail(cur(), "expected 'in'");
    n->expr = parse_or_tuple(/*allow_cond=*/false);
    if (skip_name("if")) n->cond = parse_or_tuple(false);
    if (skip_name("recursive")) fail(cur(), "recursive loops are not supported");
    expect_block_end();
    ++loop_depth_;
    n->body = parse_body({"else", "endfor"});
    --loop_depth_;
    if (skip_name("else")) {
      expect_block_end();
      n->else_body = parse_body({"endfor"});
    }
    end_tag("endfor");
    return n;
  }

  NodePtr parse_set() {
    const Token& kw = next();
    // `set ns.attr = value`
    if (cur().kind == TokenKind::kName && peek().kind == TokenKind::kOp && peek().text == ".") {
      auto n = make_node(NodeKind::kSet, kw);
      auto obj = make(ExprKind::kName, cur());
      obj->name = next().text;
      next();  // '.'
      n->target_obj = std::move(obj);
      n->name = expect_name();
      expect_op("=");
      n->expr = parse_or_tuple(true);
      expect_block_end();
      return n;
    }
    std::vector<std::string> targets = parse_targets();
    if (skip_op("=")) {
      auto n = make_node(NodeKind::kSet, kw);
      n->targets = std::move(targets);
      n->expr = parse_or_tuple(true);
      expect_block_end();
      return n;
    }
    if (targets.size() != 1) fail(cur(), "block set takes one name");
    auto n = make_node(NodeKind::kSetBlock, kw);
    n->targets = std::move(targets);
    if (is_op("|")) n->filter = parse_filter_chain(nullptr);
    expect_block_end();
    n->body = parse_body({"endset"});
    end_tag("endset");
    return n;
  }

  void parse_params(std::vector<MacroParam>& params) {
    expect_op("(");
    while (!is_op(")")) {
      MacroParam p;
      p.name = expect_name();
      if (skip_op("=")) p.default_value = parse_expr();
      params.push_back(std::move(p));
      if (!skip_op(",")) break;
    }
    expect_op(")");
  }

  NodePtr parse_macro() {
    auto n = make_node(NodeKind::kMacro, next());
    n->name = expect_name();
    parse_params(n->params);
    expect_block_end();
    int saved = loop_depth_;
    loop_depth_ = 0;  // break/continue do not cross a macro boundary
    n->body = parse_body({"endmacro"});
    loop_depth_ = saved;
    end_tag("endmacro");
    return n;
  }

  NodePtr parse_call_block() {
    auto n = make_node(NodeKind::kCallBlock, next());
    if (is_op("(")) parse_params(n->params);
    n->expr = parse_expr();
    if (n->expr->kind != ExprKind::kCall) fail(cur(), "expected a macro call after 'call'");
    expect_block_end();
    int saved = loop_depth_;
    loop_depth_ = 0;
    n->body = parse_body({"endcall"});
    loop_depth_ = saved;
    end_tag("endcall");
    return n;
  }

  NodePtr parse_filter_block() {
    auto n = make_node(NodeKind::kFilterBlock, next());
    n->filter = parse_filter_chain(nullptr, /*leading_pipe=*/false);
    expect_block_end();
    n->body = parse_body({"endfilter"});
    end_tag("endfilter");
    return n;
  }

  NodePtr parse_with() {
    auto n = make_node(NodeKind::kWith, next());
    while (cur().kind != TokenKind::kBlockEnd) {
      n->targets.push_back(expect_name());
      expect_op("=");
      n->values.push_back(parse_expr());
      if (!skip_op(",")) break;
    }
    expect_block_end();
    n->body = parse_body({"endwith"});
    end_tag("endwith");
    return n;
  }

  // ---- expressions ----

  // An expression, or a bare tuple `a, b` (as in `set x = 1, 2`).
  ExprPtr parse_or_tuple(bool allow_cond) {
    const Token& start = cur();
    ExprPtr first = allow_cond ? parse_expr() : parse_or();
    if (!is_op(",")) return first;
    auto list = make(ExprKind::kTuple, start);
    list->args.push_back(std::move(first));
    while (skip_op(",")) {
      if (cur().kind == TokenKind::kBlockEnd || is_name("if")) break;
      list->args.push_back(allow_cond ? parse_expr() : parse_or());
    }
    return list;
  }

  ExprPtr parse_expr() {
    DepthGuard guard(*this, cur());
    ExprPtr e = parse_or();
    while (is_name("if")) {
      const Token& t = next();
      auto c = make(ExprKind::kCond, t);
      c->args.push_back(parse_or());
      c->args.push_back(std::move(e));
      c->args.push_back(skip_name("else") ? parse_expr() : nullptr);
      e = deepen(std::move(c));
    }
    return e;
  }

  ExprPtr binary(ExprKind kind, const Token& at, ExprPtr l, ExprPtr r, std::string name = {}) {
    auto e = make(kind, at);
    e->name = std::move(name);
    e->args.push_back(std::move(l));
    e->args.push_back(std::move(r));
    return deepen(std::move(e));
  }

  // Loops (`a.b.c`, `x|f|g`, `1+1+1`) grow the tree without recursing in
  // the parser; bound the height here so evaluating and freeing the tree
  // cannot exhaust the stack.
  ExprPtr deepen(ExprPtr e) {
    int d = 0;
    for (const auto& a : e->args)
      if (a) d = std::max(d, a->depth);
    for (const auto& [_, a] : e->kwargs) d = std::max(d, a->depth);
    e->depth = d + 1;
    if (e->depth > kMaxParseDepth) {
      Token at{TokenKind::kOp, "", e->line, e->col};
      fail(at, "expression nested too deeply");
    }
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      const Token& t = next();
      e = binary(ExprKind::kOr, t, std::move(e), parse_and());
    }
    return e;
  }

  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      const Token& t = next();
      e = binary(ExprKind::kAnd, t, std::move(e), parse_not());
    }
    return e;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this, cur());
      auto e = make(ExprKind::kNot, next());
      e->args.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }

  // Comparison operator at cur(), consumed; "" when there is none.
  std::string take_compare_op() {
    const Token& t = cur();
    if (t.kind == TokenKind::kOp &&
        (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == "<=" || t.text == ">" || t.text == ">=")) {
      next();
      return t.text;
    }
    if (skip_name("in")) return "in";
    if (is_name("not") && peek().kind == TokenKind::kName && peek().text == "in") {
      next();
      next();
      return "notin";
    }
    return "";
  }

  // `a < b < c` is one kCompare with operands a, b, c and name "< <".
  ExprPtr parse_compare() {
    ExprPtr e = parse_math1();
    const Token& at = cur();
    std::string op = take_compare_op();
    if (op.empty()) return e;
    auto cmp = make(ExprKind::kCompare, at);
    cmp->args.push_back(std::move(e));
    do {
      if (!cmp->name.empty()) cmp->name += ' ';
      cmp->name += op;
      cmp->args.push_back(parse_math1());
    } while (!(op = take_compare_op()).empty());
    return cmp;
  }

  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& t = next();
      e = binary(ExprKind::kBinary, t, std::move(e), parse_concat(), t.text);
    }
    return e;
  }

  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (is_op("~")) {
      const Token& t = next();
      e = binary(ExprKind::kBinary, t, std::move(e), parse_math2(), "~");
    }
    return e;
  }

  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& t = next();
      e = binary(ExprKind::kBinary, t, std::move(e), parse_pow(), t.text);
    }
    return e;
  }

  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (is_op("**")) {
      const Token& t = next();
      e = binary(ExprKind::kBinary, t, std::move(e), parse_unary(true), "**");
    }
    return e;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this, cur());
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      const Token& t = next();
      e = make(t.text == "-" ? ExprKind::kNeg : ExprKind::kPos, t);
      e->args.push_back(parse_unary(false));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    switch (t.kind) {
      case TokenKind::kName: {
        next();
        auto e = make(ExprKind::kLiteral, t);
        if (t.text == "true" || t.text == "True") e->literal = Value(true);
        else if (t.text == "false" || t.text == "False") e->literal = Value(false);
        else if (t.text == "none" || t.text == "None") e->literal = Value::none();
        else {
          e->kind = ExprKind::kName;
          e->name = t.text;
        }
        return e;
      }
      case TokenKind::kString: {
        std::string s = next().text;
        while (cur().kind == TokenKind::kString) s += next().text;  // adjacent literals concatenate
        auto e = make(ExprKind::kLiteral, t);
        e->literal = Value(std::move(s));
        return e;
      }
      case TokenKind::kInt: {
        next();
        auto e = make(ExprKind::kLiteral, t);
        int64_t v = 0;
        auto [p, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
        if (ec != std::errc()) fail(t, "integer literal out of range");
        e->literal = Value(v);
        return e;
      }
      case TokenKind::kFloat: {
        next();
        auto e = make(ExprKind::kLiteral, t);
        e->literal = Value(std::strtod(t.text.c_str(), nullptr));
        return e;
      }
      case TokenKind::kOp:
        if (t.text == "(") {
          next();
          if (skip_op(")")) return make(ExprKind::kTuple, t);
          ExprPtr e = parse_expr();
          if (is_op(",")) {
            auto list = make(ExprKind::kTuple, t);
            list->args.push_back(std::move(e));
            while (skip_op(",") && !is_op(")")) list->args.push_back(parse_expr());
            e = std::move(list);
          }
          expect_op(")");
          return e;
        }
        if (t.text == "[") {
          next();
          auto list = make(ExprKind::kList, t);
          while (!is_op("]")) {
            list->args.push_back(parse_expr());
            if (!skip_op(",")) break;
          }
          expect_op("]");
          return list;
        }
        if (t.text == "{") {
          next();
          auto dict = make(ExprKind::kDict, t);
          while (!is_op("}")) {
            dict->args.push_back(parse_expr());
            expect_op(":");
            dict->args.push_back(parse_expr());
            if (!skip_op(",")) break;
          }
          expect_op("}");
          return dict;
        }
        break;
      default:
        break;
    }
    fail(t, "expected an expression");
  }

  ExprPtr parse_postfix(ExprPtr e) {
    for (;;) {
      const Token& t = cur();
      if (is_op(".")) {
        next();
        auto g = make(ExprKind::kGetAttr, t);
        if (cur().kind == TokenKind::kName) {
          g->name = next().text;
        } else if (cur().kind == TokenKind::kInt) {  // x.0 is x[0]
          g->kind = ExprKind::kGetItem;
          auto idx = make(ExprKind::kLiteral, cur());
          idx->literal = Value(static_cast<int64_t>(std::atoll(next().text.c_str())));
          g->args.push_back(std::move(e));
          g->args.push_back(std::move(idx));
          e = deepen(std::move(g));
          continue;
        } else {
          fail(cur(), "expected an attribute name");
        }
        g->args.push_back(std::move(e));
        e = deepen(std::move(g));
      } else if (is_op("[")) {
        next();
        e = deepen(parse_subscript(std::move(e), t));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr obj, const Token& at) {
    ExprPtr parts[3];
    bool is_slice = false;
    if (!is_op(":")) parts[0] = parse_expr();
    if (skip_op(":")) {
      is_slice = true;
      if (!is_op(":") && !is_op("]")) parts[1] = parse_expr();
      if (skip_op(":") && !is_op("]")) parts[2] = parse_expr();
    }
    expect_op("]");
    auto e = make(is_slice ? ExprKind::kSlice : ExprKind::kGetItem, at);
    e->args.push_back(std::move(obj));
    if (is_slice) {
      for (auto& p : parts) e->args.push_back(std::move(p));
    } else {
      if (!parts[0]) fail(at, "empty subscript");
      e->args.push_back(std::move(parts[0]));
    }
    return e;
  }

  // Call arguments into `e` (positional after any existing args).
  void parse_call_args(Expr& e) {
    expect_op("(");
    while (!is_op(")")) {
      if (cur().kind == TokenKind::kName && peek().kind == TokenKind::kOp && peek().text == "=") {
        std::string key = next().text;
        next();
        e.kwargs.emplace_back(std::move(key), parse_expr());
      } else {
        if (!e.kwargs.empty()) fail(cur(), "positional argument after keyword argument");
        e.args.push_back(parse_expr());
      }
      if (!skip_op(",")) break;
    }
    expect_op(")");
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto e = make(ExprKind::kCall, cur());
    e->args.push_back(std::move(callee));
    parse_call_args(*e);
    return deepen(std::move(e));
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    for (;;) {
      if (is_op("|")) {
        e = parse_filter_chain(std::move(e));
      } else if (is_name("is")) {
        e = parse_test(std::move(e));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  // One or more `| name(args)` applied to `e` (null for block filters).
  ExprPtr parse_filter_chain(ExprPtr e, bool leading_pipe = true) {
    bool first = true;
    while ((first && !leading_pipe) || is_op("|")) {
      if (!(first && !leading_pipe)) next();
      first = false;
      const Token& t = cur();
      auto f = make(ExprKind::kFilter, t);
      f->name = expect_name();
      while (skip_op(".")) f->name += "." + expect_name();
      f->args.push_back(std::move(e));
      if (is_op("(")) parse_call_args(*f);
      e = deepen(std::move(f));
    }
    return e;
  }

  ExprPtr parse_test(ExprPtr e) {
    const Token& t = next();  // 'is'
    auto test = make(ExprKind::kTest, t);
    test->negated = skip_name("not");
    if (cur().kind != TokenKind::kName) fail(cur(), "expected a test name");
    test->name = next().text;
    test->args.push_back(std::move(e));
    if (is_op("(")) {
      parse_call_args(*test);
    } else if ((cur().kind == TokenKind::kName || cur().kind == TokenKind::kString || cur().kind == TokenKind::kInt ||
                cur().kind == TokenKind::kFloat || is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and") && !is_name("if") && !is_name("in") &&
               !is_name("not") && !is_name("is")) {
      // `x is divisibleby 3`, `x is equalto 'user'`: one argument without parentheses.
      test->args.push_back(parse_postfix(parse_primary()));
    }
    return deepen(std::move(test));
  }

  std::vector<Token> toks_;
  size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

Result<Body> parse_template(std::string_view source) {
  try {
    TERN_ASSIGN_OR_RETURN(std::vector<Token> tokens, tokenize(source));
    return Parser(std::move(tokens)).parse_all();
  } catch (const ParseError& e) {
    return e.status;
  } catch (const std::bad_alloc&) {
    return ResourceExhausted("out of memory parsing template");
  }
}

}  // namespace tern::tpl
