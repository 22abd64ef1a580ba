#include "template/value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace tern::tpl {

const Value* Object::find(std::string_view key) const {
  auto it = index_.find(std::string(key));
  return it == index_.end() ? nullptr : &items_[it->second].second;
}

void Object::set(std::string key, Value value) {
  auto it = index_.find(key);
  if (it != index_.end()) {
    items_[it->second].second = std::move(value);
    return;
  }
  index_.emplace(key, items_.size());
  items_.emplace_back(std::move(key), std::move(value));
}

const Value* CallArgs::get(std::string_view name, int pos) const {
  for (const auto& [k, v] : keyword)
    if (k == name) return &v;
  if (pos >= 0 && static_cast<size_t>(pos) < positional.size()) return &positional[pos];
  return nullptr;
}

Value Value::callable(std::string name, NativeFn fn) {
  Value v;
  v.v_ = std::make_shared<const Callable>(Callable{std::move(name), std::move(fn)});
  return v;
}

Value Value::make_namespace(Object initial) {
  Value v;
  v.v_ = std::make_shared<Object>(std::move(initial));
  return v;
}

int64_t Value::as_int() const {
  if (is_bool()) return as_bool() ? 1 : 0;
  return std::get<int64_t>(v_);
}

double Value::as_double() const {
  if (is_float()) return std::get<double>(v_);
  return static_cast<double>(as_int());
}

bool Value::truthy() const {
  switch (kind()) {
    case Kind::kUndefined:
    case Kind::kNone: return false;
    case Kind::kBool: return as_bool();
    case Kind::kInt: return as_int() != 0;
    case Kind::kFloat: return as_double() != 0.0;
    case Kind::kString: return !as_string().empty();
    case Kind::kArray: return !as_array().empty();
    case Kind::kObject: return as_object().size() != 0;
    case Kind::kCallable:
    case Kind::kNamespace: return true;
  }
  return false;
}

std::string python_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  // Shortest round-trip digits in scientific form: "d.ddde[+-]xx".
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  size_t e = sci.find('e');
  int exp = std::stoi(sci.substr(e + 1));
  std::string mant = sci.substr(0, e);
  bool neg = !mant.empty() && mant[0] == '-';
  if (neg) mant.erase(0, 1);
  std::string digits;
  for (char c : mant)
    if (c != '.') digits += c;
  std::string out;
  if (exp >= -4 && exp < 16) {
    if (exp < 0) {
      out = "0." + std::string(-exp - 1, '0') + digits;
    } else if (static_cast<int>(digits.size()) <= exp + 1) {
      out = digits + std::string(exp + 1 - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, exp + 1) + "." + digits.substr(exp + 1);
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    out += eb;
  }
  return neg ? "-" + out : out;
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

std::string python_string_repr(const std::string& s) {
  bool has_single = s.find('\'') != std::string::npos;
  bool has_double = s.find('"') != std::string::npos;
  char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  for (unsigned char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c == static_cast<unsigned char>(quote)) {
          out += '\\';
          out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
          char b[8];
          std::snprintf(b, sizeof b, "\\x%02x", c);
          out += b;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += quote;
  return out;
}

}  // namespace

std::string Value::str() const {
  switch (kind()) {
    case Kind::kUndefined: return "";
    case Kind::kNone: return "None";
    case Kind::kBool: return as_bool() ? "True" : "False";
    case Kind::kInt: return std::to_string(as_int());
    case Kind::kFloat: return python_float_repr(as_double());
    case Kind::kString: return as_string();
    case Kind::kArray: {
      std::string out = tuple_ ? "(" : "[";
      bool first = true;
      for (const auto& v : as_array()) {
        if (!first) out += ", ";
        first = false;
        out += v.repr();
      }
      if (tuple_) return out + (as_array().size() == 1 ? ",)" : ")");
      return out + "]";
    }
    case Kind::kObject: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, v] : as_object().items()) {
        if (!first) out += ", ";
        first = false;
        out += python_string_repr(k) + ": " + v.repr();
      }
      return out + "}";
    }
    case Kind::kCallable: return "<function " + as_callable().name + ">";
    case Kind::kNamespace: return "<Namespace>";
  }
  return "";
}

std::string Value::repr() const {
  if (is_string()) return python_string_repr(as_string());
  if (is_undefined()) return "Undefined";
  return str();
}

std::string Value::type_name() const {
  switch (kind()) {
    case Kind::kUndefined: return "Undefined";
    case Kind::kNone: return "NoneType";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kArray: return "list";
    case Kind::kObject: return "dict";
    case Kind::kCallable: return "function";
    case Kind::kNamespace: return "Namespace";
  }
  return "?";
}

bool operator==(const Value& a, const Value& b) {
  using K = Value::Kind;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case K::kUndefined:
    case K::kNone: return true;
    case K::kString: return a.as_string() == b.as_string();
    case K::kArray: {
      const Array& x = a.as_array();
      const Array& y = b.as_array();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!(x[i] == y[i])) return false;
      return true;
    }
    case K::kObject: {
      const Object& x = a.as_object();
      const Object& y = b.as_object();
      if (x.size() != y.size()) return false;
      for (const auto& [k, v] : x.items()) {
        const Value* w = y.find(k);
        if (!w || !(v == *w)) return false;
      }
      return true;
    }
    case K::kCallable: return &a.as_callable() == &b.as_callable();
    case K::kNamespace: return &a.as_namespace() == &b.as_namespace();
    default: return false;
  }
}

Value Value::from_json(const nlohmann::ordered_json& j) {
  using T = nlohmann::ordered_json::value_t;
  switch (j.type()) {
    case T::null: return Value::none();
    case T::boolean: return Value(j.get<bool>());
    case T::number_integer: return Value(j.get<int64_t>());
    case T::number_unsigned: {
      uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
      return Value(static_cast<int64_t>(u));
    }
    case T::number_float: return Value(j.get<double>());
    case T::string: return Value(j.get<std::string>());
    case T::array: {
      Array a;
      a.reserve(j.size());
      for (const auto& e : j) a.push_back(from_json(e));
      return Value(std::move(a));
    }
    case T::object: {
      Object o;
      for (const auto& [k, v] : j.items()) o.set(k, from_json(v));
      return Value(std::move(o));
    }
    default: return Value::none();  // binary and discarded values have no template meaning
  }
}

namespace {

void json_escape(const std::string& s, std::string& out) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          out += b;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

struct JsonWriter {
  int indent;
  std::string_view item_sep, key_sep;
  std::string out;

  void newline(int depth) {
    out += '\n';
    out.append(static_cast<size_t>(indent) * depth, ' ');
  }

  Status write(const Value& v, int depth) {
    if (depth > 512) return InvalidArgument("tojson: value nested too deeply");
    using K = Value::Kind;
    switch (v.kind()) {
      case K::kNone: out += "null"; return Status::Ok();
      case K::kBool: out += v.as_bool() ? "true" : "false"; return Status::Ok();
      case K::kInt: out += std::to_string(v.as_int()); return Status::Ok();
      case K::kFloat: {
        double d = v.as_double();
        if (std::isnan(d)) out += "NaN";
        else if (std::isinf(d)) out += d > 0 ? "Infinity" : "-Infinity";
        else out += python_float_repr(d);
        return Status::Ok();
      }
      case K::kString: json_escape(v.as_string(), out); return Status::Ok();
      case K::kArray: {
        const Array& a = v.as_array();
        if (a.empty()) { out += "[]"; return Status::Ok(); }
        out += '[';
        for (size_t i = 0; i < a.size(); ++i) {
          if (i) out += item_sep;
          if (indent >= 0) newline(depth + 1);
          TERN_RETURN_IF_ERROR(write(a[i], depth + 1));
        }
        if (indent >= 0) newline(depth);
        out += ']';
        return Status::Ok();
      }
      case K::kObject:
      case K::kNamespace: {
        const Object& o = v.is_object() ? v.as_object() : v.as_namespace();
        if (o.size() == 0) { out += "{}"; return Status::Ok(); }
        out += '{';
        bool first = true;
        for (const auto& [k, e] : o.items()) {
          if (!first) out += item_sep;
          first = false;
          if (indent >= 0) newline(depth + 1);
          json_escape(k, out);
          out += key_sep;
          TERN_RETURN_IF_ERROR(write(e, depth + 1));
        }
        if (indent >= 0) newline(depth);
        out += '}';
        return Status::Ok();
      }
      case K::kUndefined:
      case K::kCallable:
        return InvalidArgument("tojson: object of type " + v.type_name() + " is not JSON serializable");
    }
    return Status::Ok();
  }
};

}  // namespace

Result<std::string> to_json(const Value& value, int indent, std::string_view item_sep, std::string_view key_sep) {
  JsonWriter w{indent, item_sep, key_sep, {}};
  TERN_RETURN_IF_ERROR(w.write(value, 0));
  return std::move(w.out);
}

}  // namespace tern::tpl
