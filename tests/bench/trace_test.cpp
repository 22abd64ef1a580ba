// Trace format: parsing, errors, round trip, generation, conversation growth.
#include <gtest/gtest.h>

#include "bench/trace.h"
#include "bench/workload.h"

namespace tern::bench {
namespace {

using nlohmann::json;

const char* kSession = R"({"session_id":"s0","system":"You are an agent.",
  "tools":[{"type":"function","function":{"name":"run_tests","parameters":{"type":"object","properties":{}}}}],
  "turns":[
    {"user":"Fix the test","output_tokens":16,
     "assistant":{"content":null,"tool_calls":[{"id":"call_0","type":"function","function":{"name":"run_tests","arguments":"{}"}}]}},
    {"tool_results":[{"tool_call_id":"call_0","name":"run_tests","content":{"failed":1,"names":["a"]}}],
     "output_tokens":64,"delay_ms":5}]})";

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n') c = ' ';
  return s;
}

TEST(Trace, Parses) {
  Session s;
  std::string err;
  ASSERT_TRUE(parse_session(one_line(kSession), &s, &err)) << err;
  EXPECT_EQ(s.id, "s0");
  EXPECT_EQ(s.system, "You are an agent.");
  ASSERT_EQ(s.turns.size(), 2u);
  EXPECT_EQ(*s.turns[0].user, "Fix the test");
  EXPECT_EQ(s.turns[0].output_tokens, 16);
  ASSERT_TRUE(s.turns[0].assistant);
  EXPECT_EQ(s.turns[1].tool_results.size(), 1u);
  EXPECT_EQ(s.turns[1].tool_results[0].content["failed"], 1);
  EXPECT_DOUBLE_EQ(s.turns[1].delay_ms, 5);
}

TEST(Trace, RoundTrips) {
  Session s, t;
  std::string err;
  ASSERT_TRUE(parse_session(one_line(kSession), &s, &err));
  ASSERT_TRUE(parse_session(session_to_json(s).dump(), &t, &err)) << err;
  EXPECT_EQ(session_to_json(s), session_to_json(t));
}

TEST(Trace, RejectsMalformed) {
  Session s;
  std::string err;
  EXPECT_FALSE(parse_session("[1]", &s, &err));
  EXPECT_FALSE(parse_session(R"({"turns":[]})", &s, &err));
  EXPECT_FALSE(parse_session(R"({"turns":[{"output_tokens":3}]})", &s, &err));
  EXPECT_NE(err.find("turns[0]"), std::string::npos);
  EXPECT_FALSE(parse_session(R"({"turns":[{"user":"x"}]})", &s, &err));
  EXPECT_FALSE(parse_session(R"({"turns":[{"user":"x","output_tokens":0}]})", &s, &err));
  EXPECT_FALSE(parse_session(R"({"turns":[{"tool_results":[{"content":1}],"output_tokens":2}]})", &s, &err));
}

TEST(Trace, ConversationGrowsTurnByTurn) {
  Session s;
  std::string err;
  ASSERT_TRUE(parse_session(one_line(kSession), &s, &err));
  json m = json::array({{{"role", "system"}, {"content", s.system}}});
  append_turn_input(s.turns[0], &m);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[1]["role"], "user");
  m.push_back(assistant_message(s.turns[0], "ignored: recorded reply wins"));
  EXPECT_EQ(m[2]["tool_calls"][0]["id"], "call_0");
  EXPECT_TRUE(m[2]["content"].is_null());
  append_turn_input(s.turns[1], &m);
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[3]["role"], "tool");
  EXPECT_EQ(m[3]["tool_call_id"], "call_0");
  EXPECT_EQ(json::parse(m[3]["content"].get<std::string>())["names"][0], "a");  // JSON sent serialised
  m.push_back(assistant_message(s.turns[1], "generated text"));
  EXPECT_EQ(m[4]["content"], "generated text");

  BodyOptions o;
  o.model = "m";
  Prompt p{m, "", 64};
  json body = json::parse(build_body(o, p, s.tools));
  EXPECT_EQ(body["messages"].size(), 5u);
  EXPECT_EQ(body["tools"].size(), 1u);
  EXPECT_EQ(body["max_tokens"], 64);
  EXPECT_EQ(body["ignore_eos"], true);
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
}

TEST(GenTrace, DeterministicAndValid) {
  GenTraceOptions o;
  o.sessions = 20;
  o.min_turns = 2;
  o.max_turns = 5;
  auto a = generate_trace(o), b = generate_trace(o);
  ASSERT_EQ(a.size(), 20u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(session_to_json(a[i]), session_to_json(b[i]));
    EXPECT_GE(a[i].turns.size(), 2u);
    EXPECT_LE(a[i].turns.size(), 5u);
    EXPECT_EQ(a[i].system, a[0].system);  // a shared, cacheable prefix
    Session back;
    std::string err;
    ASSERT_TRUE(parse_session(session_to_json(a[i]).dump(), &back, &err)) << err;
    // Every tool result answers the previous turn's recorded tool call.
    for (size_t t = 1; t < a[i].turns.size(); ++t)
      for (const auto& r : a[i].turns[t].tool_results) {
        ASSERT_TRUE(a[i].turns[t - 1].assistant);
        EXPECT_EQ((*a[i].turns[t - 1].assistant)["tool_calls"][0]["id"], r.tool_call_id);
        EXPECT_TRUE(r.content.is_object());
      }
    EXPECT_FALSE(a[i].turns.back().assistant);  // the final answer is generated
  }
  o.seed = 2;
  EXPECT_NE(session_to_json(generate_trace(o)[0]), session_to_json(a[0]));
  o.tools = 0;
  for (const auto& s : generate_trace(o))
    for (const auto& t : s.turns) EXPECT_TRUE(t.user.has_value());
}

TEST(Dist, ParsesAndSamples) {
  Dist d;
  std::string err;
  ASSERT_TRUE(parse_dist("uniform:10,20", &d, &err));
  std::mt19937_64 rng(1);
  for (int i = 0; i < 1000; ++i) {
    int x = d.sample(rng);
    EXPECT_GE(x, 10);
    EXPECT_LE(x, 20);
  }
  ASSERT_TRUE(parse_dist("64", &d, &err));
  EXPECT_EQ(d.sample(rng), 64);
  ASSERT_TRUE(parse_dist("normal:100,10", &d, &err));
  EXPECT_FALSE(parse_dist("uniform:20,10", &d, &err));
  EXPECT_FALSE(parse_dist("zipf:1,2", &d, &err));
  EXPECT_FALSE(parse_dist("0", &d, &err));
  EXPECT_FALSE(parse_dist("12x", &d, &err));
}

}  // namespace
}  // namespace tern::bench
