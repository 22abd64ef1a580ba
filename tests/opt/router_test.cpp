// Router rules, the classifier score, the cascade judge and the JSON-schema
// subset (opt/route).
#include <gtest/gtest.h>

#include "route/router.h"

namespace tern::opt {
namespace {

using nlohmann::json;

std::shared_ptr<const Pattern> pat(const std::string& p) {
  auto r = Pattern::compile(p);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return *r;
}

json chat(const std::string& user, json extra = json::object()) {
  json b = {{"model", "auto"}, {"messages", json::array({{{"role", "user"}, {"content", user}}})}};
  for (auto& [k, v] : extra.items()) b[k] = v;
  return b;
}

TEST(RequestFeatures, ReadsMessagesTagsAndTools) {
  json b = {{"messages", json::array({{{"role", "system"}, {"content", "be brief"}},
                                      {{"role", "user"}, {"content", json::array({{{"type", "text"}, {"text", "hi "}},
                                                                                 {{"type", "text"}, {"text", "there"}}})}},
                                      {{"role", "assistant"}, {"content", "hello"}},
                                      {{"role", "user"}, {"content", "again"}}})},
            {"metadata", {{"tags", {"code"}}}}};
  RequestFeatures f = request_features(b, {"urgent"});
  EXPECT_EQ(f.text, "be brief\nhi there\nhello\nagain");
  EXPECT_EQ(f.prompt_chars, f.text.size());
  EXPECT_EQ(f.last_user, "again");
  EXPECT_EQ(f.user_turns, 2);
  EXPECT_TRUE(f.multi_turn);
  EXPECT_FALSE(f.has_tools);
  EXPECT_EQ(f.tags, (std::vector<std::string>{"urgent", "code"}));
  EXPECT_TRUE(request_features(chat("x", {{"tools", json::array({{{"type", "function"}}})}}), {}).has_tools);
  json tool_turn = {{"messages", json::array({{{"role", "tool"}, {"content", "42"}}})}};
  EXPECT_TRUE(request_features(tool_turn, {}).has_tools);
  RequestFeatures c = request_features({{"prompt", "Once upon"}}, {});
  EXPECT_EQ(c.text, "Once upon");
  EXPECT_FALSE(c.multi_turn);
}

TEST(Router, FirstMatchingRuleWinsElseDefault) {
  std::vector<Rule> rules(5);
  rules[0].min_prompt_chars = 100;
  rules[0].targets = {"big"};
  rules[1].tags_any = {"hard", "legal"};
  rules[1].targets = {"big"};
  rules[2].pattern = pat("(?i)\\bprove\\b");
  rules[2].targets = {"math"};
  rules[3].tools = true;
  rules[3].targets = {"tool-model"};
  rules[4].min_score = 0.8;
  rules[4].targets = {"big"};
  Classifier c;
  c.bias = -2;
  c.weights = {{"theorem", 3.0}};
  Router r(rules, {"small", "big"}, c);

  EXPECT_EQ(r.plan(request_features(chat(std::string(150, 'a')), {})).rule, 0);
  EXPECT_EQ(r.plan(request_features(chat("hi"), {"legal"})).targets, (std::vector<std::string>{"big"}));
  EXPECT_EQ(r.plan(request_features(chat("Please PROVE it"), {})).targets, (std::vector<std::string>{"math"}));
  EXPECT_EQ(r.plan(request_features(chat("improve it"), {})).rule, -1);  // word boundary
  EXPECT_EQ(r.plan(request_features(chat("x", {{"tools", json::array({1})}}), {})).targets,
            (std::vector<std::string>{"tool-model"}));
  EXPECT_EQ(r.plan(request_features(chat("a theorem"), {})).rule, -1);         // score 1/(1+e^-1) = 0.73 < 0.8
  EXPECT_EQ(r.plan(request_features(chat("theorem theorem"), {})).rule, 4);     // 1/(1+e^-4) = 0.98
  RoutePlan d = r.plan(request_features(chat("hello"), {}));
  EXPECT_EQ(d.rule, -1);
  EXPECT_EQ(d.targets, (std::vector<std::string>{"small", "big"}));
}

TEST(Classifier, LogisticOverKeywordCounts) {
  Classifier c;
  c.bias = -1;
  c.weights = {{"proof", 1.0}, {"easy", -2.0}};
  EXPECT_NEAR(c.score("nothing"), 1 / (1 + std::exp(1.0)), 1e-12);
  EXPECT_NEAR(c.score("Proof, proof!"), 1 / (1 + std::exp(-1.0)), 1e-12);
  EXPECT_LT(c.score("easy proof"), 0.2);
}

TEST(Rule, ConditionsCombineWithAnd) {
  Rule r;
  r.min_prompt_chars = 5;
  r.max_prompt_chars = 10;
  r.tags_any = {"x"};
  Classifier c;
  EXPECT_TRUE(r.matches(request_features(chat("abcdef"), {"x"}), c));
  EXPECT_FALSE(r.matches(request_features(chat("abcdef"), {}), c));
  EXPECT_FALSE(r.matches(request_features(chat("abc"), {"x"}), c));
  EXPECT_FALSE(r.matches(request_features(chat("abcdefghijkl"), {"x"}), c));
}

TEST(Pattern, BadPatternIsAnErrorWithTheOffset) {
  auto p = Pattern::compile("(unclosed");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("offset"), std::string::npos);
}

TEST(Judge, AcceptsOrNamesTheReason) {
  EscalationPolicy p;
  p.min_mean_logprob = -1.0;
  EXPECT_TRUE(judge(p, "fine", {-0.1f, -0.5f}).accepted());
  Verdict low = judge(p, "meh", {-2.0f, -1.5f});
  EXPECT_EQ(low.reason, EscalationReason::kLowConfidence);
  EXPECT_TRUE(judge(p, "no logprobs reported", {}).accepted());

  p.refusals = {pat("(?i)i can(no|')t help")};
  EXPECT_EQ(judge(p, "Sorry, I can't help with that.", {-0.1f}).reason, EscalationReason::kRefusal);

  EscalationPolicy j;
  j.require_json = true;
  EXPECT_EQ(judge(j, "{not json", {}).reason, EscalationReason::kInvalidJson);
  EXPECT_TRUE(judge(j, "```json\n{\"a\": 1}\n```", {}).accepted());
  EXPECT_TRUE(judge(j, "[1, 2]", {}).accepted());
  // A line of dialogue in quotes parses as a JSON string: not structured output.
  EXPECT_EQ(judge(j, "\"Yes!\"", {}).reason, EscalationReason::kInvalidJson);
  EXPECT_EQ(judge(j, "42", {}).reason, EscalationReason::kInvalidJson);
  j.schema = json::parse(R"({"type":"object","required":["name"],"properties":{"name":{"type":"string"}}})");
  EXPECT_EQ(judge(j, R"({"nom": "x"})", {}).reason, EscalationReason::kSchema);
  EXPECT_TRUE(judge(j, R"({"name": "x"})", {}).accepted());
  EXPECT_STREQ(escalation_reason_name(EscalationReason::kSchema), "schema");
  EXPECT_DOUBLE_EQ(mean_logprob({-1, -3}), -2);
}

TEST(JsonSchema, Subset) {
  json s = json::parse(R"({
    "type": "object", "additionalProperties": false, "required": ["id", "tags"],
    "properties": {
      "id": {"type": "integer", "minimum": 1},
      "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}, "minItems": 1},
      "kind": {"enum": ["a", "b"]},
      "v": {"anyOf": [{"type": "string"}, {"type": "null"}]}
    }})");
  EXPECT_EQ(validate_json_schema(s, json::parse(R"({"id": 2, "tags": ["x"], "kind": "a", "v": null})")), "");
  EXPECT_NE(validate_json_schema(s, json::parse(R"({"id": 0, "tags": ["x"]})")).find("$.id"), std::string::npos);
  EXPECT_NE(validate_json_schema(s, json::parse(R"({"id": 1.5, "tags": ["x"]})")).find("type"), std::string::npos);
  EXPECT_NE(validate_json_schema(s, json::parse(R"({"id": 1, "tags": []})")).find("too few"), std::string::npos);
  EXPECT_NE(validate_json_schema(s, json::parse(R"({"id": 1, "tags": ["long"]})")).find("$.tags[0]"), std::string::npos);
  EXPECT_NE(validate_json_schema(s, json::parse(R"({"id": 1, "tags": ["x"], "z": 1})")).find("unexpected"), std::string::npos);
  EXPECT_NE(validate_json_schema(s, json::parse(R"({"id": 1, "tags": ["x"], "kind": "c"})")).find("not one of"), std::string::npos);
  EXPECT_NE(validate_json_schema(s, json::parse(R"({"id": 1, "tags": ["x"], "v": 3})")).find("anyOf"), std::string::npos);
  EXPECT_NE(validate_json_schema(s, json::parse(R"({"tags": ["x"]})")).find("missing required 'id'"), std::string::npos);
}

}  // namespace
}  // namespace tern::opt
