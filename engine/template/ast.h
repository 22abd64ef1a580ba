// AST of a parsed template: expressions (Expr) and statements (Node).
//
// One struct per category with a kind tag keeps the tree plain data; the
// fields each kind uses are listed beside the kind. The tree is immutable
// after parsing and owned by ChatTemplate, so the interpreter may keep raw
// pointers into it for the duration of a render.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "template/value.h"

namespace tern::tpl {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind {
  kLiteral,  // literal
  kName,     // name
  kList,     // args: items
  kTuple,    // args: items; a list that prints as a tuple
  kDict,     // args: key0, value0, key1, value1, ...
  kGetAttr,  // args[0].name
  kGetItem,  // args[0][args[1]]
  kSlice,    // args[0][args[1]:args[2]:args[3]]; absent parts are null
  kCall,     // args[0](args[1..], kwargs)
  kFilter,   // args[0] | name(args[1..], kwargs); args[0] null inside {% filter %}
  kTest,     // args[0] is [not] name(args[1..]); negated
  kNot,      // not args[0]
  kNeg,      // -args[0]
  kPos,      // +args[0]
  kAnd,      // args[0] and args[1]
  kOr,       // args[0] or args[1]
  kBinary,   // args[0] <name> args[1]; name in + - * / // % ** ~
  kCompare,  // args[0] op0 args[1] op1 args[2]...; name: the ops (== != < <= > >= in notin), space-separated
  kCond,     // args[1] if args[0] else args[2]; args[2] null when no else
};

struct Expr {
  ExprKind kind;
  int line = 0, col = 0;
  std::string name;
  Value literal;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  bool negated = false;
  int depth = 1;  // height of this subtree where the parser grows it in a loop (a.b.c, x|f|g, 1+1+1)
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

enum class NodeKind {
  kText,         // text
  kOutput,       // {{ expr }}
  kIf,           // if conds[i] then bodies[i]; else bodies[conds.size()] if present
  kFor,          // for targets in expr [if cond]: body [else else_body]
  kSet,          // set targets = expr, or set expr.attr = value (target_obj)
  kSetBlock,     // set targets[0] [| filter] %} body {% endset; filter in filter
  kMacro,        // macro name(params) body
  kCallBlock,    // call(params) expr %} body {% endcall
  kFilterBlock,  // filter filter %} body {% endfilter
  kWith,         // with targets[i] = values[i] %} body {% endwith
  kBreak,
  kContinue,
  kScope,        // body only: {% generation %} and friends
};

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // null when required
};

struct Node {
  NodeKind kind;
  int line = 0, col = 0;
  std::string text;
  std::string name;
  std::vector<std::string> targets;
  ExprPtr expr;
  ExprPtr cond;
  ExprPtr target_obj;  // kSet on an attribute: `set ns.x = ...` has target_obj ns, name x
  ExprPtr filter;      // kSetBlock / kFilterBlock: a kFilter chain whose innermost args[0] is null
  std::vector<ExprPtr> conds;
  std::vector<ExprPtr> values;
  std::vector<Body> bodies;
  std::vector<MacroParam> params;
  Body body;
  Body else_body;
};

}  // namespace tern::tpl
