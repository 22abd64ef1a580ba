// LocalBackend: OpenAI bodies onto the engine (stories260K.gguf), streamed
// and not, with logprobs, errors as final events, and cancel.
#include <gtest/gtest.h>

#include <future>

#include "backend/local_backend.h"
#include "backend/openai_wire.h"
#include "test_assets.h"

namespace tern::opt {
namespace {

using nlohmann::json;

class LocalBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(test::asset("models/stories260K.gguf"))) return;
    EngineOptions o;
    o.model_path = test::asset("models/stories260K.gguf");
    o.threads = 1;
    auto b = LocalBackend::open("local", o);
    ASSERT_TRUE(b.ok()) << b.status().message();
    backend_ = std::move(*b).release();
  }
  static void TearDownTestSuite() {
    delete backend_;
    backend_ = nullptr;
  }
  void SetUp() override { TERN_REQUIRE_ASSET("models/stories260K.gguf"); }

  static std::vector<BackendEvent> run(BackendRequest r, bool cancel_first = false) {
    auto done = std::make_shared<std::promise<void>>();
    auto events = std::make_shared<std::vector<BackendEvent>>();
    auto handle = std::make_shared<std::atomic<uint64_t>>(0);
    auto cancelled = std::make_shared<std::atomic<bool>>(false);
    uint64_t h = backend_->start(std::move(r), [=](BackendEvent ev) {
      if (cancel_first && !ev.finished && handle->load() && !cancelled->exchange(true)) backend_->cancel(handle->load());
      bool fin = ev.finished;
      events->push_back(std::move(ev));
      if (fin) done->set_value();
    });
    handle->store(h);
    EXPECT_EQ(done->get_future().wait_for(std::chrono::seconds(20)), std::future_status::ready);
    return *events;
  }
  static BackendRequest chat(bool stream, int max_tokens) {
    BackendRequest r;
    r.body = {{"messages", json::array({{{"role", "user"}, {"content", "Tell me a story"}}})},
              {"temperature", 0}, {"max_tokens", max_tokens}, {"ignore_eos", true}};
    r.stream = stream;
    return r;
  }
  static inline LocalBackend* backend_ = nullptr;
};

TEST_F(LocalBackendTest, NonStreamedAnswerWithUsageAndLogprobs) {
  BackendRequest r = chat(false, 8);
  r.want_logprobs = true;
  auto ev = run(r);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(ev[0].finished);
  ASSERT_TRUE(ev[0].error.ok()) << ev[0].error.message();
  EXPECT_FALSE(ev[0].text.empty());
  EXPECT_EQ(ev[0].finish_reason, "length");
  EXPECT_EQ(ev[0].usage.completion_tokens, 8);
  EXPECT_GT(ev[0].usage.prompt_tokens, 3);
  ASSERT_EQ(ev[0].logprobs.size(), 8u);
  for (float l : ev[0].logprobs) EXPECT_LE(l, 0.0f);
}

// Logprobs the client asked for come back in the OpenAI shape of its API:
// streamed deltas append to exactly the non-streamed object; a request that
// asked for none gets none (cascade logprobs stay internal).
TEST_F(LocalBackendTest, ClientLogprobsInTheOpenAIShape) {
  BackendRequest whole_r = chat(false, 6);
  whole_r.body["logprobs"] = true;
  whole_r.body["top_logprobs"] = 2;
  auto whole = run(whole_r);
  ASSERT_EQ(whole.size(), 1u);
  const json& lp = whole[0].logprobs_json;
  ASSERT_TRUE(lp.is_object()) << lp.dump();
  ASSERT_EQ(lp["content"].size(), 6u) << lp.dump();
  std::string joined;
  for (const auto& t : lp["content"]) {
    EXPECT_LE(t["logprob"].get<float>(), 0.0f);
    EXPECT_EQ(t["top_logprobs"].size(), 2u);
    EXPECT_GE(t["logprob"].get<float>(), t["top_logprobs"][1]["logprob"].get<float>());  // greedy: the best
    joined += t["token"].get<std::string>();
  }
  EXPECT_EQ(joined, whole[0].text);
  BackendRequest stream_r = whole_r;
  stream_r.stream = true;
  json appended;
  for (const auto& e : run(stream_r)) append_logprobs(appended, e.logprobs_json);
  EXPECT_EQ(appended, lp);

  BackendRequest completion;
  completion.kind = ApiKind::kCompletion;
  completion.body = {{"prompt", "Once upon a time"}, {"temperature", 0}, {"max_tokens", 5}, {"logprobs", 1}};
  auto c = run(completion);
  ASSERT_EQ(c.size(), 1u);
  const json& cl = c[0].logprobs_json;
  ASSERT_EQ(cl["tokens"].size(), 5u) << cl.dump();
  ASSERT_EQ(cl["text_offset"].size(), 5u);
  EXPECT_EQ(cl["text_offset"][0], 0);
  EXPECT_EQ(cl["text_offset"][1].get<size_t>(), cl["tokens"][0].get<std::string>().size());
  EXPECT_EQ(cl["top_logprobs"][0].size(), 1u);
  completion.stream = true;
  json capp;
  for (const auto& e : run(completion)) append_logprobs(capp, e.logprobs_json);
  EXPECT_EQ(capp, cl);

  BackendRequest none = chat(false, 4);
  none.want_logprobs = true;  // the cascade's own: not the client's
  auto n = run(none);
  EXPECT_TRUE(n[0].logprobs_json.is_null());
  EXPECT_EQ(n[0].logprobs.size(), 4u);
}

TEST_F(LocalBackendTest, StreamedDeltasConcatenateToTheSameText) {
  auto whole = run(chat(false, 12));
  auto parts = run(chat(true, 12));
  ASSERT_GE(parts.size(), 2u);
  std::string text;
  for (const auto& e : parts) text += e.text;
  EXPECT_EQ(text, whole[0].text);
  EXPECT_TRUE(parts.back().finished);
}

TEST_F(LocalBackendTest, CompletionsPrompt) {
  BackendRequest r;
  r.kind = ApiKind::kCompletion;
  r.body = {{"prompt", "Once upon a time"}, {"temperature", 0}, {"max_tokens", 4}, {"ignore_eos", true}};
  auto ev = run(r);
  ASSERT_TRUE(ev.back().error.ok());
  EXPECT_EQ(ev.back().usage.completion_tokens, 4);
}

TEST_F(LocalBackendTest, BadRequestsEndWithAnError) {
  BackendRequest r;
  r.body = {{"messages", "not a list"}};
  auto ev = run(r);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].error.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ev[0].http_status, 400);
  r.body = {{"messages", json::array({{{"role", "user"}, {"content", "x"}}})}, {"temperature", "hot"}};
  EXPECT_EQ(run(r)[0].error.code(), StatusCode::kInvalidArgument);
  r.kind = ApiKind::kCompletion;
  r.body = {{"prompt", json::array({1, 2})}};
  EXPECT_EQ(run(r)[0].error.code(), StatusCode::kInvalidArgument);
}

TEST_F(LocalBackendTest, CancelEndsWithCancelled) {
  auto ev = run(chat(true, 200), /*cancel_first=*/true);
  EXPECT_EQ(ev.back().error.code(), StatusCode::kCancelled);
  EXPECT_LT(ev.back().usage.completion_tokens, 200);
}

}  // namespace
}  // namespace tern::opt
