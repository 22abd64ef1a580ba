// The SSE parser on recorded streams of tern, llama.cpp and vLLM, split at
// every byte boundary (two pieces) and fed one byte at a time: the events
// must not depend on how TCP cut the stream.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "bench/sse.h"

namespace tern::bench {
namespace {

std::string read_data(const std::string& name) {
  std::ifstream f(std::string(BENCH_TEST_DATA) + "/" + name, std::ios::binary);
  EXPECT_TRUE(f) << name;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct Seen {
  std::vector<SseEvent> events;
  SseParser parser{[this](const SseEvent& e) { events.push_back(e); }};
};

std::vector<SseEvent> parse_pieces(const std::string& s, const std::vector<size_t>& cuts) {
  Seen seen;
  size_t prev = 0;
  for (size_t c : cuts) {
    seen.parser.feed(std::string_view(s).substr(prev, c - prev));
    prev = c;
  }
  seen.parser.feed(std::string_view(s).substr(prev));
  seen.parser.finish();
  return seen.events;
}

bool same(const std::vector<SseEvent>& a, const std::vector<SseEvent>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].data != b[i].data || a[i].event != b[i].event || a[i].error != b[i].error) return false;
  return true;
}

void expect_split_invariant(const std::string& s) {
  auto whole = parse_pieces(s, {});
  for (size_t i = 0; i <= s.size(); ++i) ASSERT_TRUE(same(whole, parse_pieces(s, {i}))) << "cut at " << i;
  for (size_t i = 0; i + 7 <= s.size(); i += 3) ASSERT_TRUE(same(whole, parse_pieces(s, {i, i + 1, i + 7})));
  std::vector<size_t> every;
  for (size_t i = 1; i < s.size(); ++i) every.push_back(i);
  ASSERT_TRUE(same(whole, parse_pieces(s, every))) << "byte by byte";
}

class Recorded : public ::testing::TestWithParam<const char*> {};

TEST_P(Recorded, SplitAnywhere) { expect_split_invariant(read_data(GetParam())); }

INSTANTIATE_TEST_SUITE_P(Servers, Recorded,
                         ::testing::Values("tern_chat.sse", "tern_completions.sse", "vllm_chat.sse",
                                           "llamacpp_chat.sse", "llamacpp_error.sse"));

TEST(Sse, VllmEvents) {
  auto ev = parse_pieces(read_data("vllm_chat.sse"), {});
  ASSERT_EQ(ev.size(), 9u);  // role, 5 tokens, finish, usage, [DONE]
  EXPECT_EQ(ev.back().data, "[DONE]");
  EXPECT_NE(ev[1].data.find("\"Once\""), std::string::npos);
}

TEST(Sse, LlamaCppCrlfCommentsAndErrors) {
  auto ev = parse_pieces(read_data("llamacpp_chat.sse"), {});
  ASSERT_EQ(ev.size(), 7u);  // the keep-alive comment is no event
  EXPECT_EQ(ev[0].data.substr(0, 12), "{\"choices\":[");
  for (const auto& e : ev) EXPECT_EQ(e.data.find('\r'), std::string::npos);
  auto err = parse_pieces(read_data("llamacpp_error.sse"), {});
  ASSERT_EQ(err.size(), 3u);
  EXPECT_EQ(err[1].data, "{\"choices\":[{\"index\":0,\n\"text\":\"B\"}]}");  // multi-line data joined by LF
  EXPECT_TRUE(err[2].data.empty());
  EXPECT_NE(err[2].error.find("context full"), std::string::npos);
}

TEST(Sse, FieldRules) {
  auto ev = parse_pieces("\xEF\xBB\xBF" "data:no-space\n\nevent: ping\nid: 7\nretry: 10\ndata:  two\n\n"
                         "data\n\n: comment only\n\nevent: x\n\ndata: tail-without-blank-line", {});
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0].data, "no-space");
  EXPECT_EQ(ev[1].event, "ping");
  EXPECT_EQ(ev[1].id, "7");
  EXPECT_EQ(ev[1].data, " two");  // only one space is stripped
  EXPECT_EQ(ev[2].data, "");      // "data" with no colon: an empty data line
  EXPECT_EQ(ev[3].data, "tail-without-blank-line");  // finish() is lenient
}

}  // namespace
}  // namespace tern::bench
