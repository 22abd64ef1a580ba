// TOON encoder (spec §2, §7–§12): JSON value → TOON text.
//
// Shape decisions, in the order the spec makes them:
//   object  → keyed table `key[N:]{f..}:` when it has >= 2 entries whose values
//             are objects of one uniform shape (§9.5), else `key:` + fields.
//   array   → `key: []` when empty; inline `key[N]: a,b` when all primitives;
//             a table `key[N]{f..}:` when all elements are objects of one
//             uniform shape (§9.3); otherwise a list of `- item` lines (§9.4).
// A "uniform shape" is a field tree: every element has the same key set and
// every column is all-primitive (a leaf) or all non-empty objects of one
// uniform shape again (a nested field group `f{a,b}`).
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "toon/toon.h"

namespace tern::toon {
namespace {

bool is_primitive(const Json& v) { return !v.is_object() && !v.is_array(); }

// ---- numbers (§2) ----------------------------------------------------------

// Shortest round-trip digits of |v| (no leading/trailing zeros) and the
// decimal exponent of the first digit: |v| = 0.d1d2d3... * 10^(exp + 1).
void shortest_digits(double v, std::string& digits, int& exp) {
  std::array<char, 64> buf;
  auto r = std::to_chars(buf.data(), buf.data() + buf.size(), std::fabs(v),
                         std::chars_format::scientific);
  std::string_view s(buf.data(), r.ptr - buf.data());  // "d.ddde+XX"
  const size_t e = s.find('e');
  digits.clear();
  for (char c : s.substr(0, e))
    if (c != '.') digits += c;
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  exp = 0;
  std::from_chars(s.data() + e + 1 + (s[e + 1] == '+'), s.data() + s.size(), exp);
}

std::string format_double(double v) {
  if (!std::isfinite(v)) return "null";
  if (v == 0) return "0";  // -0 too
  std::string digits;
  int exp = 0;
  shortest_digits(v, digits, exp);
  std::string out = v < 0 ? "-" : "";
  const double a = std::fabs(v);
  if (a >= 1e-6 && a < 1e21) {  // canonical plain decimal
    const int point = exp + 1;  // digits before the decimal point
    const int n = static_cast<int>(digits.size());
    if (point <= 0) {
      out += "0.";
      out.append(-point, '0');
      out += digits;
    } else if (point >= n) {
      out += digits;
      out.append(point - n, '0');
    } else {
      out += digits.substr(0, point);
      out += '.';
      out += digits.substr(point);
    }
  } else {  // JSON exponent form, lowercase e, explicit sign
    out += digits[0];
    if (digits.size() > 1) out += "." + digits.substr(1);
    out += exp < 0 ? "e-" : "e+";
    out += std::to_string(std::abs(exp));
  }
  return out;
}

std::string format_number(const Json& v) {
  if (v.is_number_integer() && !v.is_number_unsigned()) return std::to_string(v.get<int64_t>());
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  return format_double(v.get<double>());
}

// ---- strings and keys (§7) -------------------------------------------------

// /^[+-]?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?$/i — numeric-looking strings
// are quoted so that they decode as strings.
bool looks_numeric(std::string_view s) {
  size_t i = 0, n = s.size();
  auto digits = [&] {
    size_t start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
  if (!digits()) return false;
  if (i < n && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == n;
}

bool needs_quotes(std::string_view s, char delim) {
  if (s.empty()) return true;
  if (s.front() == ' ' || s.front() == '\t' || s.back() == ' ' || s.back() == '\t') return true;
  if (s == "true" || s == "false" || s == "null") return true;
  if (s.front() == '-' || s.front() == '#') return true;
  if (looks_numeric(s)) return true;
  for (unsigned char c : s) {
    if (c < 0x20 || c == ':' || c == '"' || c == '\\' || c == '[' || c == ']' || c == '{' ||
        c == '}' || c == static_cast<unsigned char>(delim))
      return true;
  }
  return false;
}

void append_quoted(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

// §7.3: keys match ^[A-Za-z_][A-Za-z0-9_.]*$ or are quoted.
bool is_identifier_key(std::string_view k) {
  if (k.empty()) return false;
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (!alpha(k[0])) return false;
  for (char c : k.substr(1))
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '.') return false;
  return true;
}

void append_key(std::string& out, std::string_view k) {
  if (is_identifier_key(k)) {
    out += k;
  } else {
    append_quoted(out, k);
  }
}

void append_primitive(std::string& out, const Json& v, char delim) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (needs_quotes(s, delim)) {
      append_quoted(out, s);
    } else {
      out += s;
    }
  } else if (v.is_boolean()) {
    out += v.get<bool>() ? "true" : "false";
  } else if (v.is_number()) {
    out += format_number(v);
  } else {
    out += "null";  // null, and the non-JSON binary/discarded kinds (§3)
  }
}

// ---- uniform shapes (§9.3) -------------------------------------------------

struct Field {
  std::string name;
  std::vector<Field> children;  // empty: a leaf column
};

// The field tree shared by `objs`, or false when they are not uniform: each
// is a non-empty object, all have the first one's key set, and every column
// is all-primitive or (recursively) uniform non-empty objects.
bool uniform_fields(const std::vector<const Json*>& objs, std::vector<Field>& out) {
  const Json& first = *objs[0];
  if (!first.is_object() || first.empty()) return false;
  for (const Json* o : objs)
    if (!o->is_object() || o->size() != first.size()) return false;
  std::vector<const Json*> column(objs.size());
  for (const auto& [key, unused] : first.items()) {
    bool all_primitive = true, all_objects = true;
    for (size_t i = 0; i < objs.size(); ++i) {
      auto it = objs[i]->find(key);
      if (it == objs[i]->end()) return false;  // same size, different keys
      column[i] = &*it;
      all_primitive = all_primitive && is_primitive(*it);
      all_objects = all_objects && it->is_object();
    }
    Field f{key, {}};
    if (!all_primitive && !(all_objects && uniform_fields(column, f.children))) return false;
    out.push_back(std::move(f));
  }
  return true;
}

bool keyed_fields(const Json& obj, std::vector<Field>& fields) {
  if (!obj.is_object() || obj.size() < 2) return false;
  std::vector<const Json*> values;
  for (const auto& v : obj) values.push_back(&v);
  return uniform_fields(values, fields);
}

bool tabular_fields(const Json& arr, std::vector<Field>& fields) {
  if (arr.empty()) return false;
  std::vector<const Json*> elems;
  for (const auto& v : arr) elems.push_back(&v);
  return uniform_fields(elems, fields);
}

// ---- the writer ------------------------------------------------------------

class Encoder {
 public:
  explicit Encoder(const EncodeOptions& o) : indent_(o.indent > 0 ? o.indent : 2), delim_(o.delimiter) {
    if (delim_ != ',' && delim_ != '\t' && delim_ != '|') delim_ = ',';
  }

  std::string run(const Json& v) {
    std::vector<Field> fields;
    if (is_primitive(v)) {
      begin_line(0);
      append_primitive(out_, v, delim_);
    } else if (v.is_array()) {
      array(nullptr, v, 0);
    } else if (keyed_fields(v, fields)) {
      keyed(nullptr, v, fields, 0);
    } else {
      object_fields(v, 0);
    }
    return std::move(out_);
  }

 private:
  // Starts a line at `depth`; after hyphen_next_ it is a list-item line whose
  // "- " marker stands at depth - 1 (the first field of a list-item object).
  void begin_line(int depth) {
    if (!first_line_) out_ += '\n';
    first_line_ = false;
    if (hyphen_next_) {
      out_.append(static_cast<size_t>((depth - 1) * indent_), ' ');
      out_ += "- ";
      hyphen_next_ = false;
    } else {
      out_.append(static_cast<size_t>(depth * indent_), ' ');
    }
  }

  void object_fields(const Json& obj, int depth) {
    for (const auto& [k, v] : obj.items()) field(k, v, depth);
  }

  void field(const std::string& key, const Json& v, int depth) {
    std::vector<Field> fields;
    if (is_primitive(v)) {
      begin_line(depth);
      append_key(out_, key);
      out_ += ": ";
      append_primitive(out_, v, delim_);  // object values quote by the document delimiter
    } else if (v.is_array()) {
      array(&key, v, depth);
    } else if (keyed_fields(v, fields)) {
      keyed(&key, v, fields, depth);
    } else {
      begin_line(depth);
      append_key(out_, key);
      out_ += ':';
      object_fields(v, depth + 1);
    }
  }

  // `key[N<delim>]` (or `key[N:<delim>]`); no key at the root and in list items.
  void header_prefix(const std::string* key, size_t n, bool keyed) {
    if (key) append_key(out_, *key);
    out_ += '[';
    out_ += std::to_string(n);
    if (keyed) out_ += ':';
    if (delim_ != ',') out_ += delim_;
    out_ += ']';
  }

  void field_list(const std::vector<Field>& fields) {
    out_ += '{';
    for (size_t i = 0; i < fields.size(); ++i) {
      if (i) out_ += delim_;
      append_key(out_, fields[i].name);
      if (!fields[i].children.empty()) field_list(fields[i].children);
    }
    out_ += '}';
  }

  // Cells of one row: leaf values in depth-first order of the field tree.
  void row_cells(const Json& obj, const std::vector<Field>& fields, bool& first) {
    for (const Field& f : fields) {
      const Json& v = obj.at(f.name);
      if (!f.children.empty()) {
        row_cells(v, f.children, first);
        continue;
      }
      if (!first) out_ += delim_;
      first = false;
      append_primitive(out_, v, delim_);
    }
  }

  void keyed(const std::string* key, const Json& obj, const std::vector<Field>& fields, int depth) {
    begin_line(depth);
    header_prefix(key, obj.size(), /*keyed=*/true);
    field_list(fields);
    out_ += ':';
    for (const auto& [k, v] : obj.items()) {
      begin_line(depth + 1);
      append_key(out_, k);
      out_ += ": ";
      bool first = true;
      row_cells(v, fields, first);
    }
  }

  // An array as an object field (key != nullptr) or at the root (key == nullptr).
  void array(const std::string* key, const Json& arr, int depth) {
    begin_line(depth);
    if (arr.empty()) {
      if (key) {
        append_key(out_, *key);
        out_ += ": []";
      } else {
        out_ += "[]";
      }
      return;
    }
    std::vector<Field> fields;
    if (tabular_fields(arr, fields)) {
      header_prefix(key, arr.size(), false);
      field_list(fields);
      out_ += ':';
      for (const auto& row : arr) {
        begin_line(depth + 1);
        bool first = true;
        row_cells(row, fields, first);
      }
      return;
    }
    array_after_marker(key, arr, depth);
  }

  // The rest of a non-tabular array's header line, then its items: inline
  // primitives, or one list item per element at depth + 1.
  void array_after_marker(const std::string* key, const Json& arr, int depth) {
    header_prefix(key, arr.size(), false);
    out_ += ':';
    bool all_primitive = true;
    for (const auto& v : arr) all_primitive = all_primitive && is_primitive(v);
    if (all_primitive) {
      for (size_t i = 0; i < arr.size(); ++i) {
        out_ += i ? delim_ : ' ';
        append_primitive(out_, arr[i], delim_);
      }
      return;
    }
    for (const auto& v : arr) list_item(v, depth + 1);
  }

  void list_item(const Json& v, int depth) {
    if (is_primitive(v)) {
      begin_line(depth);
      out_ += "- ";
      append_primitive(out_, v, delim_);
    } else if (v.is_array()) {
      // Inner arrays are anonymous: inline, or a list (never a table, §9.4).
      begin_line(depth);
      out_ += "- ";
      array_after_marker(nullptr, v, depth);
    } else if (v.empty()) {
      begin_line(depth);
      out_ += '-';
    } else {
      // First field on the hyphen line; the object's fields stand at depth + 1.
      auto it = v.items().begin();
      hyphen_next_ = true;
      field(it.key(), it.value(), depth + 1);
      for (++it; it != v.items().end(); ++it) field(it.key(), it.value(), depth + 1);
    }
  }

  int indent_;
  char delim_;
  std::string out_;
  bool first_line_ = true;
  bool hyphen_next_ = false;
};

}  // namespace

std::string encode(const Json& value, const EncodeOptions& options) {
  return Encoder(options).run(value);
}

MaybeEncoded maybe_encode_detailed(const Json& value, const TokenCounter& count_tokens,
                                   const EncodeOptions& options) {
  MaybeEncoded r;
  std::string json = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  r.json_tokens = count_tokens(json);
  std::string toon = encode(value, options);
  const size_t toon_tokens = count_tokens(toon);
  if (toon_tokens < r.json_tokens) {
    r.text = std::move(toon);
    r.is_toon = true;
    r.tokens = toon_tokens;
  } else {
    r.text = std::move(json);
    r.tokens = r.json_tokens;
  }
  return r;
}

}  // namespace tern::toon
