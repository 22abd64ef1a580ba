// Text helpers with Python str semantics over UTF-8: code-point indexing,
// ASCII case mapping (non-ASCII bytes pass through unchanged), whitespace
// stripping and splitting.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tern::tpl::text {

// Byte offsets where each code point starts, plus size() at the end.
std::vector<size_t> code_point_starts(std::string_view s);
int64_t code_point_count(std::string_view s);

bool is_py_space(char c);
// Appends code point `cp` (<= 0x10FFFF) to `out` as UTF-8.
void append_utf8(std::string& out, uint32_t cp);
// str.strip/lstrip/rstrip: `chars` empty means whitespace.
std::string strip(std::string_view s, std::string_view chars, bool left, bool right);
std::string upper(std::string_view s);
std::string lower(std::string_view s);
// str.capitalize(): first character upper, the rest lower.
std::string capitalize(std::string_view s);
// str.title(): upper after any non-letter, lower elsewhere.
std::string py_title(std::string_view s);
// Jinja's title filter: words begin after runs of - whitespace ( { [ <.
std::string jinja_title(std::string_view s);
// str.replace(old, new, count); count < 0 replaces all.
std::string replace(std::string_view s, std::string_view from, std::string_view to, int64_t count);
// str.split(sep, maxsplit); `whitespace` selects the sep=None behaviour.
std::vector<std::string> split(std::string_view s, std::string_view sep, bool whitespace, int64_t maxsplit);

}  // namespace tern::tpl::text
