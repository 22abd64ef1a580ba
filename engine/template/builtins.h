// Builtins: Jinja2 filters and tests, Python methods of str/dict/list, item
// and attribute lookup, iteration, and the globals HF provides
// (raise_exception, strftime_now, namespace, range, dict).
//
// All functions throw RenderError (interpreter.h) on bad input, as the
// Python implementation would raise.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "template/interpreter.h"
#include "template/value.h"

namespace tern::tpl {

// value | name(args). Unknown filter names fail.
Value apply_filter(Interpreter& in, const std::string& name, const Value& value, CallArgs& args);
// value is name(args). Unknown test names fail.
bool apply_test(Interpreter& in, const std::string& name, const Value& value, CallArgs& args);

// obj.name: a method of str/dict/list when one has that name, else the
// dict key; Undefined when absent. Attribute access on Undefined fails.
Value get_attr(const Value& obj, const std::string& name);
// obj[key]: dict key, list/str index (negative from the end); falls back to
// get_attr for string keys, as Jinja does. Undefined when absent.
Value get_item(const Value& obj, const Value& key);
// obj[start:stop:step] on a list or str (code points), Python semantics.
Value slice(const Value& obj, const std::optional<int64_t>& start, const std::optional<int64_t>& stop,
            const std::optional<int64_t>& step);

// The items a `for` loop visits: list items, dict keys, str code points;
// Undefined visits nothing. Fails on other kinds.
std::vector<Value> iterate(const Value& v);
// len(): code points of a str, items of a list or dict; 0 for Undefined.
int64_t length(const Value& v);

// Globals available to every template. `now_unix` pins strftime_now's clock
// (UTC) for reproducible renders; unset means the local wall clock.
void install_globals(Frame& frame, std::optional<int64_t> now_unix);

}  // namespace tern::tpl
