// Interpreter: renders a parsed template (ast.h) against a set of variables.
//
// Scoping follows Jinja2: `for`, macro calls, call blocks and `with` open a
// frame; `set` writes the innermost frame; `if` opens none. Macros see the
// frame they were defined in (a live view, so a namespace set before the
// call is visible).
//
// Errors: native code throws RenderError; render() catches it and returns a
// Status ("line:col: message" for evaluation errors; a template's own
// raise_exception(msg) returns msg as is). Limits bound what a hostile
// template can do: call depth, evaluation steps, output and string size.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "template/ast.h"
#include "template/value.h"

namespace tern::tpl {

struct RenderError {
  Status status;
  bool located = false;  // a line:col prefix was added, or must not be
};

// Throws RenderError(InvalidArgument(msg)).
[[noreturn]] void fail(const std::string& msg);
// Throws RenderError(ResourceExhausted(msg)).
[[noreturn]] void fail_limit(const std::string& msg);

struct RenderLimits {
  size_t max_output_bytes = 8u << 20;  // also the largest string or list a template may build
  int max_call_depth = 32;             // nested macro calls (and caller() re-entries)
  uint64_t max_steps = 5'000'000;      // expressions evaluated + statements run + loop iterations
  size_t max_stack_bytes = 1u << 20;   // native stack the evaluator may use below render()'s frame
};

class Frame {
 public:
  explicit Frame(std::shared_ptr<Frame> parent) : parent_(std::move(parent)) {}
  const Value* find(const std::string& name) const;
  void set(const std::string& name, Value value) { vars_[name] = std::move(value); }

 private:
  std::unordered_map<std::string, Value> vars_;
  std::shared_ptr<Frame> parent_;
};

class Interpreter {
 public:
  explicit Interpreter(RenderLimits limits) : limits_(limits) {}

  // Runs `body` with `globals` as the outermost frame. Not re-entrant.
  Result<std::string> render(const Body& body, std::shared_ptr<Frame> globals);

  // Calls a callable value; throws RenderError on a non-callable.
  Value call(const Value& fn, CallArgs& args);
  const RenderLimits& limits() const { return limits_; }
  // Counts one unit of work against max_steps.
  void step();
  // Fails when a value of `bytes` would exceed the size limit.
  void check_size(size_t bytes) const;
  // Fails when `count` x `times` items of `item_bytes` each would exceed it
  // (overflow-safe; lists are charged their in-memory size).
  void check_items(uint64_t count, uint64_t times, uint64_t item_bytes) const;

 private:
  enum class Jump { kNone, kBreak, kContinue };

  void exec(const Body& body, const std::shared_ptr<Frame>& frame, std::string& out);
  void exec_node(const Node& n, const std::shared_ptr<Frame>& frame, std::string& out);
  void exec_for(const Node& n, const std::shared_ptr<Frame>& frame, std::string& out);
  void exec_set(const Node& n, const std::shared_ptr<Frame>& frame);
  void define_macro(const Node& n, const std::shared_ptr<Frame>& frame, const std::string& name);
  Value call_macro(const Node& macro, const std::weak_ptr<Frame>& defined_in, CallArgs& args);
  Value apply_filter_chain(const Expr& filter, Value input, const std::shared_ptr<Frame>& frame);
  void emit(std::string& out, std::string_view text);

  Value eval(const Expr& e, const std::shared_ptr<Frame>& frame);
  Value eval_inner(const Expr& e, const std::shared_ptr<Frame>& frame);
  CallArgs eval_args(const Expr& e, size_t first, const std::shared_ptr<Frame>& frame);
  Value eval_compare(const Expr& e, const std::shared_ptr<Frame>& frame);

  RenderLimits limits_;
  uintptr_t stack_base_ = 0;
  uint64_t steps_ = 0;
  int call_depth_ = 0;
  Jump jump_ = Jump::kNone;
};

// Python semantics for the binary operators + - * / // % ** ~ and the
// comparisons == != < <= > >= in notin. Throw RenderError on a type error.
Value binary_op(const std::string& op, const Value& a, const Value& b, const Interpreter& in);
bool compare_op(const std::string& op, const Value& a, const Value& b);

}  // namespace tern::tpl
