// Context compaction (opt/compact/compactor.h): nothing below the trigger;
// past it the system prompt and recent turns stay, old tool outputs shrink,
// the summariser replaces the middle; steps are large, so later calls below
// the next trigger keep the compacted prefix byte-identical.
#include <gtest/gtest.h>

#include "compact/compactor.h"
#include "compact/state_store.h"

namespace tern::compact {
namespace {

size_t words(std::string_view s) {  // one token per space-separated word
  size_t n = 0;
  bool in = false;
  for (char c : s) {
    const bool w = c != ' ' && c != '\n';
    n += w && !in;
    in = w;
  }
  return n;
}

std::string text_of(int n, const std::string& w = "word") {
  std::string s;
  for (int i = 0; i < n; ++i) s += (i ? " " : "") + w + std::to_string(i);
  return s;
}

struct Fixture {
  int calls = 0;
  std::string last_prompt;
  int64_t last_max_tokens = 0;
  Summarizer summarizer() {
    return [this](const std::string& prompt, int64_t max_tokens) -> Result<std::string> {
      ++calls;
      last_prompt = prompt;
      last_max_tokens = max_tokens;
      return std::string("the user asked for files; the tool listed 3 files; decision: use main.cpp");
    };
  }
};

Json conversation(int turns, int tool_words) {
  Json m = Json::array({Json{{"role", "system"}, {"content", "You are a coding agent."}}});
  for (int t = 0; t < turns; ++t) {
    m.push_back(Json{{"role", "user"}, {"content", "step " + std::to_string(t) + " " + text_of(20)}});
    m.push_back(Json{{"role", "assistant"},
                     {"content", ""},
                     {"tool_calls", Json::array({Json{{"id", "c" + std::to_string(t)}, {"type", "function"},
                                                      {"function", Json{{"name", "ls"}, {"arguments", "{}"}}}}})}});
    m.push_back(Json{{"role", "tool"}, {"tool_call_id", "c" + std::to_string(t)}, {"content", text_of(tool_words, "file")}});
    m.push_back(Json{{"role", "assistant"}, {"content", "done " + std::to_string(t)}});
  }
  return m;
}

CompactOptions options() {
  CompactOptions o;
  o.context_tokens = 2000;
  o.trigger = 0.75;
  o.target = 0.4;
  o.keep_recent = 4;
  o.tool_output_tokens = 40;
  return o;
}

TEST(CompactorTest, BelowTheTriggerNothingChanges) {
  Fixture f;
  Compactor c(options(), words, f.summarizer());
  const Json m = conversation(3, 50);
  auto r = c.compact(m);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->compacted);
  EXPECT_EQ(r->messages, m);
  EXPECT_EQ(f.calls, 0);
  EXPECT_EQ(r->tokens_before, r->tokens_after);
}

TEST(CompactorTest, ShorteningOldToolOutputsCanBeEnough) {
  Fixture f;
  CompactOptions o = options();
  o.tool_output_tokens = 30;
  Compactor c(o, words, f.summarizer());
  const Json m = conversation(5, 400);  // ~5 x 440 tokens, mostly tool output
  auto r = c.compact(m);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->compacted);
  EXPECT_EQ(f.calls, 0);
  EXPECT_GT(r->shortened_tool_outputs, 0);
  EXPECT_LE(r->tokens_after, 800);
  ASSERT_EQ(r->messages.size(), m.size());
  EXPECT_EQ(r->messages[0], m[0]);
  for (size_t i = m.size() - 4; i < m.size(); ++i) EXPECT_EQ(r->messages[i], m[i]) << i;  // recent: verbatim
  const std::string cut = r->messages[3]["content"].get<std::string>();
  EXPECT_NE(cut.find("characters omitted"), std::string::npos);
  EXPECT_EQ(cut.rfind("file0 file1", 0), 0u);                    // head kept
  EXPECT_EQ(cut.substr(cut.size() - 7), "file399");               // tail kept
}

TEST(CompactorTest, SummarisesTheMiddleKeepingSystemAndRecentTurns) {
  Fixture f;
  Compactor c(options(), words, f.summarizer());
  Json m = conversation(30, 20);  // many turns of short messages: shortening cannot help
  auto r = c.compact(m);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->compacted);
  EXPECT_EQ(f.calls, 1);
  EXPECT_NE(f.last_prompt.find("step 0"), std::string::npos);  // old turns went to the summariser
  EXPECT_NE(f.last_prompt.find("[tool calls]"), std::string::npos);
  const Json& out = r->messages;
  ASSERT_EQ(out.size(), 1u + 1u + 4u);
  EXPECT_EQ(out[0], m[0]);
  EXPECT_EQ(out[1]["role"], "user");
  EXPECT_EQ(out[1]["content"].get<std::string>().rfind("[Summary of the earlier conversation]\n", 0), 0u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(out[2 + i], m[m.size() - 4 + i]);
  EXPECT_EQ(r->summarized_messages, static_cast<int32_t>(m.size() - 5));
  EXPECT_LT(r->tokens_after, 2000 * 0.4);
}

TEST(CompactorTest, RecentPartNeverStartsWithAToolResult) {
  Fixture f;
  CompactOptions o = options();
  o.keep_recent = 2;  // would start at the tool message of the last turn
  Compactor c(o, words, f.summarizer());
  const Json m = conversation(30, 20);
  auto r = c.compact(m);
  ASSERT_TRUE(r.ok());
  const Json& out = r->messages;
  EXPECT_EQ(out[2]["role"], "assistant");
  EXPECT_TRUE(out[2].contains("tool_calls"));
  EXPECT_EQ(out[3]["role"], "tool");
}

TEST(CompactorTest, LargeStepsKeepThePrefixByteIdenticalUntilTheNextTrigger) {
  Fixture f;
  Compactor c(options(), words, f.summarizer());
  Json full = conversation(30, 20);
  CompactionState state;
  auto first = c.compact(full, &state);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(first->compacted);
  const std::string prefix = first->messages.dump();
  const size_t prefix_len = first->messages.size();

  // The conversation grows; every call below the trigger appends only.
  int steps = 0, compactions = 0;
  Json fed_back = first->messages;  // a client that sends the compacted history back
  for (int t = 0; t < 200; ++t) {
    const Json turn = Json{{"role", "user"}, {"content", "more " + text_of(15)}};
    full.push_back(turn);
    fed_back.push_back(turn);
    auto r = c.compact(full, &state);
    auto r2 = c.compact(fed_back);
    ASSERT_TRUE(r.ok() && r2.ok());
    ++steps;
    if (r->compacted) {
      ++compactions;
      break;
    }
    EXPECT_TRUE(r->reused);
    EXPECT_FALSE(r2->compacted);
    Json head = Json::array();
    for (size_t i = 0; i < prefix_len; ++i) head.push_back(r->messages[i]);
    EXPECT_EQ(head.dump(), prefix) << "call " << t;
    EXPECT_EQ(r->messages, r2->messages);
  }
  EXPECT_EQ(f.calls, 1 + 2 * compactions);  // both callers compact at the same turn
  EXPECT_GE(steps, 10);  // many turns fit between two steps
  EXPECT_EQ(compactions, 1);
}

// The summariser is told the room the target leaves (target share minus the
// pinned and recent messages); a summary longer than that is cut to it, so a
// step always lands near the target instead of growing the conversation.
TEST(CompactorTest, TheSummaryGetsTheRoomTheTargetLeaves) {
  int64_t room = 0;
  Compactor verbose(options(), words, [&](const std::string&, int64_t max_tokens) -> Result<std::string> {
    room = max_tokens;
    return text_of(5000, "said");  // ignores the hint
  });
  const Json conv = conversation(30, 20);
  auto r = verbose.compact(conv);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->compacted);
  EXPECT_GT(r->summarized_messages, 0);
  EXPECT_GE(room, 32);
  EXPECT_LT(room, 800);  // 40% of 2,000 minus what stays
  EXPECT_LE(r->tokens_after, 800 + 8);
  EXPECT_LT(r->tokens_after, r->tokens_before);
  const std::string summary = r->messages[1]["content"].get<std::string>();
  EXPECT_NE(summary.find("said0 said1"), std::string::npos);
  EXPECT_EQ(summary.substr(summary.size() - 4), " ...");
}

// A huge tool result among the recent messages: after the summary the
// conversation is still past the trigger, so that output is shortened too;
// the next turn then only appends (no second summary).
TEST(CompactorTest, AHugeRecentToolOutputIsShortenedToo) {
  Fixture f;
  Compactor c(options(), words, f.summarizer());
  Json conv = conversation(4, 10);
  conv.push_back(Json{{"role", "assistant"}, {"content", "calling"},
                      {"tool_calls", Json::array({Json{{"id", "big"}, {"type", "function"}}})}});
  conv.push_back(Json{{"role", "tool"}, {"tool_call_id", "big"}, {"content", text_of(3000, "row")}});
  conv.push_back(Json{{"role", "user"}, {"content", "what does the log say?"}});
  CompactionState state;
  auto r = c.compact(conv, &state);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->compacted);
  EXPECT_LE(r->tokens_after, 1500);  // below the trigger (75% of 2,000)
  EXPECT_GE(r->shortened_tool_outputs, 1);
  EXPECT_EQ(r->messages.back()["content"], "what does the log say?");
  const int calls = f.calls;
  conv.push_back(Json{{"role", "assistant"}, {"content", "it lists rows"}});
  conv.push_back(Json{{"role", "user"}, {"content", "thanks"}});
  auto next = c.compact(conv, &state);
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->compacted);
  EXPECT_EQ(f.calls, calls);
}

// StateStore: a conversation finds its state by prefix (the longest stored
// one), others find nothing; least recently used states go first.
TEST(StateStoreTest, FindsTheLongestStoredPrefixAndEvictsTheOldest) {
  StateStore store(2);
  const Json a = conversation(3, 5), b = conversation(5, 5);  // two conversations
  CompactionState sa{a, Json::array({a[0]})};
  store.put(sa);
  Json a_more = a;
  a_more.push_back(Json{{"role", "user"}, {"content", "next"}});
  EXPECT_EQ(store.find(a_more).messages_out, sa.messages_out);
  EXPECT_EQ(store.find(a).messages_in, a);
  Json other = a;
  other[1]["content"] = "something else";
  EXPECT_TRUE(store.find(other).messages_in.empty());
  EXPECT_TRUE(store.find(Json::array({a[0]})).messages_in.empty());  // shorter than any stored prefix
  // The longer of two stored prefixes wins.
  CompactionState longer{a_more, Json::array({a[0], a_more.back()})};
  store.put(longer);
  Json a_even_more = a_more;
  a_even_more.push_back(Json{{"role", "assistant"}, {"content", "ok"}});
  EXPECT_EQ(store.find(a_even_more).messages_in, a_more);
  // Capacity 2: a third conversation evicts the least recently used (a).
  store.find(a_even_more);
  store.put({b, Json::array({b[0]})});
  EXPECT_EQ(store.size(), 2u);
  EXPECT_TRUE(store.find(a).messages_in.empty());
  EXPECT_EQ(store.find(a_even_more).messages_in, a_more);
  EXPECT_EQ(store.find(b).messages_in, b);
}

TEST(CompactorTest, ErrorsPassThrough) {
  Compactor failing(options(), words, [](const std::string&, int64_t) -> Result<std::string> {
    return Status(StatusCode::kIoError, "summariser backend down");
  });
  auto r = failing.compact(conversation(30, 20));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "summariser backend down");
  Fixture f;
  Compactor c(options(), words, f.summarizer());
  EXPECT_EQ(c.compact(Json::object()).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(c.compact(Json::array({Json{{"content", "x"}}})).status().code(), StatusCode::kInvalidArgument);
  CompactOptions bad = options();
  bad.target = 0.9;
  EXPECT_EQ(Compactor(bad, words, f.summarizer()).compact(Json::array()).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tern::compact
