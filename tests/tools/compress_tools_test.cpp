// `tern compress`, `tern compact`, `tern toon` and `tern bench-compress` run as a user would (the built
// binary, TERN_BIN) on stories260K.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "test_assets.h"
#include "tools/run_tern.h"

namespace tern {
namespace {

namespace fs = std::filesystem;
constexpr const char* kModel = "models/stories260K.gguf";

using Ran = test::Ran;
Ran tern(const std::string& args, const std::string& err_file = "") { return test::run_tern(args, err_file); }

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class CompressToolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(test::asset(kModel))) GTEST_SKIP() << "asset " << test::asset(kModel) << " not found";
    dir_ = fs::temp_directory_path() / ("tern_compress_tools_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    model_ = test::asset(kModel);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  void write(const std::string& name, const std::string& text) const { std::ofstream(path(name)) << text; }
  fs::path dir_;
  std::string model_;
};

const std::string kText =
    "Once upon a time, there was a little girl named Lily. She loved to play in the park with her friend Tom. "
    "One day they found a big red ball near gate_7, and it cost $4.99 on 2024-05-01 at https://shop.example.com/ball.\n\n"
    "The next day Tom brought his dog to the park. The dog ran after the ball and everyone laughed all day long. "
    "Mom said \"time for lunch\" and they all went home to eat sandwiches and drink milk.";

TEST_F(CompressToolsTest, CompressesAFileToTheRatio) {
  write("in.txt", kText);
  const Ran r = tern("compress -m " + model_ + " --ratio 2 --question 'Where was the ball?' " + path("in.txt"), path("err"));
  ASSERT_EQ(r.exit_code, 0) << slurp(path("err"));
  for (const char* kept : {"gate_7", "$4.99", "2024-05-01", "https://shop.example.com/ball", "\"time for lunch\"",
                           "Where was the ball?"})
    EXPECT_NE(r.out.find(kept), std::string::npos) << kept << " missing: " << r.out;
  EXPECT_LT(r.out.size(), kText.size());
  EXPECT_NE(slurp(path("err")).find("tokens ("), std::string::npos) << slurp(path("err"));
}

TEST_F(CompressToolsTest, JsonOutputFromStdin) {
  write("in.txt", kText);
  const Ran r = tern("compress -m " + model_ + " --ratio 3 --json - < " + path("in.txt"), path("err"));
  ASSERT_EQ(r.exit_code, 0) << slurp(path("err"));
  const auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_LT(j["tokens_after"].get<int>(), j["tokens_before"].get<int>());
  EXPECT_GT(j["ratio"].get<double>(), 1.5);
  EXPECT_EQ(j["segments"].size(), 2u);
  for (const auto& s : j["protected_spans"]) EXPECT_NE(j["text"].get<std::string>().find(s.get<std::string>()), std::string::npos);
}

TEST_F(CompressToolsTest, ErrorsAreOneLineAndNonZero) {
  Ran r = tern("compress -m " + model_ + " " + path("missing.txt"), path("err"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(slurp(path("err")), "tern compress: " + path("missing.txt") + ": cannot open\n");
  write("in.txt", kText);
  r = tern("compress -m " + path("nope.gguf") + " " + path("in.txt"), path("err"));
  EXPECT_EQ(r.exit_code, 1);
  const std::string err = slurp(path("err"));
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  r = tern("compress -m " + model_ + " --ratio 0.5 " + path("in.txt"), path("err"));
  EXPECT_NE(r.exit_code, 0);
}

// `tern compact`: system prompt and recent turns verbatim, the old turns in
// one summary written by the model; below the trigger, unchanged.
TEST_F(CompressToolsTest, CompactSummarisesTheOldTurns) {
  nlohmann::json msgs = nlohmann::json::array({{{"role", "system"}, {"content", "You are a helpful assistant."}}});
  for (int t = 0; t < 4; ++t) {
    msgs.push_back({{"role", "user"}, {"content", "Tell me part " + std::to_string(t) + " of the story about Lily."}});
    msgs.push_back({{"role", "assistant"}, {"content", "Lily went to the park and saw a big red ball near the old tree."}});
  }
  msgs.push_back({{"role", "user"}, {"content", "What did Lily see?"}});
  write("conv.json", nlohmann::json{{"messages", msgs}}.dump());
  Ran r = tern("compact -m " + model_ + " --context-tokens 150 --keep-recent 2 " + path("conv.json"), path("err"));
  ASSERT_EQ(r.exit_code, 0) << slurp(path("err"));
  const auto out = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(out.is_array()) << r.out;
  ASSERT_EQ(out.size(), 4u) << r.out;
  EXPECT_EQ(out[0], msgs[0]);
  EXPECT_EQ(out[1]["content"].get<std::string>().rfind("[Summary of the earlier conversation]\n", 0), 0u) << r.out;
  EXPECT_EQ(out[2], msgs[msgs.size() - 2]);
  EXPECT_EQ(out[3], msgs.back());
  EXPECT_NE(slurp(path("err")).find("compacted; 0 tool outputs shortened, 7 messages summarised"), std::string::npos)
      << slurp(path("err"));

  r = tern("compact -m " + model_ + " --context-tokens 100000 - < " + path("conv.json"), path("err"));
  ASSERT_EQ(r.exit_code, 0) << slurp(path("err"));
  EXPECT_EQ(nlohmann::json::parse(r.out), msgs);
  write("bad.json", "{\"messages\": 5}");
  r = tern("compact -m " + model_ + " " + path("bad.json"), path("err"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(slurp(path("err")).find("expected a JSON messages array"), std::string::npos) << slurp(path("err"));
}

// `tern toon encode | tern toon decode` gives the JSON back; bad input is
// one line on stderr and exit code 1, never a crash.
TEST_F(CompressToolsTest, ToonEncodeDecodeRoundTripAndErrors) {
  const nlohmann::ordered_json data = nlohmann::ordered_json::parse(
      R"({"users": [{"id": 1, "name": "Ada", "active": true}, {"id": 2, "name": "Bo, Jr.", "active": false}], "n": 2})");
  write("in.json", data.dump(2));
  Ran r = tern("toon encode " + path("in.json"), path("err"));
  ASSERT_EQ(r.exit_code, 0) << slurp(path("err"));
  EXPECT_NE(r.out.find("users[2]{id,name,active}:"), std::string::npos) << r.out;
  write("in.toon", r.out);
  r = tern("toon decode --compact " + path("in.toon"), path("err"));
  ASSERT_EQ(r.exit_code, 0) << slurp(path("err"));
  EXPECT_EQ(nlohmann::ordered_json::parse(r.out), data) << r.out;
  for (const char* bad : {"{\"a\": 1e400}", "{\"a\": }"}) {
    write("bad.json", bad);
    r = tern("toon encode " + path("bad.json"), path("err"));
    EXPECT_EQ(r.exit_code, 1) << bad;
    const std::string err = slurp(path("err"));
    EXPECT_NE(err.find("invalid JSON"), std::string::npos) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  }
  write("bad.toon", "users[2]{id}:\n  1\n");
  r = tern("toon decode " + path("bad.toon"), path("err"));
  EXPECT_EQ(r.exit_code, 1);
}

TEST_F(CompressToolsTest, BenchCompressReportsEveryTechnique) {
  nlohmann::json rows = nlohmann::json::array();
  for (int i = 0; i < 10; ++i) rows.push_back({{"id", 100 + i}, {"name", "row" + std::to_string(i)}, {"ok", i % 2 == 0}});
  const nlohmann::json corpus[] = {
      {{"id", "p1"}, {"kind", "passages"}, {"instruction", "Answer briefly."},
       {"context", {kText, "Lily and Tom went home at 17:30 after a long day at the lake."}},
       {"question", "What did they find?"}, {"facts", {"gate_7", "$4.99"}}},
      {{"id", "t1"}, {"kind", "tool_json"}, {"context", {nlohmann::json{{"rows", rows}}.dump(2)}}, {"facts", {"row3"}}},
      {{"id", "c1"}, {"kind", "chat"}, {"context", {"user: hi"}},
       {"messages", {{{"role", "system"}, {"content", "Be brief."}},
                     {{"role", "user"}, {"content", kText}},
                     {{"role", "assistant"}, {"content", "They found a ball near gate_7."}},
                     {{"role", "tool"}, {"content", kText + " " + kText}},
                     {{"role", "assistant"}, {"content", "ok"}},
                     {{"role", "user"}, {"content", "more"}},
                     {{"role", "assistant"}, {"content", "sure"}},
                     {{"role", "user"}, {"content", "and then?"}}}},
       {"facts", {"gate_7"}}}};
  std::ofstream f(path("corpus.jsonl"));
  for (const auto& c : corpus) f << c.dump() << "\n";
  f.close();
  const Ran r = tern("bench-compress -m " + model_ + " " + path("corpus.jsonl") + " --ratios 2 --repeat 1 --json " +
                         path("rows.json"),
                     path("err"));
  ASSERT_EQ(r.exit_code, 0) << slurp(path("err"));
  EXPECT_NE(r.out.find("## Totals per technique"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(slurp(path("rows.json")), nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  std::set<std::string> techniques;
  for (const auto& row : j["rows"]) {
    techniques.insert(row["technique"].get<std::string>());
    if (row["technique"] == "compress 2.0x") {
      EXPECT_EQ(row["spans_kept"], row["spans"]) << row.dump();
      if (row["id"] == "p1") EXPECT_LT(row["tokens_after"].get<int>(), row["tokens_before"].get<int>());
      if (row["id"] == "t1") EXPECT_EQ(row["tokens_after"], row["tokens_before"]);  // all JSON: all protected
      EXPECT_GT(row["ms_per_1k_tokens"].get<double>(), 0.0);
    }
    if (row["technique"] == "toon") EXPECT_LT(row["tokens_after"].get<int>(), row["tokens_before"].get<int>());
  }
  for (const char* t : {"compress 2.0x", "json pretty", "json minified", "toon", "compaction"})
    EXPECT_TRUE(techniques.count(t)) << t;
  // A corpus line without a context array is a one-line error.
  write("bad.jsonl", "{\"id\": \"x\"}\n");
  const Ran bad = tern("bench-compress -m " + model_ + " " + path("bad.jsonl"), path("err"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(slurp(path("err")).find("bad.jsonl:1: not a corpus entry"), std::string::npos) << slurp(path("err"));
}

}  // namespace
}  // namespace tern
