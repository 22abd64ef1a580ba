// Item/attribute access, iteration, Python methods and globals (builtins.h).
// Filters and tests live in filters.cpp.
#include <algorithm>
#include <ctime>

#include "template/builtins.h"
#include "template/text.h"

namespace tern::tpl {
namespace {

const std::string& want_string(const Value& v, const char* what) {
  if (!v.is_string()) fail(std::string(what) + " must be a string, not " + v.type_name());
  return v.as_string();
}

int64_t want_int(const Value& v, const char* what) {
  if (!v.is_int() && !v.is_bool()) fail(std::string(what) + " must be an integer, not " + v.type_name());
  return v.as_int();
}

// `a.positional[i]` or `fallback`.
Value arg_or(const CallArgs& a, const char* name, int pos, Value fallback) {
  const Value* v = a.get(name, pos);
  return v ? *v : std::move(fallback);
}

Value string_array(std::vector<std::string> parts) {
  Array out;
  out.reserve(parts.size());
  for (auto& p : parts) out.emplace_back(std::move(p));
  return Value(std::move(out));
}

// str.format with "{}", "{0}" and "{name}" fields; format specs are ignored.
std::string py_format(const std::string& fmt, const CallArgs& a) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    char c = fmt[i];
    if (c == '{' && i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out += '{';
      ++i;
    } else if (c == '}' && i + 1 < fmt.size() && fmt[i + 1] == '}') {
      out += '}';
      ++i;
    } else if (c == '{') {
      size_t close = fmt.find('}', i);
      if (close == std::string::npos) fail("str.format: single '{' encountered");
      std::string field = fmt.substr(i + 1, close - i - 1);
      field = field.substr(0, field.find_first_of(":!"));
      const Value* v = nullptr;
      if (field.empty()) {
        v = a.get("", static_cast<int>(auto_index++));
      } else if (std::all_of(field.begin(), field.end(), ::isdigit)) {
        v = a.get("", std::stoi(field));
      } else {
        v = a.get(field, -1);
      }
      if (!v) fail("str.format: no argument for field '" + field + "'");
      out += v->str();
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

bool affix_match(const std::string& s, const Value& affix, bool prefix) {
  auto one = [&](const Value& v) {
    const std::string& p = want_string(v, prefix ? "startswith argument" : "endswith argument");
    if (p.size() > s.size()) return false;
    return prefix ? s.compare(0, p.size(), p) == 0 : s.compare(s.size() - p.size(), p.size(), p) == 0;
  };
  if (affix.is_array()) {
    for (const Value& v : affix.as_array())
      if (one(v)) return true;
    return false;
  }
  return one(affix);
}

Value string_method(const std::string& s, const std::string& name, CallArgs& a) {
  auto chars = [&]() -> std::string {
    const Value* c = a.get("chars", 0);
    return c && !c->is_none() ? want_string(*c, "strip argument") : std::string();
  };
  if (name == "strip") return Value(text::strip(s, chars(), true, true));
  if (name == "lstrip") return Value(text::strip(s, chars(), true, false));
  if (name == "rstrip") return Value(text::strip(s, chars(), false, true));
  if (name == "upper") return Value(text::upper(s));
  if (name == "lower") return Value(text::lower(s));
  if (name == "title") return Value(text::py_title(s));
  if (name == "capitalize") return Value(text::capitalize(s));
  if (name == "split" || name == "rsplit") {
    Value sep = arg_or(a, "sep", 0, Value::none());
    int64_t maxsplit = want_int(arg_or(a, "maxsplit", 1, Value(-1)), "maxsplit");
    if (name == "rsplit" && maxsplit >= 0) fail("str.rsplit with maxsplit is not supported");
    if (sep.is_none()) return string_array(text::split(s, "", true, maxsplit));
    const std::string& sp = want_string(sep, "separator");
    if (sp.empty()) fail("empty separator");
    return string_array(text::split(s, sp, false, maxsplit));
  }
  if (name == "splitlines") return string_array(text::split(text::strip(s, "\n", false, true), "\n", false, -1));
  if (name == "startswith" || name == "endswith") {
    const Value* p = a.get("prefix", 0);
    if (!p) fail(name + "() takes at least 1 argument");
    return Value(affix_match(s, *p, name == "startswith"));
  }
  if (name == "replace") {
    if (a.positional.size() < 2) fail("replace() takes at least 2 arguments");
    int64_t count = a.positional.size() > 2 ? want_int(a.positional[2], "count") : -1;
    return Value(text::replace(s, want_string(a.positional[0], "old"), want_string(a.positional[1], "new"), count));
  }
  if (name == "find" || name == "count" || name == "index") {
    const Value* p = a.get("sub", 0);
    if (!p) fail(name + "() takes at least 1 argument");
    const std::string& sub = want_string(*p, "substring");
    if (name == "count") {
      if (sub.empty()) return Value(text::code_point_count(s) + 1);
      int64_t n = 0;
      for (size_t pos = s.find(sub); pos != std::string::npos; pos = s.find(sub, pos + sub.size())) ++n;
      return Value(n);
    }
    size_t pos = s.find(sub);
    if (pos == std::string::npos) {
      if (name == "index") fail("substring not found");
      return Value(-1);
    }
    return Value(text::code_point_count(std::string_view(s).substr(0, pos)));
  }
  if (name == "format") return Value(py_format(s, a));
  if (name == "join") {
    const Value* items = a.get("iterable", 0);
    if (!items) fail("join() takes exactly one argument");
    std::string out;
    bool first = true;
    for (const Value& v : iterate(*items)) {
      if (!first) out += s;
      first = false;
      out += want_string(v, "join item");
    }
    return Value(std::move(out));
  }
  if (name == "removeprefix" || name == "removesuffix") {
    const std::string& x = want_string(arg_or(a, "", 0, Value("")), name.c_str());
    bool pre = name == "removeprefix";
    if (x.size() <= s.size() && affix_match(s, Value(x), pre))
      return Value(pre ? s.substr(x.size()) : s.substr(0, s.size() - x.size()));
    return Value(s);
  }
  auto all = [&](auto pred) {
    return Value(!s.empty() && std::all_of(s.begin(), s.end(), [&](char c) { return pred(static_cast<unsigned char>(c)); }));
  };
  if (name == "isdigit") return all(::isdigit);
  if (name == "isalpha") return all(::isalpha);
  if (name == "isalnum") return all(::isalnum);
  if (name == "isspace") return all(::isspace);
  if (name == "islower") return Value(text::lower(s) == s && text::upper(s) != s);
  if (name == "isupper") return Value(text::upper(s) == s && text::lower(s) != s);
  fail("'str' object has no attribute '" + name + "'");
}

Value dict_method(const Value& self, const std::string& name, CallArgs& a) {
  const Object& o = self.as_object();
  if (name == "items" || name == "keys" || name == "values") {
    Array out;
    out.reserve(o.size());
    for (const auto& [k, v] : o.items()) {
      if (name == "items") out.push_back(Value(Array{Value(k), v}).mark_tuple());
      else if (name == "keys") out.emplace_back(k);
      else out.push_back(v);
    }
    return Value(std::move(out));
  }
  if (name == "get") {
    if (a.positional.empty()) fail("get() takes at least 1 argument");
    Value fallback = a.positional.size() > 1 ? a.positional[1] : Value::none();
    if (!a.positional[0].is_string()) return fallback;
    const Value* v = o.find(a.positional[0].as_string());
    return v ? *v : fallback;
  }
  fail("dict." + name + "() is not available: template values are immutable");
}

Value list_method(const Value& self, const std::string& name, CallArgs& a) {
  const Array& arr = self.as_array();
  if (name == "index" || name == "count") {
    if (a.positional.empty()) fail(name + "() takes exactly one argument");
    int64_t n = 0;
    for (size_t i = 0; i < arr.size(); ++i) {
      if (!(arr[i] == a.positional[0])) continue;
      if (name == "index") return Value(static_cast<int64_t>(i));
      ++n;
    }
    if (name == "index") fail("value is not in list");
    return Value(n);
  }
  fail("list." + name + "() is not available: template values are immutable");
}

bool is_dict_method(const std::string& n) {
  return n == "items" || n == "keys" || n == "values" || n == "get" || n == "pop" || n == "update" ||
         n == "setdefault" || n == "copy" || n == "clear" || n == "popitem";
}
bool is_list_method(const std::string& n) {
  return n == "index" || n == "count" || n == "append" || n == "extend" || n == "pop" || n == "insert" ||
         n == "remove" || n == "sort" || n == "reverse" || n == "clear" || n == "copy";
}
bool is_string_method(const std::string& n) {
  static const char* kNames[] = {"strip", "lstrip", "rstrip", "upper", "lower", "title", "capitalize", "split",
                                 "rsplit", "splitlines", "startswith", "endswith", "replace", "find", "count",
                                 "index", "format", "join", "removeprefix", "removesuffix", "isdigit", "isalpha",
                                 "isalnum", "isspace", "islower", "isupper"};
  for (const char* k : kNames)
    if (n == k) return true;
  return false;
}

int64_t normalize_index(int64_t i, int64_t len) { return i < 0 ? i + len : i; }

}  // namespace

Value get_attr(const Value& obj, const std::string& name) {
  switch (obj.kind()) {
    case Value::Kind::kUndefined:
      fail("'" + (obj.undefined_name().empty() ? std::string("value") : obj.undefined_name()) +
           "' is undefined (looking up '." + name + "')");
    case Value::Kind::kObject:
      if (is_dict_method(name))
        return Value::callable("dict." + name, [obj, name](Interpreter&, CallArgs& a) {
          return dict_method(obj, name, a);
        });
      if (const Value* v = obj.as_object().find(name)) return *v;
      return Value::undefined(name);
    case Value::Kind::kNamespace:
      if (const Value* v = obj.as_namespace().find(name)) return *v;
      return Value::undefined(name);
    case Value::Kind::kString:
      if (is_string_method(name)) {
        std::string s = obj.as_string();
        return Value::callable("str." + name, [s, name](Interpreter&, CallArgs& a) {
          return string_method(s, name, a);
        });
      }
      return Value::undefined(name);
    case Value::Kind::kArray:
      if (is_list_method(name))
        return Value::callable("list." + name, [obj, name](Interpreter&, CallArgs& a) {
          return list_method(obj, name, a);
        });
      return Value::undefined(name);
    default: return Value::undefined(name);
  }
}

Value get_item(const Value& obj, const Value& key) {
  switch (obj.kind()) {
    case Value::Kind::kUndefined:
      fail("'" + (obj.undefined_name().empty() ? std::string("value") : obj.undefined_name()) +
           "' is undefined (looking up [" + key.repr() + "])");
    case Value::Kind::kObject:
      if (key.is_string()) {
        if (const Value* v = obj.as_object().find(key.as_string())) return *v;
        return Value::undefined(key.as_string());
      }
      return Value::undefined(key.str());
    case Value::Kind::kArray:
    case Value::Kind::kString: {
      if (!key.is_int() && !key.is_bool()) {
        if (key.is_string()) return get_attr(obj, key.as_string());
        return Value::undefined(key.str());
      }
      if (obj.is_array()) {
        const Array& a = obj.as_array();
        int64_t i = normalize_index(key.as_int(), static_cast<int64_t>(a.size()));
        if (i < 0 || i >= static_cast<int64_t>(a.size())) return Value::undefined("[" + key.str() + "]");
        return a[static_cast<size_t>(i)];
      }
      const std::string& s = obj.as_string();
      std::vector<size_t> starts = text::code_point_starts(s);
      int64_t n = static_cast<int64_t>(starts.size()) - 1;
      int64_t i = normalize_index(key.as_int(), n);
      if (i < 0 || i >= n) return Value::undefined("[" + key.str() + "]");
      return Value(s.substr(starts[i], starts[i + 1] - starts[i]));
    }
    default:
      if (key.is_string()) return get_attr(obj, key.as_string());
      return Value::undefined(key.str());
  }
}

Value slice(const Value& obj, const std::optional<int64_t>& start, const std::optional<int64_t>& stop,
            const std::optional<int64_t>& step_opt) {
  if (obj.is_undefined()) fail("'" + obj.undefined_name() + "' is undefined (slicing)");
  if (!obj.is_array() && !obj.is_string()) fail("'" + obj.type_name() + "' object is not subscriptable");
  int64_t step = step_opt.value_or(1);
  if (step == 0) fail("slice step cannot be zero");
  std::vector<size_t> starts;
  int64_t len;
  if (obj.is_array()) {
    len = static_cast<int64_t>(obj.as_array().size());
  } else {
    starts = text::code_point_starts(obj.as_string());
    len = static_cast<int64_t>(starts.size()) - 1;
  }
  // Python's slice.indices().
  auto clamp = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t x = *v < 0 ? *v + len : *v;
    if (step > 0) return std::clamp<int64_t>(x, 0, len);
    return std::clamp<int64_t>(x, -1, len - 1);
  };
  int64_t b = clamp(start, step > 0 ? 0 : len - 1);
  int64_t e = clamp(stop, step > 0 ? len : -1);
  std::vector<int64_t> picks;
  for (int64_t i = b; step > 0 ? i < e : i > e; i += step) picks.push_back(i);
  if (obj.is_array()) {
    Array out;
    out.reserve(picks.size());
    for (int64_t i : picks) out.push_back(obj.as_array()[static_cast<size_t>(i)]);
    return Value(std::move(out));
  }
  const std::string& s = obj.as_string();
  std::string out;
  for (int64_t i : picks) out.append(s, starts[i], starts[i + 1] - starts[i]);
  return Value(std::move(out));
}

std::vector<Value> iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return {};
    case Value::Kind::kArray: return v.as_array();
    case Value::Kind::kObject:
    case Value::Kind::kNamespace: {
      const Object& o = v.is_object() ? v.as_object() : v.as_namespace();
      std::vector<Value> keys;
      keys.reserve(o.size());
      for (const auto& [k, _] : o.items()) keys.emplace_back(k);
      return keys;
    }
    case Value::Kind::kString: {
      const std::string& s = v.as_string();
      std::vector<size_t> starts = text::code_point_starts(s);
      std::vector<Value> out;
      out.reserve(starts.size());
      for (size_t i = 0; i + 1 < starts.size(); ++i) out.emplace_back(s.substr(starts[i], starts[i + 1] - starts[i]));
      return out;
    }
    default: fail("'" + v.type_name() + "' object is not iterable");
  }
}

int64_t length(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return 0;
    case Value::Kind::kString: return text::code_point_count(v.as_string());
    case Value::Kind::kArray: return static_cast<int64_t>(v.as_array().size());
    case Value::Kind::kObject: return static_cast<int64_t>(v.as_object().size());
    default: fail("object of type '" + v.type_name() + "' has no len()");
  }
}

void install_globals(Frame& frame, std::optional<int64_t> now_unix) {
  frame.set("raise_exception", Value::callable("raise_exception", [](Interpreter&, CallArgs& a) -> Value {
              const Value* msg = a.get("message", 0);
              // The template's own words reach the caller unchanged.
              throw RenderError{InvalidArgument(msg ? msg->str() : "raise_exception called"), /*located=*/true};
            }));
  frame.set("strftime_now", Value::callable("strftime_now", [now_unix](Interpreter&, CallArgs& a) -> Value {
              const Value* fmt = a.get("format", 0);
              if (!fmt || !fmt->is_string()) fail("strftime_now(format) needs a format string");
              std::time_t t = now_unix ? static_cast<std::time_t>(*now_unix) : std::time(nullptr);
              std::tm tm{};
              if (now_unix) gmtime_r(&t, &tm);
              else localtime_r(&t, &tm);
              char buf[512];
              size_t n = fmt->as_string().size() < 128 ? std::strftime(buf, sizeof buf, fmt->as_string().c_str(), &tm)
                                                       : 0;
              return Value(std::string(buf, n));
            }));
  frame.set("namespace", Value::callable("namespace", [](Interpreter&, CallArgs& a) -> Value {
              Object init;
              for (const Value& p : a.positional) {
                if (!p.is_object()) fail("namespace() positional argument must be a dict");
                for (const auto& [k, v] : p.as_object().items()) init.set(k, v);
              }
              for (const auto& [k, v] : a.keyword) init.set(k, v);
              return Value::make_namespace(std::move(init));
            }));
  frame.set("dict", Value::callable("dict", [](Interpreter&, CallArgs& a) -> Value {
              Object o;
              for (const Value& p : a.positional) {
                if (!p.is_object()) fail("dict() positional argument must be a dict");
                for (const auto& [k, v] : p.as_object().items()) o.set(k, v);
              }
              for (const auto& [k, v] : a.keyword) o.set(k, v);
              return Value(std::move(o));
            }));
  frame.set("range", Value::callable("range", [](Interpreter& in, CallArgs& a) -> Value {
              if (a.positional.empty() || a.positional.size() > 3) fail("range() takes 1 to 3 arguments");
              int64_t start = 0, stop, step = 1;
              if (a.positional.size() == 1) {
                stop = want_int(a.positional[0], "range stop");
              } else {
                start = want_int(a.positional[0], "range start");
                stop = want_int(a.positional[1], "range stop");
                if (a.positional.size() == 3) step = want_int(a.positional[2], "range step");
              }
              if (step == 0) fail("range() step must not be zero");
              Array out;
              for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
                in.check_items(out.size() + 1, 1, sizeof(Value));
                out.emplace_back(i);
              }
              return Value(std::move(out));
            }));
}

}  // namespace tern::tpl
