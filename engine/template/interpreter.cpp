#include "template/interpreter.h"

#include <cmath>

#include "template/builtins.h"

namespace tern::tpl {

void fail(const std::string& msg) { throw RenderError{InvalidArgument(msg)}; }
void fail_limit(const std::string& msg) { throw RenderError{ResourceExhausted(msg)}; }

const Value* Frame::find(const std::string& name) const {
  for (const Frame* f = this; f; f = f->parent_.get()) {
    auto it = f->vars_.find(name);
    if (it != f->vars_.end()) return &it->second;
  }
  return nullptr;
}

void Interpreter::step() {
  if (++steps_ > limits_.max_steps) fail_limit("template exceeded its evaluation budget");
}

void Interpreter::check_size(size_t bytes) const {
  if (bytes > limits_.max_output_bytes) fail_limit("template built a value larger than the output limit");
}

void Interpreter::check_items(uint64_t count, uint64_t times, uint64_t item_bytes) const {
  uint64_t total = 0;
  if (__builtin_mul_overflow(count, times, &total) || __builtin_mul_overflow(total, item_bytes, &total) ||
      total > limits_.max_output_bytes)
    fail_limit("template built a value larger than the output limit");
}

void Interpreter::emit(std::string& out, std::string_view text) {
  check_size(out.size() + text.size());
  out.append(text);
}

Result<std::string> Interpreter::render(const Body& body, std::shared_ptr<Frame> globals) {
  char base_marker = 0;
  stack_base_ = reinterpret_cast<uintptr_t>(&base_marker);
  steps_ = 0;
  call_depth_ = 0;
  jump_ = Jump::kNone;
  std::string out;
  try {
    exec(body, globals, out);
  } catch (const RenderError& e) {
    return e.status;
  } catch (const std::bad_alloc&) {
    return ResourceExhausted("out of memory rendering template");
  } catch (const std::exception& e) {
    return Internal(std::string("template rendering failed: ") + e.what());
  }
  return out;
}

// ---- statements ----

void Interpreter::exec(const Body& body, const std::shared_ptr<Frame>& frame, std::string& out) {
  for (const NodePtr& n : body) {
    exec_node(*n, frame, out);
    if (jump_ != Jump::kNone) return;
  }
}

void Interpreter::exec_node(const Node& n, const std::shared_ptr<Frame>& frame, std::string& out) {
  step();
  switch (n.kind) {
    case NodeKind::kText: emit(out, n.text); return;
    case NodeKind::kOutput: {
      Value v = eval(*n.expr, frame);
      if (v.is_string()) emit(out, v.as_string());
      else emit(out, v.str());
      return;
    }
    case NodeKind::kIf:
      for (size_t i = 0; i < n.conds.size(); ++i) {
        if (eval(*n.conds[i], frame).truthy()) return exec(n.bodies[i], frame, out);
      }
      if (n.bodies.size() > n.conds.size()) exec(n.bodies.back(), frame, out);
      return;
    case NodeKind::kFor: return exec_for(n, frame, out);
    case NodeKind::kSet: return exec_set(n, frame);
    case NodeKind::kSetBlock: {
      std::string captured;
      exec(n.body, frame, captured);
      Value v(std::move(captured));
      if (n.filter) v = apply_filter_chain(*n.filter, std::move(v), frame);
      frame->set(n.targets[0], std::move(v));
      return;
    }
    case NodeKind::kMacro: return define_macro(n, frame, n.name);
    case NodeKind::kCallBlock: {
      // caller() renders the block body in a frame that sees the call site.
      const Expr& call = *n.expr;
      Value fn = eval(*call.args[0], frame);
      CallArgs args = eval_args(call, 1, frame);
      auto call_frame = std::make_shared<Frame>(frame);
      define_macro(n, call_frame, "caller");
      args.keyword.emplace_back("caller", *call_frame->find("caller"));
      Value result = this->call(fn, args);
      emit(out, result.str());
      return;
    }
    case NodeKind::kFilterBlock: {
      std::string captured;
      exec(n.body, frame, captured);
      Value v = apply_filter_chain(*n.filter, Value(std::move(captured)), frame);
      emit(out, v.str());
      return;
    }
    case NodeKind::kWith: {
      auto inner = std::make_shared<Frame>(frame);
      for (size_t i = 0; i < n.targets.size(); ++i) inner->set(n.targets[i], eval(*n.values[i], frame));
      return exec(n.body, inner, out);
    }
    case NodeKind::kBreak: jump_ = Jump::kBreak; return;
    case NodeKind::kContinue: jump_ = Jump::kContinue; return;
    case NodeKind::kScope: return exec(n.body, frame, out);
  }
}

namespace {

// Binds loop targets: one name takes the item; several unpack a list.
void bind_targets(Frame& frame, const std::vector<std::string>& targets, const Value& item) {
  if (targets.size() == 1) {
    frame.set(targets[0], item);
    return;
  }
  std::vector<Value> parts = iterate(item);
  if (parts.size() != targets.size())
    fail("cannot unpack " + std::to_string(parts.size()) + " values into " + std::to_string(targets.size()) +
         " names");
  for (size_t i = 0; i < targets.size(); ++i) frame.set(targets[i], parts[i]);
}

}  // namespace

void Interpreter::exec_for(const Node& n, const std::shared_ptr<Frame>& frame, std::string& out) {
  std::vector<Value> items = iterate(eval(*n.expr, frame));
  auto inner = std::make_shared<Frame>(frame);
  if (n.cond) {  // `for x in xs if cond`: filter first, so loop.length counts survivors
    std::vector<Value> kept;
    for (Value& item : items) {
      step();
      bind_targets(*inner, n.targets, item);
      if (eval(*n.cond, inner).truthy()) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) return exec(n.else_body, frame, out);
  const int64_t len = static_cast<int64_t>(items.size());
  // One `loop` object per loop, updated in place each iteration (like
  // Jinja's LoopContext, which also advances under a saved reference).
  auto index = std::make_shared<int64_t>(0);
  Object init;
  for (const char* key : {"index", "index0", "revindex", "revindex0", "first", "last", "previtem", "nextitem"})
    init.set(key, Value());
  init.set("length", Value(len));
  init.set("depth", Value(1));
  init.set("depth0", Value(0));
  init.set("cycle", Value::callable("loop.cycle", [index](Interpreter&, CallArgs& a) -> Value {
             if (a.positional.empty()) fail("loop.cycle() needs at least one argument");
             return a.positional[static_cast<size_t>(*index) % a.positional.size()];
           }));
  Value loop_value = Value::make_namespace(std::move(init));
  Object& loop = loop_value.as_namespace();
  inner->set("loop", loop_value);
  for (int64_t i = 0; i < len; ++i) {
    step();
    *index = i;
    bind_targets(*inner, n.targets, items[i]);
    loop.set("index", Value(i + 1));
    loop.set("index0", Value(i));
    loop.set("revindex", Value(len - i));
    loop.set("revindex0", Value(len - i - 1));
    loop.set("first", Value(i == 0));
    loop.set("last", Value(i == len - 1));
    loop.set("previtem", i > 0 ? items[i - 1] : Value::undefined("loop.previtem"));
    loop.set("nextitem", i + 1 < len ? items[i + 1] : Value::undefined("loop.nextitem"));
    exec(n.body, inner, out);
    if (jump_ == Jump::kBreak) {
      jump_ = Jump::kNone;
      break;
    }
    jump_ = Jump::kNone;
  }
}

void Interpreter::exec_set(const Node& n, const std::shared_ptr<Frame>& frame) {
  Value v = eval(*n.expr, frame);
  if (n.target_obj) {
    Value target = eval(*n.target_obj, frame);
    if (!target.is_namespace()) fail("cannot assign attribute on a non-namespace object");
    target.as_namespace().set(n.name, std::move(v));
    return;
  }
  if (n.targets.size() == 1) {
    frame->set(n.targets[0], std::move(v));
    return;
  }
  bind_targets(*frame, n.targets, v);
}

void Interpreter::define_macro(const Node& n, const std::shared_ptr<Frame>& frame, const std::string& name) {
  const Node* macro = &n;
  std::weak_ptr<Frame> defined_in = frame;
  frame->set(name, Value::callable(name, [macro, defined_in](Interpreter& in, CallArgs& args) {
               return in.call_macro(*macro, defined_in, args);
             }));
}

Value Interpreter::call_macro(const Node& macro, const std::weak_ptr<Frame>& defined_in, CallArgs& args) {
  std::shared_ptr<Frame> parent = defined_in.lock();
  if (!parent) fail("macro called after its defining scope ended");
  if (call_depth_ >= limits_.max_call_depth) fail_limit("macro calls nested too deeply");
  struct DepthGuard {
    int& d;
    ~DepthGuard() { --d; }
  } guard{++call_depth_};
  auto frame = std::make_shared<Frame>(parent);
  size_t next_positional = 0;
  Object extra_kwargs;
  for (const auto& [k, v] : args.keyword) {
    bool known = k == "caller";
    for (const MacroParam& p : macro.params) known = known || p.name == k;
    if (known) frame->set(k, v);
    else extra_kwargs.set(k, v);
  }
  for (const MacroParam& p : macro.params) {
    bool given_by_name = false;
    for (const auto& [k, v] : args.keyword) given_by_name = given_by_name || k == p.name;
    if (given_by_name) continue;
    if (next_positional < args.positional.size()) {
      frame->set(p.name, args.positional[next_positional++]);
    } else if (p.default_value) {
      frame->set(p.name, eval(*p.default_value, frame));
    } else {
      frame->set(p.name, Value::undefined(p.name));  // Jinja passes missing arguments as undefined
    }
  }
  Array varargs(args.positional.begin() + static_cast<std::ptrdiff_t>(next_positional), args.positional.end());
  frame->set("varargs", Value(std::move(varargs)));
  frame->set("kwargs", Value(std::move(extra_kwargs)));
  std::string out;
  Jump saved = jump_;
  jump_ = Jump::kNone;
  exec(macro.body, frame, out);
  jump_ = saved;
  return Value(std::move(out));
}

Value Interpreter::call(const Value& fn, CallArgs& args) {
  if (!fn.is_callable()) {
    if (fn.is_undefined()) fail("'" + fn.undefined_name() + "' is undefined");
    fail("'" + fn.type_name() + "' object is not callable");
  }
  step();
  return fn.as_callable().fn(*this, args);
}

Value Interpreter::apply_filter_chain(const Expr& filter, Value input, const std::shared_ptr<Frame>& frame) {
  // The chain is nested innermost-first; the innermost has a null operand.
  if (filter.args[0]) input = apply_filter_chain(*filter.args[0], std::move(input), frame);
  CallArgs args = eval_args(filter, 1, frame);
  return apply_filter(*this, filter.name, input, args);
}

// ---- expressions ----

Value Interpreter::eval(const Expr& e, const std::shared_ptr<Frame>& frame) {
  try {
    step();
    // The stack grows down on every platform tern targets; deep macro
    // recursion through deep expressions must fail before it overflows.
    char marker = 0;
    uintptr_t here = reinterpret_cast<uintptr_t>(&marker);
    if (here < stack_base_ && stack_base_ - here > limits_.max_stack_bytes)
      fail_limit("template nested too deeply for the native stack");
    return eval_inner(e, frame);
  } catch (RenderError& err) {
    if (!err.located) {
      err.located = true;
      err.status = Status(err.status.code(),
                          std::to_string(e.line) + ":" + std::to_string(e.col) + ": " + err.status.message());
    }
    throw;
  }
}

CallArgs Interpreter::eval_args(const Expr& e, size_t first, const std::shared_ptr<Frame>& frame) {
  CallArgs args;
  for (size_t i = first; i < e.args.size(); ++i) args.positional.push_back(eval(*e.args[i], frame));
  for (const auto& [k, v] : e.kwargs) args.keyword.emplace_back(k, eval(*v, frame));
  return args;
}

namespace {

std::optional<int64_t> slice_bound(const Value& v) {
  if (v.is_none() || v.is_undefined()) return std::nullopt;
  if (!v.is_int() && !v.is_bool()) fail("slice indices must be integers or None");
  return v.as_int();
}

}  // namespace

Value Interpreter::eval_compare(const Expr& e, const std::shared_ptr<Frame>& frame) {
  Value left = eval(*e.args[0], frame);
  size_t pos = 0;
  for (size_t i = 1; i < e.args.size(); ++i) {
    size_t sp = e.name.find(' ', pos);
    std::string op = e.name.substr(pos, sp == std::string::npos ? std::string::npos : sp - pos);
    pos = sp == std::string::npos ? e.name.size() : sp + 1;
    Value right = eval(*e.args[i], frame);
    if (!compare_op(op, left, right)) return Value(false);
    left = std::move(right);
  }
  return Value(true);
}

Value Interpreter::eval_inner(const Expr& e, const std::shared_ptr<Frame>& frame) {
  switch (e.kind) {
    case ExprKind::kLiteral: return e.literal;
    case ExprKind::kName: {
      const Value* v = frame->find(e.name);
      return v ? *v : Value::undefined(e.name);
    }
    case ExprKind::kList:
    case ExprKind::kTuple: {
      Array a;
      a.reserve(e.args.size());
      for (const auto& x : e.args) a.push_back(eval(*x, frame));
      Value v(std::move(a));
      return e.kind == ExprKind::kTuple ? std::move(v).mark_tuple() : v;
    }
    case ExprKind::kDict: {
      Object o;
      for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
        Value k = eval(*e.args[i], frame);
        o.set(k.str(), eval(*e.args[i + 1], frame));
      }
      return Value(std::move(o));
    }
    case ExprKind::kGetAttr: return get_attr(eval(*e.args[0], frame), e.name);
    case ExprKind::kGetItem: {
      Value obj = eval(*e.args[0], frame);
      return get_item(obj, eval(*e.args[1], frame));
    }
    case ExprKind::kSlice: {
      Value obj = eval(*e.args[0], frame);
      std::optional<int64_t> b[3];
      for (int i = 0; i < 3; ++i)
        if (e.args[1 + i]) b[i] = slice_bound(eval(*e.args[1 + i], frame));
      return slice(obj, b[0], b[1], b[2]);
    }
    case ExprKind::kCall: {
      Value fn = eval(*e.args[0], frame);
      CallArgs args = eval_args(e, 1, frame);
      return call(fn, args);
    }
    case ExprKind::kFilter: {
      Value input = eval(*e.args[0], frame);
      CallArgs args = eval_args(e, 1, frame);
      return apply_filter(*this, e.name, input, args);
    }
    case ExprKind::kTest: {
      Value v = eval(*e.args[0], frame);
      CallArgs args = eval_args(e, 1, frame);
      return Value(apply_test(*this, e.name, v, args) != e.negated);
    }
    case ExprKind::kNot: return Value(!eval(*e.args[0], frame).truthy());
    case ExprKind::kNeg:
    case ExprKind::kPos: {
      Value v = eval(*e.args[0], frame);
      if (!v.is_number()) fail("bad operand type for unary " + std::string(e.kind == ExprKind::kNeg ? "-" : "+") +
                               ": '" + v.type_name() + "'");
      if (e.kind == ExprKind::kPos) return v.is_bool() ? Value(v.as_int()) : v;
      if (v.is_float()) return Value(-v.as_double());
      if (v.as_int() == INT64_MIN) fail("integer overflow");
      return Value(-v.as_int());
    }
    case ExprKind::kAnd: {
      Value l = eval(*e.args[0], frame);
      return l.truthy() ? eval(*e.args[1], frame) : l;
    }
    case ExprKind::kOr: {
      Value l = eval(*e.args[0], frame);
      return l.truthy() ? l : eval(*e.args[1], frame);
    }
    case ExprKind::kBinary: {
      Value l = eval(*e.args[0], frame);
      Value r = eval(*e.args[1], frame);
      return binary_op(e.name, l, r, *this);
    }
    case ExprKind::kCompare: return eval_compare(e, frame);
    case ExprKind::kCond:
      if (eval(*e.args[0], frame).truthy()) return eval(*e.args[1], frame);
      return e.args[2] ? eval(*e.args[2], frame) : Value::undefined();
  }
  return Value::undefined();
}

}  // namespace tern::tpl
