// The TOON pipeline stage (opt/toon/stage.h): JSON in tool results and
// messages becomes TOON only when that has fewer tokens under the given
// counter, never more than minified JSON, and always decodes back to the
// same value.
#include <gtest/gtest.h>

#include "toon/stage.h"

namespace tern::toon {
namespace {

// Roughly a BPE tokenizer: runs of letters/digits count one token per 4
// bytes, every other non-space byte one token, spaces nothing.
size_t word_count(std::string_view s) {
  size_t n = 0, run = 0;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      ++run;
      continue;
    }
    n += (run + 3) / 4;
    run = 0;
    if (c != ' ') ++n;
  }
  return n + (run + 3) / 4;
}

Json table() {
  Json rows = Json::array();
  for (int i = 0; i < 8; ++i)
    rows.push_back(Json{{"id", i}, {"name", "user" + std::to_string(i)}, {"active", i % 2 == 0}, {"score", i * 1.5}});
  return Json{{"users", rows}};
}

TEST(ToonStageTest, ToolResultBecomesToonAndRoundTrips) {
  Json messages = Json::array({Json{{"role", "user"}, {"content", "List the users."}},
                               Json{{"role", "tool"}, {"tool_call_id", "c1"}, {"content", table().dump(2)}}});
  StageStats st;
  ASSERT_TRUE(rewrite_messages(messages, word_count, {}, &st).ok());
  const std::string out = messages[1]["content"].get<std::string>();
  EXPECT_NE(out.find("users[8]{id,name,active,score}:"), std::string::npos) << out;
  EXPECT_EQ(st.candidates, 1);
  EXPECT_EQ(st.rewritten, 1);
  EXPECT_EQ(st.as_toon, 1);
  EXPECT_LT(st.tokens_after, st.tokens_before);
  EXPECT_LT(word_count(out), word_count(table().dump()));  // fewer than minified, too
  auto back = decode(out);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, table());
  EXPECT_EQ(messages[0]["content"], "List the users.");
}

TEST(ToonStageTest, NeverMoreTokensThanMinifiedJson) {
  // A counter under which every newline is expensive: TOON loses.
  auto newline_heavy = [](std::string_view s) {
    return word_count(s) + 100 * static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
  };
  StageStats st;
  // Pretty JSON: minified is smaller, so that is what replaces it.
  EXPECT_EQ(rewrite_text(table().dump(2), newline_heavy, {}, &st), table().dump());
  EXPECT_EQ(st.as_toon, 0);
  // Already minified: nothing is smaller, the text stays byte for byte.
  EXPECT_EQ(rewrite_text(table().dump(), newline_heavy, {}, &st), table().dump());
}

// JSON whose parsed value is not its data (numbers a double cannot hold,
// repeated keys) stays as it is: re-encoding would change it.
TEST(ToonStageTest, LeavesJsonItCannotHoldExactlyAlone) {
  const std::string rows = R"({"rows": [{"id": 1, "name": "alpha", "ok": true}, {"id": 2, "name": "bravo", "ok": false},)"
                           R"( {"id": 3, "name": "charlie", "ok": true}, {"id": 4, "name": "delta", "ok": true}, )";
  for (const std::string last : {R"({"id": 123456789012345678901234567890, "name": "echo", "ok": true}]})",
                                 R"({"id": 0.12345678901234567890123, "name": "echo", "ok": true}]})",
                                 R"({"id": 1e400, "name": "echo", "ok": true}]})",
                                 R"({"id": 5, "id": 6, "name": "echo", "ok": true}]})"}) {
    const std::string text = rows + last;
    StageStats st;
    EXPECT_EQ(rewrite_text(text, word_count, {}, &st), text);
    EXPECT_EQ(st.rewritten, 0);
  }
  StageStats st;  // the same rows with plain numbers are rewritten
  const std::string plain = rows + R"({"id": 5, "name": "echo", "ok": true, "score": 0.125}]})";
  EXPECT_NE(rewrite_text(plain, word_count, {}, &st), plain);
  EXPECT_EQ(st.rewritten, 1);
}

TEST(ToonStageTest, LeavesProseScalarsAndSmallJsonAlone) {
  EXPECT_EQ(rewrite_text("just some words {not json", word_count), "just some words {not json");
  EXPECT_EQ(rewrite_text("42", word_count), "42");
  EXPECT_EQ(rewrite_text(R"({"a":1})", word_count), R"({"a":1})");  // under min_bytes
  EXPECT_EQ(rewrite_text("", word_count), "");
}

TEST(ToonStageTest, FencedJsonBlockBecomesToonBlock) {
  const std::string text = "Here is the data:\n```json\n" + table().dump(2) + "\n```\nWhat is the top score?";
  StageStats st;
  const std::string out = rewrite_text(text, word_count, {}, &st);
  ASSERT_EQ(st.as_toon, 1);
  EXPECT_EQ(out.rfind("Here is the data:\n```toon\nusers[8]", 0), 0u) << out;
  EXPECT_NE(out.find("\n```\nWhat is the top score?"), std::string::npos) << out;
  const size_t b = out.find("```toon\n") + 8, e = out.find("\n```\nWhat");
  auto back = decode(out.substr(b, e - b));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, table());
}

TEST(ToonStageTest, BlockLevelJsonInsideProse) {
  const std::string text = "Result:\n" + table().dump(2) + "\nDone.";
  const std::string out = rewrite_text(text, word_count);
  EXPECT_EQ(out.rfind("Result:\nusers[8]", 0), 0u) << out;
  EXPECT_EQ(out.substr(out.size() - 6), "\nDone.");
  // JSON in the middle of a sentence is not block-level: left alone.
  const std::string inline_json = "The tool said " + table().dump() + " today.";
  EXPECT_EQ(rewrite_text(inline_json, word_count), inline_json);
}

TEST(ToonStageTest, OnlyConfiguredRolesAndTextParts) {
  Json messages = Json::array(
      {Json{{"role", "system"}, {"content", table().dump(2)}},
       Json{{"role", "assistant"}, {"content", table().dump(2)}},
       Json{{"role", "user"},
            {"content", Json::array({Json{{"type", "text"}, {"text", table().dump(2)}},
                                     Json{{"type", "image_url"}, {"image_url", Json{{"url", "x"}}}}})}}});
  const Json before = messages;
  StageStats st;
  ASSERT_TRUE(rewrite_messages(messages, word_count, {}, &st).ok());
  EXPECT_EQ(messages[0], before[0]);
  EXPECT_EQ(messages[1], before[1]);
  EXPECT_EQ(st.rewritten, 1);
  EXPECT_NE(messages[2]["content"][0]["text"].get<std::string>().find("users[8]"), std::string::npos);
  EXPECT_EQ(messages[2]["content"][1], before[2]["content"][1]);
}

TEST(ToonStageTest, MalformedMessagesAreErrors) {
  Json not_array = Json::object();
  EXPECT_EQ(rewrite_messages(not_array, word_count).code(), StatusCode::kInvalidArgument);
  Json no_role = Json::array({Json{{"content", "x"}}});
  EXPECT_EQ(rewrite_messages(no_role, word_count).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tern::toon
