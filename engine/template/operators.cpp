// Python semantics of the binary operators and comparisons (interpreter.h).
#include <cmath>

#include "template/builtins.h"
#include "template/interpreter.h"

namespace tern::tpl {
namespace {

[[noreturn]] void unsupported(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) fail("'" + a.undefined_name() + "' is undefined");
  if (b.is_undefined()) fail("'" + b.undefined_name() + "' is undefined");
  fail("unsupported operand type(s) for " + op + ": '" + a.type_name() + "' and '" + b.type_name() + "'");
}

// Python ints do not overflow; tern's are 64-bit and fail instead.
template <typename Op>
Value checked(Op op, int64_t x, int64_t y) {
  int64_t r = 0;
  if (op(x, y, &r)) fail("integer overflow");
  return Value(r);
}

double floor_mod(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  return m;
}

Value arithmetic(const std::string& op, const Value& a, const Value& b) {
  if (op == "/") {
    if (b.as_double() == 0) fail("division by zero");
    return Value(a.as_double() / b.as_double());
  }
  if (a.is_float() || b.is_float()) {
    double x = a.as_double(), y = b.as_double();
    if (op == "+") return Value(x + y);
    if (op == "-") return Value(x - y);
    if (op == "*") return Value(x * y);
    if (op == "**") return Value(std::pow(x, y));
    if (y == 0) fail("float division by zero");
    if (op == "//") return Value(std::floor(x / y));
    return Value(floor_mod(x, y));
  }
  int64_t x = a.as_int(), y = b.as_int();
  if (op == "+") return checked([](int64_t p, int64_t q, int64_t* r) { return __builtin_add_overflow(p, q, r); }, x, y);
  if (op == "-") return checked([](int64_t p, int64_t q, int64_t* r) { return __builtin_sub_overflow(p, q, r); }, x, y);
  if (op == "*") return checked([](int64_t p, int64_t q, int64_t* r) { return __builtin_mul_overflow(p, q, r); }, x, y);
  if (op == "**") {
    if (y < 0) return Value(std::pow(static_cast<double>(x), static_cast<double>(y)));
    int64_t acc = 1;
    for (int64_t i = 0; i < y; ++i) {
      if (__builtin_mul_overflow(acc, x, &acc)) fail("integer overflow");
      if (acc == 0 || acc == 1) break;  // 0**n and 1**n settle at once
    }
    return Value(acc);
  }
  if (y == 0) fail("integer division or modulo by zero");
  if (x == INT64_MIN && y == -1) fail("integer overflow");
  int64_t q = x / y, m = x % y;
  if (m != 0 && ((m < 0) != (y < 0))) {
    --q;
    m += y;
  }
  return Value(op == "//" ? q : m);
}

Value repeat(const Value& seq, int64_t n, const Interpreter& in) {
  if (n <= 0) return seq.is_string() ? Value(std::string()) : Value(Array{});
  if (seq.is_string()) {
    const std::string& s = seq.as_string();
    in.check_items(s.size(), static_cast<uint64_t>(n), 1);
    std::string out;
    out.reserve(s.size() * static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out += s;
    return Value(std::move(out));
  }
  const Array& a = seq.as_array();
  in.check_items(a.size(), static_cast<uint64_t>(n), sizeof(Value));
  Array out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), a.begin(), a.end());
  return Value(std::move(out));
}

// Orders two values for < <= > >=; fails where Python would.
int order(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      double x = a.as_double(), y = b.as_double();
      return x < y ? -1 : x > y ? 1 : 0;
    }
    int64_t x = a.as_int(), y = b.as_int();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    int c = a.as_string().compare(b.as_string());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.is_array() && b.is_array()) {
    const Array& x = a.as_array();
    const Array& y = b.as_array();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (x[i] == y[i]) continue;
      return order(x[i], y[i]);
    }
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  if (a.is_undefined()) fail("'" + a.undefined_name() + "' is undefined");
  if (b.is_undefined()) fail("'" + b.undefined_name() + "' is undefined");
  fail("'<' not supported between instances of '" + a.type_name() + "' and '" + b.type_name() + "'");
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::kString:
      if (!item.is_string()) fail("'in <string>' requires string as left operand, not " + item.type_name());
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Kind::kArray:
      for (const Value& v : container.as_array())
        if (v == item) return true;
      return false;
    case Value::Kind::kObject:
      return item.is_string() && container.as_object().find(item.as_string()) != nullptr;
    case Value::Kind::kNamespace:
      return item.is_string() && container.as_namespace().find(item.as_string()) != nullptr;
    case Value::Kind::kUndefined: return false;  // iterating Undefined yields nothing
    default: fail("argument of type '" + container.type_name() + "' is not iterable");
  }
}

}  // namespace

Value binary_op(const std::string& op, const Value& a, const Value& b, const Interpreter& in) {
  if (op == "~") {
    std::string s = a.str();
    std::string t = b.str();
    in.check_size(s.size() + t.size());
    return Value(s + t);
  }
  if (op == "+") {
    if (a.is_string() && b.is_string()) {
      in.check_size(a.as_string().size() + b.as_string().size());
      if (a.is_safe() != b.is_safe()) {  // Markup + str escapes the str
        std::string l = a.is_safe() ? a.as_string() : html_escape(a.as_string());
        std::string r = b.is_safe() ? b.as_string() : html_escape(b.as_string());
        return Value(l + r).mark_safe();
      }
      Value out(a.as_string() + b.as_string());
      return a.is_safe() ? std::move(out).mark_safe() : out;
    }
    if (a.is_array() && b.is_array()) {
      in.check_items(a.as_array().size() + b.as_array().size(), 1, sizeof(Value));
      Array out = a.as_array();
      out.insert(out.end(), b.as_array().begin(), b.as_array().end());
      return Value(std::move(out));
    }
  }
  if (op == "*") {
    if ((a.is_string() || a.is_array()) && (b.is_int() || b.is_bool())) return repeat(a, b.as_int(), in);
    if ((b.is_string() || b.is_array()) && (a.is_int() || a.is_bool())) return repeat(b, a.as_int(), in);
  }
  if (a.is_number() && b.is_number()) return arithmetic(op, a, b);
  unsupported(op, a, b);
}

bool compare_op(const std::string& op, const Value& a, const Value& b) {
  if (op == "==") return a == b;
  if (op == "!=") return !(a == b);
  if (op == "in") return contains(b, a);
  if (op == "notin") return !contains(b, a);
  int c = order(a, b);
  if (op == "<") return c < 0;
  if (op == "<=") return c <= 0;
  if (op == ">") return c > 0;
  return c >= 0;
}

}  // namespace tern::tpl
