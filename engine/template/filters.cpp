// Jinja2 filters and tests (builtins.h), with HF's tojson.
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "template/builtins.h"
#include "template/text.h"

namespace tern::tpl {
namespace {

// soft_str(): what string filters apply to; Undefined becomes "".
std::string as_text(const Value& v) { return v.str(); }

bool arg_bool(const CallArgs& a, const char* name, int pos, bool dflt) {
  const Value* v = a.get(name, pos);
  return v ? v->truthy() : dflt;
}

int64_t arg_int(const CallArgs& a, const char* name, int pos, int64_t dflt) {
  const Value* v = a.get(name, pos);
  if (!v || v->is_none()) return dflt;
  if (!v->is_int() && !v->is_bool()) fail(std::string("argument '") + name + "' must be an integer");
  return v->as_int();
}

// Jinja's attribute lookup for map/selectattr/sort: "a.b" walks dicts, and
// a digit part indexes a list.
Value lookup_path(const Value& item, const std::string& path) {
  Value cur = item;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t dot = path.find('.', pos);
    std::string part = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    if (cur.is_undefined()) return cur;
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    cur = digits ? get_item(cur, Value(static_cast<int64_t>(std::stoll(part)))) : get_item(cur, Value(part));
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return cur;
}

Value sorted_keys_copy(const Value& v) {
  if (v.is_array()) {
    Array out;
    for (const Value& e : v.as_array()) out.push_back(sorted_keys_copy(e));
    return Value(std::move(out));
  }
  if (!v.is_object()) return v;
  std::vector<std::pair<std::string, Value>> items = v.as_object().items();
  std::sort(items.begin(), items.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  Object o;
  for (auto& [k, e] : items) o.set(k, sorted_keys_copy(e));
  return Value(std::move(o));
}

// HF: json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys).
Value tojson(const Value& v, const CallArgs& a) {
  const Value* indent_v = a.get("indent", 0);
  int indent = -1;
  if (indent_v && !indent_v->is_none()) {
    if (!indent_v->is_int()) fail("tojson indent must be an integer");
    indent = static_cast<int>(std::clamp<int64_t>(indent_v->as_int(), 0, 64));
  }
  std::string item_sep = indent >= 0 ? "," : ", ", key_sep = ": ";
  if (const Value* seps = a.get("separators", 2); seps && !seps->is_none()) {
    if (!seps->is_array() || seps->as_array().size() != 2 || !seps->as_array()[0].is_string() ||
        !seps->as_array()[1].is_string())
      fail("tojson separators must be a pair of strings");
    item_sep = seps->as_array()[0].as_string();
    key_sep = seps->as_array()[1].as_string();
  }
  Value target = arg_bool(a, "sort_keys", 3, false) ? sorted_keys_copy(v) : v;
  Result<std::string> s = to_json(target, indent, item_sep, key_sep);
  if (!s.ok()) fail(s.status().message());
  return Value(std::move(s).value());
}

Value indent(const Value& v, const CallArgs& a) {
  std::string width;
  if (const Value* w = a.get("width", 0); w && w->is_string()) width = w->as_string();
  else width.assign(static_cast<size_t>(std::clamp<int64_t>(arg_int(a, "width", 0, 4), 0, 256)), ' ');
  bool first = arg_bool(a, "first", 1, false);
  bool blank = arg_bool(a, "blank", 2, false);
  std::string s = as_text(v) + "\n";  // Jinja's quirk: splitlines() after appending a newline
  std::vector<std::string> lines = text::split(s, "\n", false, -1);
  lines.pop_back();
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) out += '\n';
    bool pad = (i == 0 ? first : true) && (blank || !lines[i].empty());
    if (pad) out += width;
    out += lines[i];
  }
  return Value(std::move(out));
}

// A comparison key for unique/sort: strings lowercased unless case-sensitive.
Value sort_key(const Value& v, const std::string& attribute, bool case_sensitive) {
  Value k = attribute.empty() ? v : lookup_path(v, attribute);
  if (!case_sensitive && k.is_string()) return Value(text::lower(k.as_string()));
  return k;
}

// Shared by select/reject/selectattr/rejectattr.
Value select(Interpreter& in, const Value& value, CallArgs& a, bool by_attr, bool keep_when) {
  Array out;
  if (!value.truthy()) return Value(std::move(out));
  std::string attr;
  size_t next = 0;
  if (by_attr) {
    if (a.positional.empty() || !a.positional[0].is_string()) fail("selectattr/rejectattr need an attribute name");
    attr = a.positional[0].as_string();
    next = 1;
  }
  std::string test;
  CallArgs test_args;
  if (next < a.positional.size()) {
    if (!a.positional[next].is_string()) fail("test name must be a string");
    test = a.positional[next].as_string();
    test_args.positional.assign(a.positional.begin() + static_cast<std::ptrdiff_t>(next + 1), a.positional.end());
  }
  for (const Value& item : iterate(value)) {
    in.step();
    Value subject = by_attr ? lookup_path(item, attr) : item;
    bool ok = test.empty() ? subject.truthy() : apply_test(in, test, subject, test_args);
    if (ok == keep_when) out.push_back(item);
  }
  return Value(std::move(out));
}

Value map_filter(Interpreter& in, const Value& value, CallArgs& a) {
  Array out;
  if (const Value* attr = a.get("attribute", -1)) {
    if (!attr->is_string()) fail("map attribute must be a string");
    const Value* dflt = a.get("default", -1);
    for (const Value& item : iterate(value)) {
      Value v = lookup_path(item, attr->as_string());
      out.push_back(v.is_undefined() && dflt ? *dflt : v);
    }
    return Value(std::move(out));
  }
  if (a.positional.empty() || !a.positional[0].is_string()) fail("map needs a filter name or attribute=");
  std::string filter = a.positional[0].as_string();
  CallArgs rest;
  rest.positional.assign(a.positional.begin() + 1, a.positional.end());
  rest.keyword = a.keyword;
  for (const Value& item : iterate(value)) {
    in.step();
    CallArgs copy = rest;
    out.push_back(apply_filter(in, filter, item, copy));
  }
  return Value(std::move(out));
}

Value round_filter(const Value& v, const CallArgs& a) {
  if (!v.is_number()) fail("round needs a number, not " + v.type_name());
  int64_t precision = arg_int(a, "precision", 0, 0);
  std::string method = "common";
  if (const Value* m = a.get("method", 1); m && m->is_string()) method = m->as_string();
  double scale = std::pow(10.0, static_cast<double>(precision));
  double x = v.as_double() * scale;
  if (method == "common") x = std::nearbyint(x);  // Python rounds half to even
  else if (method == "floor") x = std::floor(x);
  else if (method == "ceil") x = std::ceil(x);
  else fail("round method must be common, floor or ceil");
  return Value(x / scale);
}

Value to_int(const Value& v, const CallArgs& a) {
  Value dflt = a.get("default", 0) ? *a.get("default", 0) : Value(0);
  int64_t base = arg_int(a, "base", 1, 10);
  if (v.is_int() || v.is_bool()) return Value(v.as_int());
  if (v.is_float()) {
    double d = v.as_double();
    if (!std::isfinite(d) || std::fabs(d) > 9e18) return dflt;
    return Value(static_cast<int64_t>(d));
  }
  if (!v.is_string()) return dflt;
  std::string s = text::strip(v.as_string(), "", true, true);
  if (s.empty() || base < 2 || base > 36) return dflt;
  char* end = nullptr;
  errno = 0;
  long long i = std::strtoll(s.c_str(), &end, static_cast<int>(base));
  if (errno == 0 && end && *end == '\0') return Value(static_cast<int64_t>(i));
  double d = std::strtod(s.c_str(), &end);  // Jinja falls back to int(float(s))
  if (end && *end == '\0' && std::isfinite(d) && std::fabs(d) < 9e18) return Value(static_cast<int64_t>(d));
  return dflt;
}

Value to_float(const Value& v, const CallArgs& a) {
  Value dflt = a.get("default", 0) ? *a.get("default", 0) : Value(0.0);
  if (v.is_number()) return Value(v.as_double());
  if (!v.is_string()) return dflt;
  std::string s = text::strip(v.as_string(), "", true, true);
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (s.empty() || !end || *end != '\0') return dflt;
  return Value(d);
}

}  // namespace

Value apply_filter(Interpreter& in, const std::string& name, const Value& v, CallArgs& a) {
  in.step();
  if (name == "trim") {
    const Value* chars = a.get("chars", 0);
    return Value(text::strip(as_text(v), chars && chars->is_string() ? chars->as_string() : "", true, true));
  }
  if (name == "tojson") return tojson(v, a);
  if (name == "length" || name == "count") return Value(length(v));
  if (name == "upper") return Value(text::upper(as_text(v)));
  if (name == "lower") return Value(text::lower(as_text(v)));
  if (name == "title") return Value(text::jinja_title(as_text(v)));
  if (name == "capitalize") return Value(text::capitalize(as_text(v)));
  if (name == "string") return Value(as_text(v));
  if (name == "safe") return Value(as_text(v)).mark_safe();
  if (name == "escape" || name == "e" || name == "forceescape") {
    if (v.is_safe() && name != "forceescape") return v;
    return Value(html_escape(as_text(v))).mark_safe();
  }
  if (name == "replace") {
    if (a.positional.size() < 2) fail("replace needs old and new strings");
    int64_t count = arg_int(a, "count", 2, -1);
    std::string out = text::replace(as_text(v), as_text(a.positional[0]), as_text(a.positional[1]), count);
    in.check_size(out.size());
    return Value(std::move(out));
  }
  if (name == "join") {
    const Value* sep = a.get("d", 0);
    const Value* attr = a.get("attribute", 1);
    std::string out;
    bool first = true;
    for (const Value& item : iterate(v)) {
      if (!first && sep) out += as_text(*sep);
      first = false;
      out += as_text(attr && attr->is_string() ? lookup_path(item, attr->as_string()) : item);
      in.check_size(out.size());
    }
    return Value(std::move(out));
  }
  if (name == "default" || name == "d") {
    Value dflt = a.get("default_value", 0) ? *a.get("default_value", 0) : Value("");
    bool boolean = arg_bool(a, "boolean", 1, false);
    if (v.is_undefined() || (boolean && !v.truthy())) return dflt;
    return v;
  }
  if (name == "first" || name == "last") {
    std::vector<Value> items = iterate(v);
    if (items.empty()) return Value::undefined(name);
    return name == "first" ? items.front() : items.back();
  }
  if (name == "list") return Value(Array(iterate(v)));
  if (name == "items") {
    if (v.is_undefined()) return Value(Array{});
    if (!v.is_object()) fail("Can only get item pairs from a mapping.");
    Array out;
    for (const auto& [k, e] : v.as_object().items()) out.push_back(Value(Array{Value(k), e}).mark_tuple());
    return Value(std::move(out));
  }
  if (name == "dictsort") {
    if (!v.is_object()) fail("dictsort needs a mapping");
    bool by_value = a.get("by", 1) && a.get("by", 1)->str() == "value";
    bool reverse = arg_bool(a, "reverse", 2, false);
    std::vector<std::pair<std::string, Value>> items = v.as_object().items();
    std::stable_sort(items.begin(), items.end(), [&](const auto& x, const auto& y) {
      bool lt = by_value ? compare_op("<", sort_key(x.second, "", false), sort_key(y.second, "", false))
                         : text::lower(x.first) < text::lower(y.first);
      return lt;
    });
    if (reverse) std::reverse(items.begin(), items.end());
    Array out;
    for (auto& [k, e] : items) out.push_back(Value(Array{Value(k), e}).mark_tuple());
    return Value(std::move(out));
  }
  if (name == "int") return to_int(v, a);
  if (name == "float") return to_float(v, a);
  if (name == "abs") {
    if (v.is_float()) return Value(std::fabs(v.as_double()));
    if (!v.is_number()) fail("bad operand type for abs(): '" + v.type_name() + "'");
    if (v.as_int() == INT64_MIN) fail("integer overflow");
    return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
  }
  if (name == "round") return round_filter(v, a);
  if (name == "map") return map_filter(in, v, a);
  if (name == "select") return select(in, v, a, false, true);
  if (name == "reject") return select(in, v, a, false, false);
  if (name == "selectattr") return select(in, v, a, true, true);
  if (name == "rejectattr") return select(in, v, a, true, false);
  if (name == "unique") {
    bool cs = arg_bool(a, "case_sensitive", 0, false);
    const Value* attr = a.get("attribute", 1);
    std::string path = attr && attr->is_string() ? attr->as_string() : "";
    Array out;
    std::vector<Value> seen;
    for (const Value& item : iterate(v)) {
      in.step();
      Value key = sort_key(item, path, cs);
      if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
      seen.push_back(std::move(key));
      out.push_back(item);
    }
    return Value(std::move(out));
  }
  if (name == "sort") {
    bool reverse = arg_bool(a, "reverse", 0, false);
    bool cs = arg_bool(a, "case_sensitive", 1, false);
    const Value* attr = a.get("attribute", 2);
    std::string path = attr && attr->is_string() ? attr->as_string() : "";
    std::vector<Value> items = iterate(v);
    std::vector<std::pair<Value, Value>> keyed;
    for (Value& item : items) keyed.emplace_back(sort_key(item, path, cs), std::move(item));
    std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
      return reverse ? compare_op("<", y.first, x.first) : compare_op("<", x.first, y.first);
    });
    Array out;
    for (auto& [_, item] : keyed) out.push_back(std::move(item));
    return Value(std::move(out));
  }
  if (name == "reverse") {
    if (v.is_string()) return slice(v, std::nullopt, std::nullopt, -1);
    std::vector<Value> items = iterate(v);
    std::reverse(items.begin(), items.end());
    return Value(Array(std::move(items)));
  }
  if (name == "indent") return indent(v, a);
  if (name == "sum") {
    const Value* attr = a.get("attribute", 0);
    Value total = a.get("start", 1) ? *a.get("start", 1) : Value(0);
    for (const Value& item : iterate(v))
      total = binary_op("+", total, attr && attr->is_string() ? lookup_path(item, attr->as_string()) : item, in);
    return total;
  }
  if (name == "min" || name == "max") {
    std::vector<Value> items = iterate(v);
    if (items.empty()) return Value::undefined(name);
    Value best = items[0];
    for (const Value& item : items)
      if (compare_op(name == "min" ? "<" : ">", sort_key(item, "", false), sort_key(best, "", false))) best = item;
    return best;
  }
  if (name == "attr") {
    if (a.positional.empty() || !a.positional[0].is_string()) fail("attr needs a name");
    return get_attr(v, a.positional[0].as_string());
  }
  if (name == "wordcount") return Value(static_cast<int64_t>(text::split(as_text(v), "", true, -1).size()));
  if (name == "center") {
    int64_t width = std::clamp<int64_t>(arg_int(a, "width", 0, 80), 0, 4096);
    std::string s = as_text(v);
    int64_t n = text::code_point_count(s);
    if (n >= width) return Value(s);
    int64_t left = (width - n) / 2;
    return Value(std::string(static_cast<size_t>(left), ' ') + s +
                 std::string(static_cast<size_t>(width - n - left), ' '));
  }
  fail("unknown filter '" + name + "'");
}

bool apply_test(Interpreter& in, const std::string& name, const Value& v, CallArgs& a) {
  using K = Value::Kind;
  auto arg = [&]() -> const Value& {
    if (a.positional.empty()) fail("test '" + name + "' needs an argument");
    return a.positional[0];
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_object();
  if (name == "iterable") {
    K k = v.kind();
    return k == K::kUndefined || k == K::kString || k == K::kArray || k == K::kObject;
  }
  if (name == "sequence") {
    K k = v.kind();
    return k == K::kUndefined || k == K::kString || k == K::kArray || k == K::kObject;
  }
  if (name == "number") return v.is_number();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "callable") return v.is_callable();
  if (name == "equalto" || name == "eq" || name == "==" || name == "sameas") return v == arg();
  if (name == "ne" || name == "!=") return !(v == arg());
  if (name == "lt" || name == "lessthan" || name == "<") return compare_op("<", v, arg());
  if (name == "le" || name == "<=") return compare_op("<=", v, arg());
  if (name == "gt" || name == "greaterthan" || name == ">") return compare_op(">", v, arg());
  if (name == "ge" || name == ">=") return compare_op(">=", v, arg());
  if (name == "in") return compare_op("in", v, arg());
  if (name == "odd" || name == "even" || name == "divisibleby") {
    if (!v.is_int() && !v.is_bool()) fail("test '" + name + "' needs an integer");
    int64_t x = v.as_int();
    if (name == "odd") return x % 2 != 0;
    if (name == "even") return x % 2 == 0;
    const Value& d = arg();
    if (!d.is_int() || d.as_int() == 0) fail("divisibleby needs a non-zero integer");
    return x % d.as_int() == 0;
  }
  if (name == "lower") return v.is_string() && text::lower(v.as_string()) == v.as_string();
  if (name == "upper") return v.is_string() && text::upper(v.as_string()) == v.as_string();
  (void)in;
  fail("unknown test '" + name + "'");
}

}  // namespace tern::tpl
