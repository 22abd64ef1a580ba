// compress/spans.h — protected spans: the parts of a prompt that prompt
// compression must never drop or alter.
//
//   tern::compress::SpanOptions o;
//   o.force = {"Project Falcon"};
//   auto spans = tern::compress::find_protected_spans(text, o);
//   for (const auto& s : spans) printf("%s %.*s\n", span_kind_name(s.kind), int(s.end - s.begin), text.data() + s.begin);
//
// Detection is lexical (hand-written scanners, no regex engine), one pass per
// kind, linear in the text apart from JSON candidates, which are parsed once
// each. Kinds:
//   code        fenced blocks (``` or ~~~ lines, to the closing fence or the end) and `inline code`
//   json        a balanced {...} or [...] that parses as JSON
//   url         http(s)://, ftp://, www. addresses and e-mail addresses
//   quoted      "double", “curly” and 'single' quoted strings up to 300 bytes on one paragraph
//   number      words that start with a digit, sign or currency sign and hold a digit: 3.14, -2, $4.99, 50%, 2024-01-15, 12:30;
//               arithmetic written out between numbers: 75 - 28 = 47
//   identifier  snake_case, camelCase, ALLCAPS (2+ letters), dotted.names, a::b, paths with '/', f(), words holding digits
//   forced      every occurrence of a caller-given string
// Spans are byte ranges; the result is sorted and non-overlapping
// (overlapping detections are merged, the first kind by position wins).
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tern::compress {

enum class SpanKind { kCode, kJson, kUrl, kQuoted, kNumber, kIdentifier, kForced };

const char* span_kind_name(SpanKind kind);  // "code", "json", ...

struct Span {
  size_t begin = 0, end = 0;  // byte range [begin, end)
  SpanKind kind = SpanKind::kCode;
  bool operator==(const Span&) const = default;
};

struct SpanOptions {
  bool code = true;
  bool json = true;
  bool urls = true;
  bool quoted = true;
  bool numbers = true;
  bool identifiers = true;
  std::vector<std::string> force;  // exact strings, protected wherever they occur (empty strings ignored)
};

std::vector<Span> find_protected_spans(std::string_view text, const SpanOptions& options = {});

}  // namespace tern::compress
