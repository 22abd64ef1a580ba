// Semantic cache: lexical embedder properties, guards (tools, multi-turn,
// non-text), partitions, threshold, sharing through the store between two
// instances (SQLite file, private redis-server), invalidation, the remote
// embedder over a fake HTTP function, the engine embedder on stories260K, and
// a precision floor on the committed labelled pairs.
#include "cache/semantic_cache.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cache/engine_embedder.h"
#include "opt/redis_server.h"
#include "test_assets.h"

namespace tern::cache {
namespace {

template <typename T>
T val(Result<T> r) {
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : T{};
}

Json chat(const std::string& user, const std::string& model = "m", const std::string& system = "") {
  Json msgs = Json::array();
  if (!system.empty()) msgs.push_back({{"role", "system"}, {"content", system}});
  msgs.push_back({{"role", "user"}, {"content", user}});
  return {{"model", model}, {"messages", msgs}};
}

CachedResponse answer(const std::string& text) {
  CachedResponse r;
  r.body = Json{{"object", "chat.completion"}, {"answer", text}}.dump();
  r.model = "m";
  return r;
}

float sim(LexicalEmbedder& e, const std::string& a, const std::string& b) {
  return cosine(val(e.embed(a)), val(e.embed(b)));
}

TEST(LexicalEmbedder, UnitVectorsAndSimilarityOrder) {
  LexicalEmbedder e;
  auto v = val(e.embed("How do I reset my password?"));
  ASSERT_EQ(static_cast<int>(v.size()), e.dim());
  double n = 0;
  for (float x : v) n += x * x;
  EXPECT_NEAR(n, 1.0, 1e-5);
  EXPECT_NEAR(sim(e, "Reset my password", "reset my PASSWORD!"), 1.0, 1e-5);  // case, punctuation
  const float para = sim(e, "How do I reset my password?", "How can I reset my password?");
  const float other = sim(e, "How do I reset my password?", "What is the capital of France?");
  EXPECT_GT(para, 0.85f);
  EXPECT_LT(other, 0.3f);
  // Word order counts through bigrams.
  EXPECT_LT(sim(e, "convert celsius to fahrenheit", "convert fahrenheit to celsius"), 0.95f);
  auto empty = val(e.embed("  ...  "));
  for (float x : empty) EXPECT_EQ(x, 0.f);
  EXPECT_NE(e.name(), LexicalEmbedder(LexicalOptions{256}).name());
}

class SemanticTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::StoreConfig c;
    c.kind = store::StoreKind::kMemory;
    store_ = val(store::open_store(c));
    emb_ = std::make_shared<LexicalEmbedder>();
  }
  std::unique_ptr<store::Store> store_;
  std::shared_ptr<LexicalEmbedder> emb_;
};

TEST_F(SemanticTest, HitOnParaphraseMissOnOtherQuestion) {
  SemanticCache c(*store_, emb_, {});
  SemanticQuery q = val(c.prepare("acme", chat("How do I reset my password?")));
  ASSERT_TRUE(q.eligibility.cacheable) << q.eligibility.reason;
  EXPECT_FALSE(val(c.lookup(q)).has_value());
  ASSERT_TRUE(c.insert(q, answer("use the link")).ok());
  SemanticQuery p = val(c.prepare("acme", chat("How can I reset my password?")));
  auto hit = val(c.lookup(p));
  ASSERT_TRUE(hit.has_value());
  EXPECT_GT(hit->similarity, 0.9f);
  EXPECT_EQ(hit->matched_text, "How do I reset my password?");
  EXPECT_EQ(hit->response.body, answer("use the link").body);
  SemanticQuery o = val(c.prepare("acme", chat("What is the capital of France?")));
  EXPECT_FALSE(val(c.lookup(o)).has_value());
  // A stricter route threshold refuses the paraphrase; a looser one takes it.
  SemanticQuery p2 = val(c.prepare("acme", chat("How can I reset my password?")));
  EXPECT_FALSE(val(c.lookup(p2, 0.999f)).has_value());
  EXPECT_TRUE(val(c.lookup(p2, 0.5f)).has_value());
  EXPECT_EQ(c.stats().hits, 2);
  EXPECT_EQ(c.stats().indexed, 1);
}

TEST_F(SemanticTest, PartitionsKeepContextsApart) {
  SemanticCache c(*store_, emb_, {});
  SemanticQuery q = val(c.prepare("acme", chat("How do I reset my password?", "m", "You are terse.")));
  ASSERT_TRUE(c.insert(q, answer("x")).ok());
  for (const Json& other : {chat("How do I reset my password?", "m", "You are verbose."),  // other system prompt
                            chat("How do I reset my password?", "m2", "You are terse."),   // other model
                            [] {
                              Json j = chat("How do I reset my password?", "m", "You are terse.");
                              j["temperature"] = 0.7;  // other sampling
                              return j;
                            }()}) {
    SemanticQuery o = val(c.prepare("acme", other));
    EXPECT_FALSE(val(c.lookup(o, 0.0f)).has_value()) << other.dump();
  }
  SemanticQuery tenant = val(c.prepare("beta", chat("How do I reset my password?", "m", "You are terse.")));
  EXPECT_FALSE(val(c.lookup(tenant, 0.0f)).has_value());
  // Fields that cannot change the answer do not split partitions.
  Json streamed = chat("How do I reset my password?", "m", "You are terse.");
  streamed["stream"] = true;
  SemanticQuery s = val(c.prepare("acme", streamed));
  EXPECT_TRUE(val(c.lookup(s)).has_value());
}

TEST_F(SemanticTest, GuardsToolsMultiTurnAndNonText) {
  SemanticCache strict(*store_, emb_, {});
  Json tools = chat("What's the weather in Paris?");
  tools["tools"] = Json::parse(R"([{"type":"function","function":{"name":"weather"}}])");
  Json tool_turn = Json::parse(R"({"model":"m","messages":[{"role":"user","content":"weather?"},
      {"role":"assistant","content":null,"tool_calls":[{"id":"1","type":"function","function":{"name":"w","arguments":"{}"}}]},
      {"role":"tool","tool_call_id":"1","content":"sunny"},{"role":"user","content":"and tomorrow?"}]})");
  Json multi = Json::parse(R"({"model":"m","messages":[{"role":"user","content":"hi"},
      {"role":"assistant","content":"hello"},{"role":"user","content":"how are you?"}]})");
  Json image = Json::parse(R"({"model":"m","messages":[{"role":"user","content":[
      {"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"data:"}}]}]})");
  Json parts = Json::parse(R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what is this?"}]}]})");
  Json prefill = Json::parse(R"({"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"Sure"}]})");
  for (const Json& r : {tools, tool_turn, multi, image, prefill}) {
    SemanticQuery q = val(strict.prepare("acme", r));
    EXPECT_FALSE(q.eligibility.cacheable) << r.dump();
    EXPECT_FALSE(q.eligibility.reason.empty());
    EXPECT_FALSE(val(strict.lookup(q)).has_value());
    EXPECT_FALSE(strict.insert(q, answer("no")).ok());
  }
  EXPECT_TRUE(val(strict.prepare("acme", parts)).eligibility.cacheable);
  EXPECT_NE(val(strict.prepare("acme", tools)).eligibility.reason.find("tool"), std::string::npos);
  EXPECT_NE(val(strict.prepare("acme", multi)).eligibility.reason.find("multi-turn"), std::string::npos);
  EXPECT_GE(strict.stats().ineligible, 5);

  SemanticOptions lax;
  lax.allow_tools = true;
  lax.allow_multi_turn = true;
  SemanticCache open(*store_, emb_, lax);
  EXPECT_TRUE(val(open.prepare("acme", tools)).eligibility.cacheable);
  EXPECT_TRUE(val(open.prepare("acme", tool_turn)).eligibility.cacheable);
  SemanticQuery m = val(open.prepare("acme", multi));
  ASSERT_TRUE(m.eligibility.cacheable);
  EXPECT_EQ(m.text, "how are you?");
  // Earlier turns are part of the partition: another history never matches.
  ASSERT_TRUE(open.insert(m, answer("fine")).ok());
  Json other_history = multi;
  other_history["messages"][1]["content"] = "go away";
  SemanticQuery o = val(open.prepare("acme", other_history));
  EXPECT_FALSE(val(open.lookup(o, 0.0f)).has_value());

  EXPECT_FALSE(strict.prepare("acme", Json::parse(R"({"model":"m"})")).ok());
  EXPECT_FALSE(strict.prepare("a/b", chat("x")).ok());
  EXPECT_FALSE(strict.prepare("acme", Json::parse(R"({"model":"m","messages":[]})")).ok());
  EXPECT_FALSE(val(strict.prepare("acme", chat("   "))).eligibility.cacheable);
  SemanticQuery completion = val(strict.prepare("acme", Json::parse(R"({"model":"m","prompt":"Once upon"})")));
  EXPECT_TRUE(completion.eligibility.cacheable);
  EXPECT_EQ(completion.text, "Once upon");
}

TEST_F(SemanticTest, TtlInvalidationAndStaleEntries) {
  SemanticCache c(*store_, emb_, {});
  SemanticQuery q = val(c.prepare("acme", chat("How do I reset my password?")));
  InsertOptions opts;
  opts.tags = {"faq-v1"};
  ASSERT_TRUE(c.insert(q, answer("a"), opts).ok());
  SemanticQuery p = val(c.prepare("acme", chat("How can I reset my password?")));
  auto hit = val(c.lookup(p));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(val(c.invalidate_tag("acme", "faq-v1")), 1);
  SemanticQuery p2 = val(c.prepare("acme", chat("How can I reset my password?")));
  EXPECT_FALSE(val(c.lookup(p2)).has_value());  // the index still had it: re-read from the store
  EXPECT_EQ(c.stats().stale, 1);
  EXPECT_EQ(c.stats().indexed, 0);
  SemanticQuery q2 = val(c.prepare("acme", chat("How do I reset my password?")));
  ASSERT_TRUE(c.insert(q2, answer("b")).ok());
  EXPECT_EQ(val(c.invalidate_prefix("acme/m/")), 1);
  SemanticQuery p3 = val(c.prepare("acme", chat("How can I reset my password?")));
  EXPECT_FALSE(val(c.lookup(p3)).has_value());
  SemanticQuery q3 = val(c.prepare("acme", chat("How do I reset my password?")));
  ASSERT_TRUE(c.insert(q3, answer("c")).ok());
  SemanticQuery p4 = val(c.prepare("acme", chat("How can I reset my password?")));
  auto h4 = val(c.lookup(p4));
  ASSERT_TRUE(h4.has_value());
  EXPECT_EQ(val(c.invalidate_key(h4->entry_key)), 1);
  EXPECT_FALSE(c.invalidate_prefix("").ok());
}

TEST_F(SemanticTest, ManyEntriesGrowTheIndex) {
  SemanticCache c(*store_, emb_, {});
  for (int i = 0; i < 300; ++i) {
    SemanticQuery q = val(c.prepare("acme", chat("question number " + std::to_string(i) + " about topic " +
                                                 std::to_string(i * 7919 % 1000))));
    ASSERT_TRUE(c.insert(q, answer(std::to_string(i))).ok());
  }
  EXPECT_EQ(c.stats().indexed, 300);
  SemanticQuery q = val(c.prepare("acme", chat("question number 123 about topic " + std::to_string(123 * 7919 % 1000))));
  auto hit = val(c.lookup(q));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->response.body, answer("123").body);
}

// ---- two instances sharing a store ----

test::RedisServer* g_redis = nullptr;  // one redis-server for this binary's tests (null: g_redis_why)
std::string g_redis_why;
[[maybe_unused]] auto* const g_env = test::add_redis_environment(&g_redis, &g_redis_why);

class SharedSemanticTest : public ::testing::TestWithParam<store::StoreKind> {};

TEST_P(SharedSemanticTest, SecondInstanceFindsFirstInstancesEntries) {
  if (GetParam() == store::StoreKind::kRedis && !g_redis) GTEST_SKIP() << "Redis tests skipped: " << g_redis_why;
  const std::string name = "sem_" + std::to_string(getpid());
  const std::string path = ::testing::TempDir() + "/" + name + ".db";
  struct Cleanup {  // also when an assertion returns early
    std::string path;
    ~Cleanup() {
      if (path.empty()) return;
      for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(path + s);
    }
  } cleanup{GetParam() == store::StoreKind::kSqlite ? path : ""};
  auto open = [&] {
    store::StoreConfig c;
    c.kind = GetParam();
    c.path = path;
    c.key_prefix = name + ":";
    if (g_redis) c.redis_port = g_redis->port();
    return val(store::open_store(c));
  };
  auto sa = open(), sb = open();
  auto emb = std::make_shared<LexicalEmbedder>();
  SemanticOptions opts;
  opts.sync_interval_ms = 0;  // pull other instances' entries on every lookup
  SemanticCache a(*sa, emb, opts);
  SemanticCache b(*sb, emb, opts);
  EXPECT_EQ(b.stats().indexed, 0);
  SemanticQuery q = val(a.prepare("acme", chat("How do I reset my password?")));
  ASSERT_TRUE(a.insert(q, answer("use the reset link")).ok());
  SemanticQuery p = val(b.prepare("acme", chat("How can I reset my password?")));
  auto hit = val(b.lookup(p));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(b.stats().indexed, 1);  // pulled from the store by the lookup
  EXPECT_EQ(hit->response.body, answer("use the reset link").body);
  // A third instance started later builds its index from the store.
  SemanticOptions lazy;
  lazy.sync_interval_ms = -1;
  SemanticCache c(*sb, emb, lazy);
  EXPECT_EQ(c.stats().indexed, 1);
  // Invalidation by instance a is seen by instance b at once.
  EXPECT_EQ(val(a.invalidate_prefix("acme/")), 1);
  SemanticQuery p2 = val(b.prepare("acme", chat("How can I reset my password?")));
  EXPECT_FALSE(val(b.lookup(p2)).has_value());
  sa.reset();
  sb.reset();
}

std::string kind_name(const ::testing::TestParamInfo<store::StoreKind>& i) { return store::store_kind_name(i.param); }
INSTANTIATE_TEST_SUITE_P(Kinds, SharedSemanticTest,
                         ::testing::Values(store::StoreKind::kSqlite, store::StoreKind::kRedis), kind_name);

// ---- embedders ----

TEST(RemoteEmbedder, ParsesOpenAIAnswersAndReportsErrors) {
  std::string last_url, last_body, auth;
  std::string reply = R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":[3,4]}]})";
  HttpPost post = [&](const std::string& url, const std::vector<std::pair<std::string, std::string>>& headers,
                      const std::string& body, int) -> Result<std::string> {
    last_url = url;
    last_body = body;
    for (const auto& [k, v] : headers)
      if (k == "Authorization") auth = v;
    if (reply == "fail") return IoError("connection refused");
    return reply;
  };
  RemoteEmbedderOptions o;
  o.base_url = "http://127.0.0.1:9/v1/";
  o.api_key = "sk-x";
  o.model = "text-embed";
  RemoteEmbedder e(o, post);
  auto v = val(e.embed("hello"));
  EXPECT_EQ(last_url, "http://127.0.0.1:9/v1/embeddings");
  EXPECT_EQ(Json::parse(last_body), (Json{{"model", "text-embed"}, {"input", "hello"}}));
  EXPECT_EQ(auth, "Bearer sk-x");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_FLOAT_EQ(v[0], 0.6f);  // normalised
  EXPECT_EQ(e.dim(), 2);
  EXPECT_EQ(e.name(), "remote:text-embed");
  reply = R"({"data":[{"embedding":[1,2,3]}]})";
  EXPECT_FALSE(e.embed("x").ok());  // dimension changed
  reply = R"({"error":{"message":"nope"}})";
  EXPECT_FALSE(e.embed("x").ok());
  reply = "fail";
  auto err = e.embed("x");
  ASSERT_FALSE(err.ok());
  EXPECT_NE(err.status().message().find("connection refused"), std::string::npos);
}

TEST(EngineEmbedder, EmbedsThroughALocalModel) {
  TERN_REQUIRE_ASSET("models/stories260K.gguf");
  EngineOptions opt;
  opt.model_path = test::asset("models/stories260K.gguf");
  opt.threads = 1;
  auto engine = Engine::create(opt);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  auto emb = std::make_shared<EngineEmbedder>(**engine);
  EXPECT_EQ(emb->dim(), (*engine)->model_info().dim);
  auto a = val(emb->embed("Once upon a time there was a cat."));
  auto b = val(emb->embed("Once upon a time there was a cat."));
  ASSERT_EQ(static_cast<int>(a.size()), emb->dim());
  EXPECT_NEAR(cosine(a, b), 1.0f, 1e-4f);
  // Through the cache end to end.
  store::StoreConfig c;
  c.kind = store::StoreKind::kMemory;
  auto store = val(store::open_store(c));
  SemanticCache cache(*store, emb, {});
  SemanticQuery q = val(cache.prepare("acme", chat("Once upon a time there was a cat.")));
  ASSERT_TRUE(cache.insert(q, answer("story")).ok());
  SemanticQuery same = val(cache.prepare("acme", chat("Once upon a time there was a cat.")));
  EXPECT_TRUE(val(cache.lookup(same)).has_value());
}

// Precision floor on bench/data/semantic_pairs.jsonl at the default
// threshold (the full report: bench/results/semantic-precision.md).
TEST(SemanticPrecision, LexicalEmbedderOnLabelledPairs) {
  std::ifstream in(std::string(TERN_SOURCE_DIR) + "/bench/data/semantic_pairs.jsonl");
  ASSERT_TRUE(in) << "bench/data/semantic_pairs.jsonl missing";
  LexicalEmbedder e;
  const float t = SemanticOptions{}.threshold;
  int tp = 0, fp = 0, pos = 0;
  std::string line;
  while (std::getline(in, line)) {
    Json j = Json::parse(line);
    const bool hit = sim(e, j["a"], j["b"]) >= t;
    const bool same = j["label"] == 1;
    pos += same;
    tp += hit && same;
    fp += hit && !same;
  }
  ASSERT_GT(pos, 50);
  const double precision = tp + fp ? static_cast<double>(tp) / (tp + fp) : 1.0;
  EXPECT_GE(precision, 0.9) << "tp " << tp << " fp " << fp;
  EXPECT_GT(tp, 0);
}

}  // namespace
}  // namespace tern::cache
