// Protected-span detection (opt/compress/spans.h): each kind, its
// boundaries, its false friends, merging, options and forced strings.
#include <gtest/gtest.h>

#include "compress/spans.h"

namespace tern::compress {
namespace {

std::vector<std::string> texts(std::string_view t, const std::vector<Span>& spans, SpanKind kind) {
  std::vector<std::string> out;
  for (const Span& s : spans)
    if (s.kind == kind) out.emplace_back(t.substr(s.begin, s.end - s.begin));
  return out;
}

std::vector<std::string> find(std::string_view t, SpanKind kind, SpanOptions o = {}) {
  return texts(t, find_protected_spans(t, o), kind);
}

using V = std::vector<std::string>;

TEST(SpansTest, FencedAndInlineCode) {
  const std::string t = "Run this:\n```python\nx = 1\n\nprint(x)\n```\nthen call `make test` now.";
  EXPECT_EQ(find(t, SpanKind::kCode), (V{"```python\nx = 1\n\nprint(x)\n```", "`make test`"}));
  // An unclosed fence runs to the end of the text.
  const std::string open = "intro\n~~~\ncode line";
  EXPECT_EQ(find(open, SpanKind::kCode), (V{"~~~\ncode line"}));
}

TEST(SpansTest, JsonObjectsAndArraysButNotCitations) {
  const std::string t = R"(The tool said {"temp": 21.5, "unit": "C"} and [1, 2, 3] but see [4] or {x}.)";
  EXPECT_EQ(find(t, SpanKind::kJson), (V{R"({"temp": 21.5, "unit": "C"})", "[1, 2, 3]"}));
  EXPECT_TRUE(find("a {broken: json,} b", SpanKind::kJson).empty());
}

TEST(SpansTest, UrlsAndEmails) {
  const std::string t = "See https://example.com/a?b=c. Or (www.tern.dev/docs) and mail ops@example.org, please.";
  EXPECT_EQ(find(t, SpanKind::kUrl), (V{"https://example.com/a?b=c", "www.tern.dev/docs", "ops@example.org"}));
  EXPECT_EQ(find("wiki https://en.wikipedia.org/wiki/Foo_(bar) end", SpanKind::kUrl),
            (V{"https://en.wikipedia.org/wiki/Foo_(bar)"}));
  EXPECT_TRUE(find("not an @ address, nor a@b", SpanKind::kUrl).empty());
}

TEST(SpansTest, QuotedStringsNotApostrophes) {
  const std::string t = "She said \"meet at noon\" and 'bring the key' but don't forget Lily's \xE2\x80\x9C" "curly" "\xE2\x80\x9D.";
  SpanOptions o;
  o.identifiers = false;
  EXPECT_EQ(find(t, SpanKind::kQuoted, o), (V{"\"meet at noon\"", "'bring the key'", "\xE2\x80\x9C" "curly" "\xE2\x80\x9D"}));
  // Too long or across a paragraph: not a literal.
  EXPECT_TRUE(find("\"" + std::string(400, 'a') + "\"", SpanKind::kQuoted).empty());
  EXPECT_TRUE(find("\"first\n\nsecond\"", SpanKind::kQuoted).empty());
}

TEST(SpansTest, Numbers) {
  const std::string t = "Pay $4.99 (50%) by 2024-01-15 at 12:30, about -2.5 or 1,000 units; 3.";
  EXPECT_EQ(find(t, SpanKind::kNumber), (V{"$4.99", "50%", "2024-01-15", "12:30", "-2.5", "1,000", "3"}));
  // Arithmetic keeps its operators; prose between numbers does not join them.
  EXPECT_EQ(find("So 75 - 28 = 47. Then 3 x 4 = 12, and 5 or 6.", SpanKind::kNumber),
            (V{"75 - 28 = 47", "3 x 4 = 12", "5", "6"}));
}

TEST(SpansTest, Identifiers) {
  const std::string t =
      "Call get_user_id() in src/main.cpp via userId on the HTTP API, std::vector, config.yaml and gpt4o; "
      "plain Words stay.";
  EXPECT_EQ(find(t, SpanKind::kIdentifier),
            (V{"get_user_id()", "src/main.cpp", "userId", "HTTP", "API", "std::vector", "config.yaml", "gpt4o"}));
}

TEST(SpansTest, ForcedStringsEveryOccurrence) {
  SpanOptions o;
  o.force = {"Project Falcon", ""};
  const std::string t = "Project Falcon ships soon. Ask about Project Falcon.";
  EXPECT_EQ(find(t, SpanKind::kForced, o), (V{"Project Falcon", "Project Falcon"}));
}

TEST(SpansTest, OverlapsMergeAndResultIsSorted) {
  const std::string t = R"(Fetch `https://x.io/a` then {"url": "https://y.io", "n": 3} done.)";
  const auto spans = find_protected_spans(t);
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].kind, SpanKind::kCode);
  EXPECT_EQ(spans[1].kind, SpanKind::kJson);
  for (size_t i = 1; i < spans.size(); ++i) EXPECT_LE(spans[i - 1].end, spans[i].begin);
}

TEST(SpansTest, OptionsTurnKindsOff) {
  SpanOptions none;
  none.code = none.json = none.urls = none.quoted = none.numbers = none.identifiers = false;
  EXPECT_TRUE(find_protected_spans("x `y` https://a.b 42 foo_bar \"q q\" {\"a\":1}", none).empty());
  EXPECT_STREQ(span_kind_name(SpanKind::kIdentifier), "identifier");
}

TEST(SpansTest, BinaryAndEmptyInputDoNotCrash) {
  EXPECT_TRUE(find_protected_spans("").empty());
  std::string junk;
  for (int i = 0; i < 2000; ++i) junk.push_back(static_cast<char>((i * 131) % 256));
  const auto spans = find_protected_spans(junk);
  for (const Span& s : spans) EXPECT_LE(s.end, junk.size());
  // Thousands of unclosed brackets: the JSON scan is capped (linear), so this returns at once.
  const std::string brackets = std::string(50000, '{') + "\"a\": 1" + std::string(10, '}');
  EXPECT_LE(find_protected_spans(brackets).size(), 3u);
}

}  // namespace
}  // namespace tern::compress
