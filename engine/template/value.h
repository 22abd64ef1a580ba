// Value: the dynamic value a chat template computes with.
//
// It models the few Python types a Jinja2 template sees (None, bool, int,
// float, str, list, dict) plus Jinja's Undefined, callables (macros, globals,
// bound methods) and namespace() objects. Lists and dicts are immutable and
// shared (HF renders in an ImmutableSandboxedEnvironment, so templates cannot
// mutate them); only a namespace is mutable, and copies of it alias.
//
// Printing and comparison follow Python: str(True) == "True", 1 == 1.0,
// str(['a']) == "['a']", dict keys keep insertion order.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "tern/status.h"

namespace tern::tpl {

class Value;
class Interpreter;

using Array = std::vector<Value>;

class Object;
struct CallArgs;

// Native functions signal errors by throwing RenderError (interpreter.h);
// the public API converts it to a Status.
using NativeFn = std::function<Value(Interpreter&, CallArgs&)>;

struct Callable {
  std::string name;
  NativeFn fn;
};

struct Undefined {
  std::string name;  // what was looked up, for error messages
};

class Value {
 public:
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kArray, kObject, kCallable, kNamespace };

  Value() : v_(Undefined{}) {}
  static Value undefined(std::string name = {}) { return Value(Undefined{std::move(name)}); }
  static Value none() { return Value(std::monostate{}); }
  Value(bool b) : v_(b) {}                       // NOLINT: implicit by design
  Value(int64_t i) : v_(i) {}                    // NOLINT
  Value(int i) : v_(int64_t{i}) {}               // NOLINT
  Value(double d) : v_(d) {}                     // NOLINT
  Value(std::string s) : v_(std::move(s)) {}     // NOLINT
  Value(const char* s) : v_(std::string(s)) {}   // NOLINT
  Value(Array a) : v_(std::make_shared<const Array>(std::move(a))) {}       // NOLINT
  Value(Object o);  // NOLINT: implicit by design (defined below Object)
  static Value callable(std::string name, NativeFn fn);
  static Value make_namespace(Object initial);

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_undefined() const { return kind() == Kind::kUndefined; }
  bool is_none() const { return kind() == Kind::kNone; }
  bool is_bool() const { return kind() == Kind::kBool; }
  bool is_int() const { return kind() == Kind::kInt; }
  bool is_float() const { return kind() == Kind::kFloat; }
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  bool is_string() const { return kind() == Kind::kString; }
  bool is_array() const { return kind() == Kind::kArray; }
  bool is_object() const { return kind() == Kind::kObject; }
  bool is_callable() const { return kind() == Kind::kCallable; }
  bool is_namespace() const { return kind() == Kind::kNamespace; }

  // Accessors; each asserts the kind.
  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const;  // int or bool
  double as_double() const;  // int, float or bool
  const std::string& as_string() const { return std::get<std::string>(v_); }
  const Array& as_array() const { return *std::get<std::shared_ptr<const Array>>(v_); }
  const Object& as_object() const { return *std::get<std::shared_ptr<const Object>>(v_); }
  const Callable& as_callable() const { return *std::get<std::shared_ptr<const Callable>>(v_); }
  Object& as_namespace() const { return *std::get<std::shared_ptr<Object>>(v_); }
  const std::string& undefined_name() const { return std::get<Undefined>(v_).name; }

  // Jinja's Markup: a string marked by |safe or |escape. Adding a plain
  // string to it with `+` HTML-escapes the plain one (HF renders that way).
  bool is_safe() const { return safe_; }
  Value&& mark_safe() && {
    safe_ = is_string();
    return std::move(*this);
  }
  // A Python tuple: a list that prints as "(a, b)".
  bool is_tuple() const { return tuple_; }
  Value&& mark_tuple() && {
    tuple_ = is_array();
    return std::move(*this);
  }

  bool truthy() const;
  // Python's str(): what {{ value }} prints. Undefined prints as "".
  std::string str() const;
  // Python's repr(), used for items inside a printed list or dict.
  std::string repr() const;
  // The Python type name, for error messages.
  std::string type_name() const;

  // Python ==. Numbers compare by value across int/float/bool.
  friend bool operator==(const Value& a, const Value& b);

  static Value from_json(const nlohmann::ordered_json& j);

 private:
  explicit Value(Undefined u) : v_(std::move(u)) {}
  explicit Value(std::monostate n) : v_(n) {}
  // Order matches Kind.
  std::variant<Undefined, std::monostate, bool, int64_t, double, std::string, std::shared_ptr<const Array>,
               std::shared_ptr<const Object>, std::shared_ptr<const Callable>, std::shared_ptr<Object>>
      v_;
  bool safe_ = false;
  bool tuple_ = false;
};

// A dict with string keys in insertion order. Non-string keys of template
// literals are stored by their str() form.
class Object {
 public:
  const Value* find(std::string_view key) const;
  void set(std::string key, Value value);  // replaces in place or appends
  size_t size() const { return items_.size(); }
  const std::vector<std::pair<std::string, Value>>& items() const { return items_; }

 private:
  std::vector<std::pair<std::string, Value>> items_;
  std::unordered_map<std::string, size_t> index_;
};

// Arguments of one call, positional then keyword, as written at the call site.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;

  // The argument named `name`, else the positional one at `pos` (if >= 0),
  // else nullptr.
  const Value* get(std::string_view name, int pos) const;
};

inline Value::Value(Object o) : v_(std::make_shared<const Object>(std::move(o))) {}

// Markup.escape(): & < > " ' as HTML entities.
std::string html_escape(std::string_view s);

// Python's repr(float): the shortest string that round-trips, with ".0" on
// integral values and an exponent outside [1e-4, 1e16).
std::string python_float_repr(double d);

// json.dumps(value, ensure_ascii=False, indent=indent, separators=...) as HF's
// tojson filter calls it: keys in insertion order; indent < 0 means none.
// Fails on values JSON cannot hold (callables, undefined inside containers).
Result<std::string> to_json(const Value& value, int indent, std::string_view item_sep, std::string_view key_sep);

}  // namespace tern::tpl
