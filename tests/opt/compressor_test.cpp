// Prompt compression (opt/compress/compressor.h): the budget controller,
// coarse and word selection, segmenting, and the compressor end to end, on a
// scripted byte-level scorer (exact, deterministic) and on the real model
// (stories260K): protected spans survive 2x/3x/4x and the ratio lands on the
// target.
#include <gtest/gtest.h>

#include <cmath>

#include "compress/compressor.h"
#include "compress/message_stages.h"
#include "toon/toon.h"
#include "test_assets.h"

namespace tern::compress {
namespace {

// One token per byte; a byte's self-information is scripted: lowercase
// vowels and spaces are predictable (0.1 nats), everything else 2 nats, and
// 'z' is pure noise (0.01) so that text made of it is "low information".
class ByteScorer final : public TokenScorer {
 public:
  explicit ByteScorer(int32_t max_tokens = 4096) : max_(max_tokens) {}
  std::vector<TokenId> tokenize(std::string_view text) const override {
    std::vector<TokenId> t;
    for (unsigned char c : text) t.push_back(c);
    return t;
  }
  std::string piece(TokenId token) const override { return std::string(1, static_cast<char>(token)); }
  int32_t max_tokens() const override { return max_; }
  TokenId bos() const override { return 256; }
  Result<std::vector<float>> logprobs(const std::vector<TokenId>& tokens) override {
    if (tokens.empty() || static_cast<int32_t>(tokens.size()) > max_) return OutOfRange("too long");
    ++calls;
    longest = std::max(longest, tokens.size());
    std::vector<float> lp(tokens.size(), 0.0f);
    for (size_t i = 1; i < tokens.size(); ++i) {
      const int c = tokens[i];
      float info = 2.0f;
      if (c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == ' ') info = 0.1f;
      if (c == 'z') info = 0.01f;
      lp[i] = -info;
    }
    return lp;
  }
  Result<std::vector<std::vector<float>>> logprobs_many(const std::vector<std::vector<TokenId>>& seqs) override {
    ++batches;
    return TokenScorer::logprobs_many(seqs);
  }
  int calls = 0, batches = 0;
  size_t longest = 0;

 private:
  int32_t max_;
};

// Word tokens that carry their leading space, as SentencePiece ("▁quick")
// and byte-level BPE ("Ġquick") pieces do; "filler" is predictable.
class WordScorer final : public TokenScorer {
 public:
  std::vector<TokenId> tokenize(std::string_view text) const override {
    std::vector<TokenId> t;
    size_t i = 0;
    while (i < text.size()) {
      size_t e = i;
      while (e < text.size() && text[e] == ' ') ++e;
      while (e < text.size() && text[e] != ' ') ++e;
      t.push_back(id(std::string(text.substr(i, e - i))));
      i = e;
    }
    return t;
  }
  std::string piece(TokenId token) const override { return words_[static_cast<size_t>(token)]; }
  int32_t max_tokens() const override { return 4096; }
  TokenId bos() const override { return -1; }
  Result<std::vector<float>> logprobs(const std::vector<TokenId>& tokens) override {
    std::vector<float> lp(tokens.size(), 0.0f);
    for (size_t i = 0; i < tokens.size(); ++i) lp[i] = piece(tokens[i]).find("filler") != std::string::npos ? -0.01f : -3.0f;
    return lp;
  }

 private:
  TokenId id(const std::string& w) const {
    for (size_t i = 0; i < words_.size(); ++i)
      if (words_[i] == w) return static_cast<TokenId>(i);
    words_.push_back(w);
    return static_cast<TokenId>(words_.size() - 1);
  }
  mutable std::vector<std::string> words_;
};

TEST(BudgetControllerTest, ProportionalAllowancesAndCarryOver) {
  BudgetController b(50, 200);
  EXPECT_EQ(b.allowance(100), 25);
  b.spend(100, 10);  // under-spent by 15: the rest of the stream gets it
  EXPECT_EQ(b.remaining_budget(), 40);
  EXPECT_EQ(b.allowance(50), 20);
  b.spend(50, 30);   // over-spent
  EXPECT_EQ(b.allowance(50), 10);
  EXPECT_EQ(b.allowance(0), 0);
  b.spend(50, 10);
  EXPECT_EQ(b.remaining_budget(), 0);
  EXPECT_EQ(b.allowance(10), 0);
  // Never more than the window, never negative.
  BudgetController big(1000, 10);
  EXPECT_EQ(big.allowance(10), 10);
  BudgetController none(-5, 10);
  EXPECT_EQ(none.allowance(10), 0);
}

TEST(SelectTest, SegmentsByScoreWithinBudget) {
  const std::vector<double> score = {1.0, 3.0, 2.0, 3.0};
  const std::vector<int64_t> tokens = {10, 10, 10, 10};
  EXPECT_EQ(select_segments(score, tokens, 20, false), (std::vector<bool>{false, true, false, true}));
  EXPECT_EQ(select_segments(score, tokens, 25, false), (std::vector<bool>{false, true, false, true}));
  EXPECT_EQ(select_segments(score, tokens, 25, true), (std::vector<bool>{false, true, true, true}));
  EXPECT_EQ(select_segments(score, tokens, 0, true), (std::vector<bool>{false, false, false, false}));
}

TEST(SelectTest, UnitsKeepProtectedThenBestFitting) {
  const std::vector<double> score = {0.5, 9.0, 3.0, 2.0, 1.0};
  const std::vector<int64_t> tokens = {4, 5, 2, 2, 1};
  const std::vector<bool> prot = {true, false, false, false, false};
  EXPECT_EQ(select_units(score, tokens, prot, 7), (std::vector<bool>{true, true, true, false, false}));
  EXPECT_EQ(select_units(score, tokens, prot, 4), (std::vector<bool>{true, false, true, true, false}));
  EXPECT_EQ(select_units(score, tokens, prot, 0), (std::vector<bool>{true, false, false, false, false}));
}

TEST(SplitSegmentsTest, ParagraphsAndWholeCodeBlocks) {
  const auto s = split_segments("first para\nline two\n\n\n```\ncode\n\nmore code\n```\n\nlast");
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].text, "first para\nline two");
  EXPECT_EQ(s[1].text, "```\ncode\n\nmore code\n```");
  EXPECT_EQ(s[2].text, "last");
  EXPECT_TRUE(split_segments("\n\n  \n").empty());
}

const std::string kPassage =
    "The deployment of service alpha_gateway finished at 14:05 on 2024-03-02. Operators reported that the "
    "latency dropped to 35 ms while throughput rose by 12% compared with the previous release, and the "
    "rollback plan stored at https://ops.example.com/runbooks/alpha was never needed. The team said \"ship it\" "
    "after checking `kubectl get pods` twice, and the config {\"replicas\": 3, \"region\": \"eu-west-1\"} stays "
    "unchanged for now. Everyone agreed that the migration went better than expected overall.";

bool contains_all(const std::string& text, const std::vector<std::string>& parts) {
  for (const auto& p : parts)
    if (text.find(p) == std::string::npos) return false;
  return true;
}

TEST(CompressorTest, KeepsProtectedSpansAndHitsTheRatio) {
  ByteScorer scorer;
  Compressor c(scorer);
  std::string text;
  for (int i = 0; i < 4; ++i) text += kPassage + "\n\n";
  for (double ratio : {2.0, 3.0, 4.0}) {
    CompressOptions o;
    o.ratio = ratio;
    auto r = c.compress(text, o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_FALSE(r->protected_spans.empty());
    EXPECT_TRUE(contains_all(r->text, r->protected_spans)) << r->text;
    EXPECT_TRUE(contains_all(r->text, {"alpha_gateway", "14:05", "2024-03-02", "35", "12%",
                                       "https://ops.example.com/runbooks/alpha", "\"ship it\"", "`kubectl get pods`",
                                       "{\"replicas\": 3, \"region\": \"eu-west-1\"}"}));
    // Protected text is a floor: the target is reachable when it is below it.
    if (r->budget >= r->protected_tokens) {
      EXPECT_NEAR(r->ratio(), ratio, ratio * 0.1) << "ratio " << ratio;
    }
    EXPECT_LE(r->tokens_after, r->tokens_before);
  }
}

TEST(CompressorTest, InstructionAndQuestionStayVerbatim) {
  ByteScorer scorer;
  Compressor c(scorer);
  std::vector<Segment> segs = {{"Answer using only the report below.", Role::kInstruction},
                               {kPassage, Role::kContext},
                               {"When did the deployment finish and what was the latency?", Role::kQuestion}};
  CompressOptions o;
  o.ratio = 3.0;
  auto r = c.compress(segs, o);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->segments.size(), 3u);
  EXPECT_EQ(r->segments[0].text, segs[0].text);
  EXPECT_EQ(r->segments[2].text, segs[2].text);
  EXPECT_LT(r->segments[1].tokens_after, r->segments[1].tokens_before);
  EXPECT_EQ(r->text.rfind(segs[2].text), r->text.size() - segs[2].text.size());
}

TEST(CompressorTest, CoarseDropsTheLowInformationSegmentButNotItsProtectedSpans) {
  ByteScorer scorer;
  Compressor c(scorer);
  const std::string noise = "zzz zzzz zzz zzzzz zzz zzzz zzz zzzz zzz zzzz zzzzz zzz zzzz zzz zzzz zzz zz zzzz ID-7781 zzz";
  std::vector<Segment> segs = {{kPassage}, {noise}, {kPassage}};
  CompressOptions o;
  // Room for both passages but not for the noise's prose on top.
  o.target_tokens = static_cast<int64_t>(2 * kPassage.size() + noise.size()) - 40;
  o.fine = false;  // coarse only: whole segments
  auto r = c.compress(segs, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(scorer.batches, 1);  // the three segments' windows in one batch
  EXPECT_EQ(scorer.calls, 3);
  ASSERT_EQ(r->segments.size(), 3u);
  EXPECT_TRUE(r->segments[1].dropped);
  EXPECT_LT(r->segments[1].self_information, r->segments[0].self_information);
  EXPECT_EQ(r->segments[1].text, "ID-7781");  // the skeleton: protected spans only
  EXPECT_FALSE(r->segments[0].dropped);
  EXPECT_FALSE(r->segments[2].dropped);
  EXPECT_EQ(r->segments[0].text, kPassage);
}

TEST(CompressorTest, LongTextIsScoredInWindowsConditionedOnTheCompressedPrefix) {
  ByteScorer scorer(200);
  Compressor c(scorer);
  std::string text;
  for (int i = 0; i < 3; ++i) text += kPassage + " ";
  CompressOptions o;
  o.ratio = 2.0;
  o.iterative = true;
  o.condition_tokens = 32;
  auto r = c.compress(std::vector<Segment>{{text}}, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_GT(scorer.calls, 5);
  EXPECT_LE(scorer.longest, 200u);
  EXPECT_GT(r->scored_tokens, static_cast<int64_t>(text.size()));  // conditioning tokens are scored again
  EXPECT_TRUE(contains_all(r->text, r->protected_spans));
}

TEST(CompressorTest, DefaultModeScoresEveryTokenOnceInWindows) {
  ByteScorer scorer(200);
  Compressor c(scorer);
  std::string text;
  for (int i = 0; i < 3; ++i) text += kPassage + " ";
  CompressOptions o;
  o.ratio = 2.0;
  auto r = c.compress(std::vector<Segment>{{text}}, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_LE(scorer.longest, 200u);
  // One pass: each token once, plus one BOS per window of at most 199 tokens.
  const int64_t n = static_cast<int64_t>(scorer.tokenize(text).size());
  EXPECT_EQ(r->scored_tokens, n + (n + 198) / 199);
  EXPECT_EQ(r->model_calls, (n + 198) / 199);
  EXPECT_EQ(scorer.batches, 1);  // every window in one batch: the engine scores them side by side
  EXPECT_EQ(scorer.calls, r->model_calls);
  EXPECT_TRUE(contains_all(r->text, r->protected_spans));
  EXPECT_NEAR(r->ratio(), 2.0, 0.2);
  // Iterative mode costs more model work for the same target.
  o.iterative = true;
  auto it = c.compress(std::vector<Segment>{{text}}, o);
  ASSERT_TRUE(it.ok());
  EXPECT_GT(it->scored_tokens, r->scored_tokens);
}

TEST(CompressorTest, NothingIsScoredWhenTheBudgetCoversTheText) {
  ByteScorer scorer;
  Compressor c(scorer);
  CompressOptions o;
  o.target_tokens = 100000;
  auto r = c.compress(kPassage, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->model_calls, 0);
  EXPECT_EQ(r->text, kPassage);
}

TEST(CompressorTest, TargetTokensAndForceStrings) {
  ByteScorer scorer;
  Compressor c(scorer);
  CompressOptions o;
  o.target_tokens = 250;
  o.protect.force = {"migration went"};
  auto r = c.compress(kPassage, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->budget, 250);
  EXPECT_NEAR(static_cast<double>(r->tokens_after), 250.0, 25.0);
  EXPECT_NE(r->text.find("migration went"), std::string::npos);
}

// Protected content only: nothing can go, so the answer is the input as
// given (segments joined by the separator), flagged unchanged.
TEST(CompressorTest, NothingToDropGivesTheInputBack) {
  ByteScorer scorer;
  Compressor c(scorer);
  const std::vector<Segment> segs = {{"Summarise the orders.", Role::kInstruction},
                                     {"{\"orders\": [{\"id\": 1, \"sku\": \"A-7\"}, {\"id\": 2, \"sku\": \"B-9\"}]}"},
                                     {"```\nSELECT * FROM orders;\n```"}};
  CompressOptions o;
  o.ratio = 3.0;
  auto r = c.compress(segs, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->unchanged);
  EXPECT_EQ(r->text, segs[0].text + "\n\n" + segs[1].text + "\n\n" + segs[2].text);
  EXPECT_EQ(r->tokens_after, r->tokens_before);
  EXPECT_EQ(r->tokens_before, static_cast<int64_t>(r->text.size()));
  for (size_t i = 0; i < segs.size(); ++i) EXPECT_EQ(r->segments[i].text, segs[i].text);
  // Something to drop: not unchanged.
  auto prose = c.compress(kPassage, o);
  ASSERT_TRUE(prose.ok());
  EXPECT_FALSE(prose->unchanged);
  EXPECT_LT(prose->tokens_after, prose->tokens_before);
}

// A token's score belongs to the word it spells, not to the word before the
// space it carries: the predictable words go, the others stay.
TEST(CompressorTest, LeadingSpaceTokensScoreTheirOwnWord) {
  WordScorer scorer;
  Compressor c(scorer);
  CompressOptions o;
  o.target_tokens = 7;
  o.coarse = false;
  auto r = c.compress("alpha filler bravo charlie filler delta echo foxtrot filler golf", o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->text, "alpha bravo charlie delta echo foxtrot golf") << r->text;
}

// TOON then compression: the TOON the first stage wrote is data, not prose
// (and not JSON to the span detector): compression keeps it whole, so it
// still decodes to the tool's JSON.
TEST(MessageStagesTest, CompressionKeepsTheToonItRewroteWhole) {
  ByteScorer scorer;
  const toon::Json data = toon::Json::parse(
      R"({"order": {"status": "shipped", "note": "left at the front door", "carrier": "UPS",)"
      R"( "items": [{"sku": "A1", "name": "blue mug", "qty": 2}, {"sku": "B2", "name": "tea towel", "qty": 1}]}})");
  toon::Json messages = toon::Json::array();
  messages.push_back({{"role", "system"}, {"content", "You are a helpful assistant."}});
  messages.push_back({{"role", "user"}, {"content", kPassage}});
  messages.push_back({{"role", "tool"}, {"tool_call_id", "c1"}, {"content", data.dump(2)}});
  messages.push_back({{"role", "user"}, {"content", "Where was the order left?"}});
  MessageStages st;
  st.toon = true;
  st.compress = true;
  st.ratio = 4;
  StageReport rep;
  ASSERT_TRUE(apply_message_stages(scorer, st, messages, &rep).ok());
  EXPECT_EQ(rep.toon_rewrites, 1);
  EXPECT_LT(rep.tokens_after, rep.tokens_before);
  const std::string tool = messages[2]["content"].get<std::string>();
  auto back = toon::decode(tool);
  ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << tool;
  EXPECT_EQ(*back, data) << tool;
  EXPECT_LT(messages[1]["content"].get<std::string>().size(), kPassage.size());  // the prose was compressed
}

TEST(CompressorTest, BadOptionsAreErrors) {
  ByteScorer scorer;
  Compressor c(scorer);
  CompressOptions o;
  o.ratio = 0.5;
  EXPECT_EQ(c.compress("text", o).status().code(), StatusCode::kInvalidArgument);
  o.ratio = 2;
  o.condition_tokens = 5000;
  EXPECT_EQ(c.compress("text", o).status().code(), StatusCode::kInvalidArgument);
  o.condition_tokens = 64;
  auto empty = c.compress("", o);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->text, "");
}

TEST(CompressorTest, RealModelKeepsEveryProtectedSpanAt2x3x4x) {
  TERN_REQUIRE_ASSET("models/stories260K.gguf");
  EngineOptions eo;
  eo.model_path = test::asset("models/stories260K.gguf");
  eo.threads = 2;
  auto engine = Engine::create(eo);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  EngineScorer scorer(**engine);
  Compressor c(scorer);
  std::string text;
  for (int i = 0; i < 3; ++i) text += kPassage + "\n\nOnce upon a time, a little girl named Lily went to the park with her mom. "
                                                 "She saw a big red ball and played with it all day long.\n\n";
  for (double ratio : {2.0, 3.0, 4.0}) {
    CompressOptions o;
    o.ratio = ratio;
    auto r = c.compress(text, o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_TRUE(contains_all(r->text, r->protected_spans)) << r->text;
    EXPECT_GT(r->model_calls, 0);
    if (r->budget >= r->protected_tokens) EXPECT_NEAR(r->ratio(), ratio, ratio * 0.15) << r->text;
  }
  // A tool result of JSON only (protected whole): never more tokens than sent.
  std::string rows = "[";
  for (int i = 0; i < 30; ++i)
    rows += (i ? ", " : "") + std::string("{\"id\": ") + std::to_string(1000 + i) + ", \"status\": \"shipped\"}";
  rows += "]";
  const std::vector<Segment> tool = {{"List the orders that shipped.", Role::kInstruction}, {rows}};
  CompressOptions o;
  o.ratio = 2.0;
  auto r = c.compress(tool, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_LE(r->tokens_after, r->tokens_before);
  EXPECT_EQ(static_cast<int64_t>(scorer.tokenize(r->text).size()), r->tokens_after);
  EXPECT_NE(r->text.find(rows), std::string::npos);
}

}  // namespace
}  // namespace tern::compress
