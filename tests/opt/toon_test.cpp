// TOON encoder/decoder: the specification's conformance fixtures (one test per
// fixture file, each case named on failure), a seeded randomized round trip,
// maybe_encode's fallback rule, and error positions.
#include "toon/toon.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <set>
#include <sstream>

#include "test_assets.h"

namespace tern::toon {
namespace {

const char* kFixtureDir = "toon/tests/fixtures";

Json load_fixture(const std::string& rel) {
  std::ifstream in(test::asset(rel), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return Json::parse(ss.str());
}

EncodeOptions encode_options(const Json& t) {
  EncodeOptions o;
  if (auto it = t.find("options"); it != t.end()) {
    if (it->contains("delimiter")) o.delimiter = (*it)["delimiter"].get<std::string>().at(0);
    if (it->contains("indentSize")) o.indent = (*it)["indentSize"].get<int>();
  }
  return o;
}

DecodeOptions decode_options(const Json& t) {
  DecodeOptions o;
  if (auto it = t.find("options"); it != t.end()) {
    if (it->contains("strict")) o.strict = (*it)["strict"].get<bool>();
    if (it->contains("indentSize")) o.indent = (*it)["indentSize"].get<int>();
  }
  return o;
}

// ---- fixtures ----------------------------------------------------------------

class EncodeFixture : public testing::TestWithParam<std::string> {};
class DecodeFixture : public testing::TestWithParam<std::string> {};

std::string param_name(const testing::TestParamInfo<std::string>& p) {
  std::string n = p.param;
  for (char& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

TEST_P(EncodeFixture, AllCasesPass) {
  const std::string rel = std::string(kFixtureDir) + "/encode/" + GetParam() + ".json";
  TERN_REQUIRE_ASSET(rel);
  const Json file = load_fixture(rel);
  int cases = 0;
  for (const Json& t : file["tests"]) {
    SCOPED_TRACE("case: " + t["name"].get<std::string>());
    ++cases;
    const EncodeOptions eo = encode_options(t);
    const std::string out = encode(t["input"], eo);
    ASSERT_FALSE(t.value("shouldError", false)) << "encode fixtures with errors are not expected";
    EXPECT_EQ(out, t["expected"].get<std::string>()) << "input: " << t["input"].dump();
    // The encoder's output decodes back to the input (up to table key order).
    DecodeOptions dopt;
    dopt.indent = eo.indent;
    auto back = decode(out, dopt);
    EXPECT_TRUE(back.ok()) << back.status().message() << "\n" << out;
  }
  EXPECT_GT(cases, 0);
}

TEST_P(DecodeFixture, AllCasesPass) {
  const std::string rel = std::string(kFixtureDir) + "/decode/" + GetParam() + ".json";
  TERN_REQUIRE_ASSET(rel);
  const Json file = load_fixture(rel);
  int cases = 0;
  for (const Json& t : file["tests"]) {
    SCOPED_TRACE("case: " + t["name"].get<std::string>());
    ++cases;
    const std::string input = t["input"].get<std::string>();
    auto r = decode(input, decode_options(t));
    if (t.value("shouldError", false)) {
      EXPECT_FALSE(r.ok()) << "expected an error, got " << (r.ok() ? r->dump() : "") << "\ninput:\n" << input;
      if (!r.ok()) {
        EXPECT_NE(r.status().message().find(':'), std::string::npos);
      }
    } else {
      ASSERT_TRUE(r.ok()) << r.status().message() << "\ninput:\n" << input;
      EXPECT_EQ(*r, t["expected"]) << "input:\n" << input << "\ngot: " << r->dump();
    }
  }
  EXPECT_GT(cases, 0);
}

const std::vector<std::string> kEncodeFiles = {
    "arrays-nested", "arrays-objects", "arrays-primitive", "arrays-tabular", "delimiters",
    "objects-keyed", "objects",        "primitives",       "whitespace"};
const std::vector<std::string> kDecodeFiles = {
    "arrays-nested", "arrays-primitive", "arrays-tabular", "blank-lines", "comments",
    "delimiters",    "indentation-errors", "numbers",      "objects-keyed", "objects",
    "primitives",    "root-form",        "validation-errors", "whitespace"};

INSTANTIATE_TEST_SUITE_P(Toon, EncodeFixture, testing::ValuesIn(kEncodeFiles), param_name);
INSTANTIATE_TEST_SUITE_P(Toon, DecodeFixture, testing::ValuesIn(kDecodeFiles), param_name);

// A fixture file added to the suite must not go untested silently.
TEST(ToonFixtures, EveryFixtureFileIsListed) {
  TERN_REQUIRE_ASSET(kFixtureDir);
  for (const auto& [dir, list] : {std::pair{"encode", &kEncodeFiles}, std::pair{"decode", &kDecodeFiles}}) {
    for (const auto& e : std::filesystem::directory_iterator(test::asset(kFixtureDir) + "/" + dir)) {
      const std::string stem = e.path().stem().string();
      EXPECT_NE(std::find(list->begin(), list->end(), stem), list->end()) << dir << "/" << stem;
    }
  }
}

// ---- randomized round trip ---------------------------------------------------

// JSON-model equality of spec §2: numbers by value, object keys in any order
// (tables decode in the header's field order).
bool same(const Json& a, const Json& b) {
  if (a.is_number() && b.is_number()) {
    if (!a.is_number_float() && !b.is_number_float()) return a == b;
    return a.get<double>() == b.get<double>();
  }
  if (a.type() != b.type()) return false;
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (const auto& [k, v] : a.items()) {
      auto it = b.find(k);
      if (it == b.end() || !same(v, *it)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!same(a[i], b[i])) return false;
    return true;
  }
  return a == b;
}

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  Json value(int depth) {
    const int kind = pick(depth > 0 ? 10 : 4);
    switch (kind) {
      case 0: return primitive();
      case 1: return primitive();
      case 2: return string();
      case 3: return number();
      case 4: case 5: return object(depth);
      case 6: return uniform_objects(depth);
      case 7: return keyed_object(depth);
      case 8: return array_of_arrays(depth);
      default: return array(depth);
    }
  }

 private:
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  Json primitive() {
    switch (pick(5)) {
      case 0: return nullptr;
      case 1: return pick(2) == 0;
      case 2: return number();
      default: return string();
    }
  }

  Json number() {
    static const std::vector<Json> edges = {
        0, -1, 1, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(),
        std::numeric_limits<uint64_t>::max(), 9007199254740993ll, -0.0, 0.1, 1e-6, 1e-7,
        9.999999e-7, 1e21, 1e20, 123456789012345678e3, 1.7976931348623157e308, 5e-324,
        2.2250738585072014e-308, -1.5e-300, 0.3333333333333333, 100.0, -2.5, 1e15 + 0.3};
    switch (pick(4)) {
      case 0: return edges[pick(static_cast<int>(edges.size()))];
      case 1: return std::uniform_int_distribution<int64_t>(-1000000, 1000000)(rng_);
      case 2: {  // any finite double, by its bits
        for (;;) {
          uint64_t bits = rng_();
          double d;
          std::memcpy(&d, &bits, sizeof d);
          if (std::isfinite(d)) return d;
        }
      }
      default: return std::uniform_real_distribution<double>(-1e6, 1e6)(rng_);
    }
  }

  std::string string() {
    static const std::vector<std::string> pieces = {
        "", " ", "a", "Ada", "x y", "-", "- item", "#", "#tag", "true", "false", "null", "42",
        "-3.14", "05", "1e-6", "+1", ".5", "1.", "a,b", "a|b", "a\tb", "a:b", "\"q\"", "\\",
        "[2]: x", "{k}", "[]", "\n", "\r\n", "\x01", "\x1f", "caf\xc3\xa9", "\xe4\xbd\xa0\xe5\xa5\xbd",
        "\xf0\x9f\x9a\x80", "\xc2\xa0nbsp", "trailing ", " leading", "Infinity", "NaN", "0x10",
        "a b c", "\xe2\x80\xa8", "key: value", "x[1]", "\"", "'", "`", "%", "=", "~"};
    std::string s;
    const int n = pick(3) + 1;
    for (int i = 0; i < n; ++i) s += pieces[pick(static_cast<int>(pieces.size()))];
    return s;
  }

  std::string key() {
    static const std::vector<std::string> names = {"id", "name", "a", "b", "user.name", "_x", "x_1",
                                                   "full name", "order:id", "", "42", "-k", "#k",
                                                   "a,b", "a|b", "[i]", "{k}", "k\"q", "\xc3\xa9t\xc3\xa9"};
    return pick(3) == 0 ? string() : names[pick(static_cast<int>(names.size()))];
  }

  Json object(int depth) {
    Json o = Json::object();
    const int n = pick(5);
    for (int i = 0; i < n; ++i) o[key()] = value(depth - 1);
    return o;
  }

  Json array(int depth) {
    Json a = Json::array();
    const int n = pick(5);
    for (int i = 0; i < n; ++i) a.push_back(value(depth - 1));
    return a;
  }

  Json array_of_arrays(int depth) {
    Json a = Json::array();
    const int n = pick(4);
    for (int i = 0; i < n; ++i) a.push_back(pick(3) ? Json(array(depth - 1)) : Json::array());
    return a;
  }

  // A shape (field tree) and objects of that shape: exercises tables and
  // nested field groups; one element sometimes deviates.
  Json shaped(const Json& shape) {
    Json o = Json::object();
    for (const auto& [k, sub] : shape.items()) o[k] = sub.is_object() ? shaped(sub) : primitive();
    return o;
  }
  Json shape(int depth) {
    Json s = Json::object();
    const int n = pick(3) + 1;
    for (int i = 0; i < n; ++i) s[key()] = (depth > 0 && pick(4) == 0) ? shape(depth - 1) : Json(nullptr);
    return s;
  }
  Json uniform_objects(int depth) {
    const Json s = shape(2);
    Json a = Json::array();
    const int n = pick(4) + 1;
    for (int i = 0; i < n; ++i) a.push_back(shaped(s));
    if (pick(4) == 0 && !a.empty()) a.back()[key()] = value(depth - 1);
    return a;
  }
  Json keyed_object(int depth) {
    const Json s = shape(2);
    Json o = Json::object();
    const int n = pick(4) + 1;
    for (int i = 0; i < n; ++i) o[key()] = shaped(s);
    return o;
  }

  std::mt19937_64 rng_;
};

TEST(ToonRoundTrip, RandomValuesDecodeToThemselves) {
  int tested = 0;
  for (uint64_t seed = 1; seed <= 3000; ++seed) {
    Generator g(seed);
    const Json v = g.value(4);
    EncodeOptions eo;
    eo.delimiter = ",\t|"[seed % 3];
    eo.indent = seed % 5 == 0 ? 4 : 2;
    DecodeOptions dopt;
    dopt.indent = eo.indent;
    const std::string text = encode(v, eo);
    auto back = decode(text, dopt);
    ASSERT_TRUE(back.ok()) << "seed " << seed << ": " << back.status().message() << "\njson: " << v.dump()
                           << "\ntoon:\n" << text;
    ASSERT_TRUE(same(v, *back)) << "seed " << seed << "\njson: " << v.dump() << "\ntoon:\n" << text
                                << "\nback: " << back->dump();
    // Encoding is deterministic and stable: the decoded value encodes identically.
    EXPECT_EQ(encode(*back, eo), text) << "seed " << seed;
    ++tested;
  }
  EXPECT_EQ(tested, 3000);
}

TEST(ToonRoundTrip, OutputHasNoTrailingSpacesOrNewline) {
  for (uint64_t seed = 1; seed <= 500; ++seed) {
    const std::string text = encode(Generator(seed).value(3));
    EXPECT_TRUE(text.empty() || text.back() != '\n') << seed;
    EXPECT_EQ(text.find(" \n"), std::string::npos) << seed;
    EXPECT_EQ(text.find("\r"), std::string::npos) << seed;
  }
}

// The decoded value, or a string naming the error (so comparisons fail readably).
Json value_of(std::string_view text, DecodeOptions o = {}) {
  auto r = decode(text, o);
  return r.ok() ? std::move(r).value() : Json("error: " + r.status().message());
}

TEST(ToonNumbers, CanonicalForms) {
  EXPECT_EQ(encode(Json(1e6)), "1000000");
  EXPECT_EQ(encode(Json(1.5)), "1.5");
  EXPECT_EQ(encode(Json(-0.0)), "0");
  EXPECT_EQ(encode(Json(1e-6)), "0.000001");
  EXPECT_EQ(encode(Json(1e-7)), "1e-7");
  EXPECT_EQ(encode(Json(1e21)), "1e+21");
  EXPECT_EQ(encode(Json(1.2345e20)), "123450000000000000000");
  EXPECT_EQ(encode(Json(std::numeric_limits<uint64_t>::max())), "18446744073709551615");
  EXPECT_EQ(encode(Json(std::numeric_limits<int64_t>::min())), "-9223372036854775808");
  EXPECT_EQ(encode(Json(std::nan(""))), "null");
  EXPECT_EQ(encode(Json(HUGE_VAL)), "null");
  EXPECT_EQ(value_of("1.0"), Json(1));
  EXPECT_TRUE(value_of("1.0").is_number_integer());
  EXPECT_EQ(value_of("18446744073709551615"), Json(std::numeric_limits<uint64_t>::max()));
  EXPECT_EQ(value_of("1e999"), Json("1e999"));  // beyond double: the token, unchanged
}

// ---- maybe_encode --------------------------------------------------------------

size_t byte_count(std::string_view s) { return s.size(); }

TEST(ToonMaybeEncode, PicksToonWhenItIsSmaller) {
  Json rows = Json::array();
  for (int i = 0; i < 20; ++i) rows.push_back({{"id", i}, {"name", "user" + std::to_string(i)}, {"ok", true}});
  const Json v = {{"users", rows}};
  const auto r = maybe_encode_detailed(v, byte_count);
  EXPECT_TRUE(r.is_toon);
  EXPECT_EQ(r.text, encode(v));
  EXPECT_LT(r.tokens, r.json_tokens);
  EXPECT_EQ(maybe_encode(v, byte_count), encode(v));
}

TEST(ToonMaybeEncode, FallsBackToMinifiedJsonWhenNotSmaller) {
  // Deep single-key nesting: indentation makes TOON longer than minified JSON.
  Json v = 1;
  for (int i = 0; i < 12; ++i) v = Json{{"k", v}};
  ASSERT_GE(encode(v).size(), v.dump().size());
  const auto r = maybe_encode_detailed(v, byte_count);
  EXPECT_FALSE(r.is_toon);
  EXPECT_EQ(r.text, v.dump());
  EXPECT_EQ(r.tokens, r.json_tokens);
  // A tie also keeps JSON: TOON must be strictly smaller.
  auto constant = [](std::string_view) -> size_t { return 7; };
  EXPECT_EQ(maybe_encode(Json{{"a", 1}}, constant), R"({"a":1})");
  // Whatever is chosen, it never costs more than minified JSON.
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    const Json x = Generator(seed).value(3);
    const auto m = maybe_encode_detailed(x, byte_count);
    EXPECT_LE(m.text.size(), x.dump().size()) << seed;
  }
}

// ---- errors --------------------------------------------------------------------

std::string error_of(std::string_view text, DecodeOptions o = {}) {
  auto r = decode(text, o);
  return r.ok() ? "(no error)" : r.status().message();
}

TEST(ToonErrors, MessagesCarryLineAndColumn) {
  EXPECT_EQ(error_of("tags[3]: a,b"), "1:1: declared 3 values, found 2");
  EXPECT_EQ(error_of("a: 1\nname: Ada\nname: Bob"), "3:1: duplicate key 'name'");
  EXPECT_EQ(error_of("a:\n   b: 1"), "2:4: indentation of 3 spaces is not a multiple of 2");
  EXPECT_EQ(error_of("items[2]:\n  - a\n\n  - b"), "3:1: blank line inside an array");
  EXPECT_EQ(error_of("x: 1\ny: \"bad\\q\""), "2:8: invalid escape \\q");
  EXPECT_EQ(error_of("a:\n  user"), "2:7: missing ':' after key");
  EXPECT_EQ(error_of("a:\n\tb: 1"), "2:1: tab in indentation");
  EXPECT_EQ(error_of("items[2]{id,name}:\n  1,Ada\n  2"), "3:3: row has 1 values, the header declares 2 fields");
  EXPECT_EQ(error_of("k: \xff"), "1:4: invalid UTF-8");
  // One line each, so a CLI can print them as FILE:LINE:COL: message.
  EXPECT_EQ(error_of("x[03]: a").find('\n'), std::string::npos);
}

TEST(ToonDecode, ListItemMarkerWithTrailingSpaceIsAnEmptyObject) {
  EXPECT_EQ(value_of("items[2]:\n  - \n  -"), Json::parse(R"({"items":[{},{}]})"));
}

TEST(ToonErrors, NonStrictModeTolerates) {
  DecodeOptions lax;
  lax.strict = false;
  EXPECT_EQ(value_of("tags[3]: a,b", lax), Json::parse(R"({"tags":["a","b"]})"));
  EXPECT_EQ(value_of("a: 1\na: 2", lax), Json::parse(R"({"a":2})"));
  EXPECT_EQ(value_of("a:\n\tb: 1", lax), Json::parse(R"({"a":{"b":1}})"));
}

TEST(JsonBracketEnd, MatchesOutsideStringsAndReportsTheScan) {
  const std::string t = R"(x {"a": "}]", "b": [1, {"c": "\"}"}]} tail)";
  size_t scanned = 0;
  const size_t end = json_bracket_end(t, 2, t.size(), &scanned);
  ASSERT_NE(end, std::string_view::npos);
  EXPECT_EQ(t.substr(2, end - 2), R"({"a": "}]", "b": [1, {"c": "\"}"}]})");
  EXPECT_EQ(scanned, end - 2 - 1);  // up to, not including, the closing brace
  EXPECT_EQ(json_bracket_end("[1, 2}", 0, 6, &scanned), std::string_view::npos);  // mismatch
  EXPECT_EQ(scanned, 5u);
  EXPECT_EQ(json_bracket_end("[[1]", 0, 4, &scanned), std::string_view::npos);  // never closes
  EXPECT_EQ(scanned, 4u);
  EXPECT_EQ(json_bracket_end("[1, 2]", 0, 3), std::string_view::npos);  // stops at `end`
  EXPECT_EQ(json_bracket_end("[1, 2]", 0, 100), 6u);
}

}  // namespace
}  // namespace tern::toon
