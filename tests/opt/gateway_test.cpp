// The gateway pipeline with scripted backends (no network): pass-through,
// exact-cache hits and replay, determinism rule, cascades escalating on
// confidence / JSON / refusals, fallbacks, router rules, virtual keys and
// budgets (401/402), admin invalidation, /v1/usage and the counters.
#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "gateway/gateway.h"
#include "test_assets.h"

namespace tern::opt {
namespace {

using nlohmann::json;

// A backend that answers from a script, on its own thread (as real backends do).
struct Answer {
  std::string text;
  std::vector<float> logprobs;
  std::vector<std::string> deltas;  // streamed pieces (stream requests), else text
  int http_error = 0;               // > 0: fail with this status before output
  TokenUsage usage{10, 5, 0};
};

class ScriptedBackend : public Backend {
 public:
  using Answer = opt::Answer;
  explicit ScriptedBackend(std::string name, Answer a = {}) : name_(std::move(name)), answer_(std::move(a)) {}
  ~ScriptedBackend() override {
    for (auto& t : threads_) t.join();
  }
  const std::string& name() const override { return name_; }
  uint64_t start(BackendRequest r, EventFn fn) override {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(r);
    Answer a = answer_;
    threads_.emplace_back([a, r, fn] {
      if (a.http_error) {
        BackendEvent e;
        e.finished = true;
        e.error = IoError("scripted failure");
        e.http_status = a.http_error;
        fn(std::move(e));
        return;
      }
      if (r.stream) {
        for (const auto& d : a.deltas.empty() ? std::vector<std::string>{a.text} : a.deltas) {
          BackendEvent e;
          e.text = d;
          fn(std::move(e));
        }
      }
      BackendEvent e;
      e.finished = true;
      if (!r.stream) e.text = a.text;
      if (r.want_logprobs) e.logprobs = a.logprobs;
      e.finish_reason = "stop";
      e.usage = a.usage;
      fn(std::move(e));
    });
    return requests_.size();
  }
  void cancel(uint64_t) override {}
  size_t calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_.size();
  }
  BackendRequest last() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_.back();
  }

 private:
  std::string name_;
  Answer answer_;
  std::mutex mu_;
  std::vector<BackendRequest> requests_;
  std::vector<std::thread> threads_;
};

// A connection: posted work runs when the test drains it (one "strand").
class TestSink : public ResponseSink {
 public:
  void post(std::function<void()> fn) override {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(fn));
    cv_.notify_all();
  }
  void respond(int s, std::string b, Headers h) override {
    status = s;
    body = std::move(b);
    headers = std::move(h);
    complete = true;
  }
  void begin_stream(Headers h) override {
    status = 200;
    headers = std::move(h);
    streamed = true;
  }
  void write(std::string d) override { body += d; }
  void end_stream() override { complete = true; }
  void on_close(std::function<void()>) override {}
  void log_field(const std::string&, const std::string&) override {}

  // Runs posted work until the response is complete.
  bool wait() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!complete) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (!cv_.wait_until(lock, deadline, [&] { return !queue_.empty(); })) return false;
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();
    }
    return true;
  }
  std::string header(const std::string& k) const {
    for (const auto& [a, b] : headers)
      if (a == k) return b;
    return "";
  }
  json json_body() const { return json::parse(body, nullptr, false); }

  int status = 0;
  std::string body;
  Headers headers;
  bool streamed = false, complete = false;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
};

const char* kConfig = R"(
models:
  small: {url: 'http://127.0.0.1:9/v1', price: {input: 1, output: 2}}
  big: {url: 'http://127.0.0.1:9/v1', price: {input: 10, output: 20}}
  backup: {url: 'http://127.0.0.1:9/v1', price: {input: 5, output: 5}}
routes:
  auto:
    use: [small, big]
    rules:
      - if: {tags: [hard]}
        use: big
    escalate:
      min_mean_logprob: -1.0
      refusals: ["(?i)i can't"]
    cache: {tags: [docs]}
  json-route:
    use: [small, big]
    escalate: {json: true}
  safe:
    use: small
    fallbacks: [backup]
admin_key: sk-admin
store: {kind: memory}
)";

class GatewayTest : public ::testing::Test {
 protected:
  void build(const std::string& yaml, ScriptedBackend::Answer small, ScriptedBackend::Answer big = {"big answer"},
             ScriptedBackend::Answer backup = {"backup answer"}) {
    auto cfg = parse_gateway_config(yaml, "test.yaml");
    ASSERT_TRUE(cfg.ok()) << cfg.status().message();
    small_ = std::make_shared<ScriptedBackend>("small", small);
    big_ = std::make_shared<ScriptedBackend>("big", big);
    backup_ = std::make_shared<ScriptedBackend>("backup", backup);
    auto g = make_gateway_with_backends(*cfg, {{"small", small_}, {"big", big_}, {"backup", backup_}});
    ASSERT_TRUE(g.ok()) << g.status().message();
    gw_ = std::move(*g);
  }
  std::shared_ptr<TestSink> send(json body, const std::string& bearer = "", std::vector<std::string> tags = {},
                                 ApiKind kind = ApiKind::kChat) {
    auto sink = std::make_shared<TestSink>();
    GatewayRequest r;
    r.kind = kind;
    r.body = body.dump();
    r.bearer = bearer;
    r.tags = std::move(tags);
    r.request_id = "req-" + std::to_string(++n_);
    gw_->handle(std::move(r), sink);
    EXPECT_TRUE(sink->wait()) << "no complete response";
    return sink;
  }
  static json chat(const std::string& model, const std::string& user, json extra = json::object()) {
    json b = {{"model", model}, {"messages", json::array({{{"role", "user"}, {"content", user}}})}, {"temperature", 0}};
    for (auto& [k, v] : extra.items()) b[k] = v;
    return b;
  }

  std::shared_ptr<ScriptedBackend> small_, big_, backup_;
  std::unique_ptr<Gateway> gw_;
  int n_ = 0;
};

TEST_F(GatewayTest, PassThroughThenExactCacheHit) {
  build(kConfig, {"small answer", {-0.1f}});
  auto a = send(chat("small", "hello"));
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(a->header("x-tern-cache"), "miss");
  json ja = a->json_body();
  EXPECT_EQ(ja["choices"][0]["message"]["content"], "small answer");
  EXPECT_EQ(ja["usage"]["tern_cache"], "miss");
  EXPECT_EQ(ja["usage"]["prompt_tokens"], 10);
  EXPECT_EQ(ja["model"], "small");

  auto b = send(chat("small", "hello"));
  EXPECT_EQ(b->header("x-tern-cache"), "hit");
  EXPECT_EQ(b->json_body()["usage"]["tern_cache"], "hit");
  EXPECT_EQ(b->json_body()["choices"][0]["message"]["content"], "small answer");
  EXPECT_EQ(small_->calls(), 1u);

  // The same request streamed is replayed from the entry as SSE.
  auto c = send(chat("small", "hello", {{"stream", true}, {"stream_options", {{"include_usage", true}}}}));
  EXPECT_TRUE(c->streamed);
  EXPECT_EQ(c->header("x-tern-cache"), "hit");
  EXPECT_NE(c->body.find("small answer"), std::string::npos);
  EXPECT_NE(c->body.find("\"tern_cache\":\"hit\""), std::string::npos);
  EXPECT_EQ(c->body.substr(c->body.size() - 14), "data: [DONE]\n\n");
  EXPECT_EQ(small_->calls(), 1u);
  std::string m = gw_->prometheus();
  EXPECT_NE(m.find("tern_gateway_cache_total{result=\"exact\"} 2"), std::string::npos) << m;
  EXPECT_NE(m.find("tern_gateway_cache_total{result=\"miss\"} 1"), std::string::npos) << m;
}

TEST_F(GatewayTest, NondeterministicRequestsBypassTheCache) {
  build(kConfig, {"sampled"});
  json b = chat("small", "hello");
  b.erase("temperature");
  send(b);
  auto second = send(b);
  EXPECT_EQ(second->header("x-tern-cache"), "miss");
  EXPECT_EQ(small_->calls(), 2u);
  EXPECT_NE(gw_->prometheus().find("tern_gateway_cache_total{result=\"bypass\"} 2"), std::string::npos);
}

TEST_F(GatewayTest, CascadeEscalatesOnLowConfidence) {
  build(kConfig, {"unsure", {-3.0f, -2.0f}});
  auto r = send(chat("auto", "tell me"));
  EXPECT_EQ(r->status, 200);
  json j = r->json_body();
  EXPECT_EQ(j["model"], "big");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "big answer");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 20);  // both stages
  EXPECT_TRUE(small_->last().want_logprobs);
  EXPECT_FALSE(small_->last().stream);
  std::string m = gw_->prometheus();
  EXPECT_NE(m.find("tern_gateway_escalations_total{route=\"auto\",reason=\"low_confidence\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("tern_gateway_cascade_requests_total{route=\"auto\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("tern_gateway_cost_usd_total{model=\"big\"} 0.000200000"), std::string::npos) << m;  // 10*10+5*20 per 1M
}

TEST_F(GatewayTest, CascadeKeepsAConfidentSmallAnswer) {
  build(kConfig, {"sure", {-0.1f, -0.2f}});
  auto r = send(chat("auto", "tell me", {{"stream", true}}));
  EXPECT_TRUE(r->streamed);
  EXPECT_NE(r->body.find("\"content\":\"sure\""), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("\"finish_reason\":\"stop\""), std::string::npos);
  EXPECT_EQ(big_->calls(), 0u);
}

TEST_F(GatewayTest, CascadeEscalatesOnRefusalAndInvalidJson) {
  build(kConfig, {"Sorry, I can't do that", {-0.1f}});
  EXPECT_EQ(send(chat("auto", "q1"))->json_body()["model"], "big");
  EXPECT_EQ(send(chat("json-route", "q2"))->json_body()["model"], "big");  // not JSON either
  std::string m = gw_->prometheus();
  EXPECT_NE(m.find("reason=\"refusal\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("route=\"json-route\",reason=\"invalid_json\"} 1"), std::string::npos) << m;
}

TEST_F(GatewayTest, RouterRuleSkipsTheCascade) {
  build(kConfig, {"small"});
  EXPECT_EQ(send(chat("auto", "x"), "", {"hard"})->json_body()["model"], "big");
  EXPECT_EQ(small_->calls(), 0u);
}

TEST_F(GatewayTest, FallbackAfterAnUpstreamFailure) {
  ScriptedBackend::Answer down;
  down.http_error = 503;
  build(kConfig, down);
  auto r = send(chat("safe", "x", {{"stream", true}}));
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("backup answer"), std::string::npos) << r->body;
  EXPECT_NE(gw_->prometheus().find("tern_gateway_fallbacks_total 1"), std::string::npos);
  // No fallback left: 502 with the upstream's message.
  auto direct = send(chat("small", "y"));
  EXPECT_EQ(direct->status, 502);
  EXPECT_NE(direct->body.find("scripted failure"), std::string::npos);
}

TEST_F(GatewayTest, ClientErrorsFromUpstreamAreNotRetriedElsewhere) {
  ScriptedBackend::Answer bad;
  bad.http_error = 400;
  build(kConfig, bad);
  auto r = send(chat("safe", "x"));
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(backup_->calls(), 0u);
}

TEST_F(GatewayTest, UnknownModelAndBadBodies) {
  build(kConfig, {"x"});
  EXPECT_EQ(send(chat("nope", "x"))->status, 404);
  EXPECT_EQ(send(json::array())->status, 400);
  EXPECT_EQ(send(chat("small", "x", {{"n", 2}}))->status, 400);
  EXPECT_EQ(send(json{{"model", "small"}}, "", {}, ApiKind::kCompletion)->status, 400);
}

TEST_F(GatewayTest, CompletionsPassThrough) {
  build(kConfig, {" upon a time"});
  auto r = send(json{{"model", "small"}, {"prompt", "Once"}, {"temperature", 0}}, "", {}, ApiKind::kCompletion);
  json j = r->json_body();
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], " upon a time");
}

TEST_F(GatewayTest, AdminInvalidationByKeyPrefixAndTag) {
  build(kConfig, {"a", {-0.1f}});
  send(chat("auto", "one"));
  send(chat("auto", "two"));
  send(chat("small", "three"));
  EXPECT_EQ(send(chat("auto", "one"))->header("x-tern-cache"), "hit");
  EXPECT_EQ(gw_->invalidate("wrong", R"({"tag":"docs"})").status, 401);
  EXPECT_EQ(gw_->invalidate("sk-admin", R"({"tag":"docs","prefix":"x"})").status, 400);
  auto t = gw_->invalidate("sk-admin", R"({"tag":"docs"})");  // the auto route's entries
  EXPECT_EQ(t.status, 200) << t.body;
  EXPECT_EQ(json::parse(t.body)["removed"], 2);
  EXPECT_EQ(send(chat("auto", "one"))->header("x-tern-cache"), "miss");
  auto p = gw_->invalidate("sk-admin", R"({"prefix":"public/small/"})");
  EXPECT_EQ(json::parse(p.body)["removed"], 1);
  EXPECT_EQ(send(chat("small", "three"))->header("x-tern-cache"), "miss");
}

const char* kKeys = R"(
models:
  small: {url: 'http://127.0.0.1:9/v1', price: {input: 1000, output: 1000}, default_max_tokens: 10}
teams:
  lab: {budget: 0.5}
keys:
  alice: {secret: sk-alice, team: lab, budget: "0.2"}
  bob: {secret: sk-bob}
  carol: {secret: sk-carol, models: [elsewhere]}
admin_key: sk-admin
store: {kind: memory}
cache: {exact: {enabled: false}}
)";

TEST_F(GatewayTest, VirtualKeysBudgetsAndUsage) {
  // Each call costs (10 + 5) tokens x $1000 per 1M = $0.015; the reservation
  // is the worst case: prompt bound + 10 max tokens at $1000 per 1M, so
  // alice's $0.2 admits while 0.015 k + 0.092 <= 0.2: k = 0..7.
  build(kKeys, {"ok"});
  EXPECT_EQ(send(chat("small", "hi"))->status, 401);
  EXPECT_EQ(send(chat("small", "hi"), "sk-nobody")->status, 401);
  EXPECT_EQ(send(chat("small", "hi"), "sk-carol")->status, 403);
  int ok = 0, denied = 0;
  for (int i = 0; i < 30; ++i) {
    auto r = send(chat("small", "hi"), "sk-alice");
    if (r->status == 200) ++ok;
    else {
      EXPECT_EQ(r->status, 402) << r->body;
      ++denied;
    }
  }
  EXPECT_EQ(ok, 8);  // reservation: (2 + 48 + 32 + 10) tokens x $0.001 = $0.092
  EXPECT_GT(denied, 0);
  auto mine = gw_->usage("sk-alice", {});
  ASSERT_EQ(mine.status, 200) << mine.body;
  json rows = json::parse(mine.body)["data"];
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_LE(rows[0]["cost_usd"].get<double>(), 0.2 + 1e-9);
  EXPECT_NEAR(rows[0]["cost_usd"].get<double>(), ok * 0.015, 1e-9);
  EXPECT_EQ(rows[0]["requests"], 30);  // the refusals are in the ledger too
  auto all = gw_->usage("sk-admin", {{"group_by", "key"}});
  EXPECT_EQ(json::parse(all.body)["data"].size(), 1u);
  EXPECT_EQ(gw_->usage("sk-bob", {{"key", "alice"}}).status, 200);  // a key sees only itself
  EXPECT_EQ(json::parse(gw_->usage("sk-bob", {{"key", "alice"}}).body)["data"][0]["requests"], 0);
  EXPECT_EQ(gw_->usage("sk-admin", {{"group_by", "color"}}).status, 400);
  EXPECT_NE(gw_->prometheus().find("tern_gateway_denied_total{status=\"402\"}"), std::string::npos);
}

TEST_F(GatewayTest, ConcurrentRequestsNeverOverspend) {
  build(kKeys, {"ok"});
  std::vector<std::shared_ptr<TestSink>> sinks;
  std::vector<std::thread> drains;
  for (int i = 0; i < 200; ++i) {
    auto sink = std::make_shared<TestSink>();
    GatewayRequest r;
    r.body = chat("small", "hi").dump();
    r.bearer = "sk-alice";
    gw_->handle(std::move(r), sink);
    sinks.push_back(sink);
  }
  for (auto& s : sinks) drains.emplace_back([s] { s->wait(); });
  for (auto& t : drains) t.join();
  int ok = 0;
  for (auto& s : sinks) ok += s->status == 200;
  json rows = json::parse(gw_->usage("sk-admin", {{"key", "alice"}}).body)["data"];
  double spent = rows[0]["cost_usd"].get<double>();
  EXPECT_LE(spent, 0.2 + 1e-9);
  EXPECT_NEAR(spent, ok * 0.015, 1e-9);
  EXPECT_GT(ok, 0);
}

TEST_F(GatewayTest, SemanticCacheAnswersARewordedQuestion) {
  const char* cfg = R"(
models:
  small: {url: 'http://127.0.0.1:9/v1', price: {input: 1, output: 2}}
routes:
  faq: {use: small, cache: {exact: true, semantic: true, threshold: 0.6}}
store: {kind: memory}
cache:
  semantic: {enabled: true}
)";
  build(cfg, {"Paris"});
  auto a = send(chat("faq", "What is the capital city of France?"));
  EXPECT_EQ(a->header("x-tern-cache"), "miss");
  auto b = send(chat("faq", "what is the capital city of france"));
  EXPECT_EQ(b->header("x-tern-cache"), "semantic") << b->body;
  EXPECT_EQ(b->json_body()["usage"]["tern_cache"], "semantic");
  EXPECT_EQ(b->json_body()["choices"][0]["message"]["content"], "Paris");
  auto c = send(chat("faq", "How do volcanoes form under the ocean floor?"));
  EXPECT_EQ(c->header("x-tern-cache"), "miss");
  // Multi-turn contexts are guarded: never answered semantically by default.
  json multi = chat("faq", "what is the capital city of france");
  multi["messages"].insert(multi["messages"].begin(), {{"role", "assistant"}, {"content", "Hi"}});
  EXPECT_EQ(send(multi)->header("x-tern-cache"), "miss");
  EXPECT_EQ(small_->calls(), 3u);
  EXPECT_NE(gw_->prometheus().find("tern_gateway_cache_total{result=\"semantic\"} 1"), std::string::npos);
}

// The toon/compress stages: per route and per request ("tern" field), scored
// by compress_model; the upstream sees the rewritten messages, never "tern".
TEST_F(GatewayTest, RouteAndRequestStagesRewriteMessagesBeforeTheUpstream) {
  TERN_REQUIRE_ASSET("models/stories260K.gguf");
  std::string cfg = kConfig;
  cfg += "compress_model: '" + test::asset("models/stories260K.gguf") + "'\n";
  cfg.replace(cfg.find("  safe:"), 0, "  lean:\n    use: small\n    toon: true\n    compress: {ratio: 3, force_tokens: [ORD-10007]}\n");
  build(cfg, {"ok"});
  json rows = json::array();
  for (int i = 0; i < 12; ++i) rows.push_back({{"id", 10000 + i}, {"sku", "SKU-" + std::to_string(i)}, {"qty", i % 5}});
  std::string story;
  for (int i = 0; i < 6; ++i)
    story += "Once upon a time, a little girl named Lily went to the park with her mom and saw a big red ball. ";
  story += "Her order ORD-10007 arrived on 2025-03-14.";
  json body = {{"model", "lean"},
               {"temperature", 0},
               {"messages", json::array({{{"role", "system"}, {"content", "You are terse."}},
                                         {{"role", "user"}, {"content", story}},
                                         {{"role", "tool"}, {"tool_call_id", "c1"}, {"content", rows.dump(2)}},
                                         {{"role", "user"}, {"content", "Which order arrived?"}}})}};
  auto a = send(body);
  ASSERT_EQ(a->status, 200) << a->body;
  const std::string hdr = a->header("x-tern-compressed");
  ASSERT_NE(hdr, "");
  const int64_t before = std::stoll(hdr.substr(0, hdr.find("->"))), after = std::stoll(hdr.substr(hdr.find("->") + 2));
  EXPECT_LT(after * 2, before) << hdr;
  json up = small_->last().body;
  EXPECT_FALSE(up.contains("tern"));
  const auto& ms = up["messages"];
  EXPECT_EQ(ms[0]["content"], "You are terse.");                 // the instruction: verbatim
  EXPECT_EQ(ms[3]["content"], "Which order arrived?");           // the question: verbatim
  const std::string ctx = ms[1]["content"].get<std::string>(), tool = ms[2]["content"].get<std::string>();
  EXPECT_LT(ctx.size(), story.size());
  EXPECT_NE(ctx.find("ORD-10007"), std::string::npos);
  EXPECT_NE(ctx.find("2025-03-14"), std::string::npos);
  EXPECT_EQ(tool.find("\"sku\""), std::string::npos) << tool;    // TOON (a table header), not JSON
  EXPECT_NE(tool.find("SKU-11"), std::string::npos);

  // A request turns the route's stages off; another route gets them per request.
  json off = body;
  off["tern"] = {{"toon", false}, {"compress", false}};
  auto b = send(off);
  ASSERT_EQ(b->status, 200) << b->body;
  EXPECT_EQ(small_->last().body["messages"][1]["content"], story);
  EXPECT_FALSE(small_->last().body.contains("tern"));
  json on_small = body;
  on_small["model"] = "small";
  on_small["tern"] = {{"toon", true}};
  auto c = send(on_small);
  ASSERT_EQ(c->status, 200) << c->body;
  EXPECT_EQ(small_->last().body["messages"][1]["content"], story);  // no compression asked
  EXPECT_EQ(small_->last().body["messages"][2]["content"].get<std::string>().find("\"sku\""), std::string::npos);

  // Bad stage fields are 400s that name the field.
  on_small["tern"] = {{"compress", {{"ratio", 0.5}}}};
  auto d = send(on_small);
  EXPECT_EQ(d->status, 400);
  EXPECT_NE(d->body.find("tern.compress.ratio"), std::string::npos) << d->body;
  on_small["tern"] = {{"shrink", true}};
  EXPECT_EQ(send(on_small)->status, 400);
}

// The compact stage: past the trigger, the route's compact.model ("big")
// summarises the middle of the conversation; the upstream sees system +
// summary + recent turns. The next turn (the same history plus two
// messages) reuses the stored compaction: no second summary, the same
// prefix byte for byte.
TEST_F(GatewayTest, CompactStageSummarisesOnceAndKeepsThePrefix) {
  TERN_REQUIRE_ASSET("models/stories260K.gguf");
  std::string cfg = kConfig;
  cfg += "compress_model: '" + test::asset("models/stories260K.gguf") + "'\n";
  cfg.replace(cfg.find("  safe:"), 0,
              "  long:\n    use: small\n    compact: {model: big, context_tokens: 400, keep_recent: 2}\n");
  build(cfg, {"ok"}, {"Lily asked about the park; the assistant told the ball story."});
  json msgs = json::array({{{"role", "system"}, {"content", "You are terse."}}});
  for (int t = 0; t < 8; ++t) {
    msgs.push_back({{"role", "user"}, {"content", "Tell me part " + std::to_string(t) + " of the story about Lily and the ball."}});
    msgs.push_back({{"role", "assistant"},
                    {"content", "Lily went to the park with her mom and saw a big red ball near the old tree, part " +
                                    std::to_string(t) + "."}});
  }
  msgs.push_back({{"role", "user"}, {"content", "What did Lily see?"}});
  auto a = send(json{{"model", "long"}, {"messages", msgs}});
  ASSERT_EQ(a->status, 200) << a->body;
  ASSERT_EQ(big_->calls(), 1u);  // the summary
  EXPECT_NE(big_->last().body["messages"][0]["content"].get<std::string>().find("part 3"), std::string::npos);
  const json up = small_->last().body["messages"];
  ASSERT_EQ(up.size(), 4u) << up.dump();  // system, summary, the last assistant turn, the question
  EXPECT_EQ(up[0]["content"], "You are terse.");
  EXPECT_EQ(up[1]["content"], "[Summary of the earlier conversation]\nLily asked about the park; the assistant told the ball story.");
  EXPECT_EQ(up[3]["content"], "What did Lily see?");

  msgs.push_back({{"role", "assistant"}, {"content", "A big red ball."}});
  msgs.push_back({{"role", "user"}, {"content", "Thanks!"}});
  auto b = send(json{{"model", "long"}, {"messages", msgs}});
  ASSERT_EQ(b->status, 200) << b->body;
  EXPECT_EQ(big_->calls(), 1u);  // reused, no new summary
  const json up2 = small_->last().body["messages"];
  ASSERT_EQ(up2.size(), 6u) << up2.dump();
  for (size_t i = 0; i < up.size(); ++i) EXPECT_EQ(up2[i], up[i]) << i;

  // A request asking for compaction without a window is refused.
  auto c = send(chat("small", "hello", {{"tern", {{"compact", true}}}}));
  EXPECT_EQ(c->status, 400);
  EXPECT_NE(c->body.find("context_tokens"), std::string::npos) << c->body;
}

TEST_F(GatewayTest, StagesWithoutAScoringModelAreRefused) {
  // Remote models only: a route asking for stages fails at start-up, a request at run time.
  std::string cfg = kConfig;
  cfg.replace(cfg.find("  safe:"), 0, "  lean:\n    use: small\n    toon: true\n");
  auto parsed = parse_gateway_config(cfg, "test.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  auto g = make_gateway_with_backends(*parsed, {{"small", std::make_shared<ScriptedBackend>("small")},
                                                {"big", std::make_shared<ScriptedBackend>("big")},
                                                {"backup", std::make_shared<ScriptedBackend>("backup")}});
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("routes.lean"), std::string::npos) << g.status().message();
  build(kConfig, {"ok"});
  auto r = send(chat("small", "hello", {{"tern", {{"compress", true}}}}));
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("scoring model"), std::string::npos) << r->body;
  // "tern": {} asks for nothing and passes.
  EXPECT_EQ(send(chat("small", "hello", {{"tern", json::object()}}))->status, 200);
}

TEST_F(GatewayTest, ModelsListsRoutesAndModels) {
  build(kConfig, {"x"});
  json j = json::parse(gw_->models(1).body);
  std::vector<std::string> ids;
  for (const auto& m : j["data"]) ids.push_back(m["id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"auto", "json-route", "safe", "small", "big", "backup"}));
}

}  // namespace
}  // namespace tern::opt
