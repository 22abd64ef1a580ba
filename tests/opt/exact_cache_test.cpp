// Exact cache: canonical keys, determinism rule, TTL, namespaces,
// invalidation by key/prefix/tag, entry encoding, streamed-form conversion,
// and sharing between two instances (two Store objects on one SQLite file
// and on one private redis-server).
#include "cache/exact_cache.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "opt/redis_server.h"

namespace tern::cache {
namespace {

template <typename T>
T val(Result<T> r) {
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : T{};
}

InsertOptions with(int64_t ttl_ms, std::vector<std::string> tags = {}) {
  InsertOptions o;
  o.ttl_ms = ttl_ms;
  o.tags = std::move(tags);
  return o;
}
InsertOptions tagged(std::vector<std::string> tags) { return with(0, std::move(tags)); }

std::string key_of(const std::string& ns, const std::string& body) {
  auto k = make_cache_key(ns, Json::parse(body));
  EXPECT_TRUE(k.ok()) << k.status().message();
  return k.ok() ? k->str() : "";
}

TEST(CanonicalKey, KeyOrderWhitespaceAndNumberFormsDoNotMatter) {
  const std::string a = R"({"model":"m","temperature":0,"messages":[{"role":"user","content":"hi"}],"max_tokens":16})";
  const std::string b = R"({ "max_tokens" : 16.0, "messages" : [ { "content":"hi", "role":"user" } ],
                            "temperature": 0.0, "model": "m" })";
  const std::string c = R"({"model":"m","temperature":0e0,"messages":[{"role":"user","content":"h\u0069"}],"max_tokens":1.6e1})";
  EXPECT_EQ(key_of("t", a), key_of("t", b));
  EXPECT_EQ(key_of("t", a), key_of("t", c));
  EXPECT_EQ(canonical_json(Json::parse(R"({"b":[1.50,-0.0,1e21],"a":{"y":null,"x":true}})")),
            R"({"a":{"x":true,"y":null},"b":[1.5,0,1e+21]})");
}

TEST(CanonicalKey, FieldsThatCannotChangeTheAnswerAreIgnored) {
  const std::string a = R"({"model":"m","seed":1,"prompt":"x"})";
  const std::string b =
      R"({"model":"m","seed":1,"prompt":"x","stream":true,"stream_options":{"include_usage":true},"user":"u1","metadata":{"k":"v"}})";
  EXPECT_EQ(key_of("t", a), key_of("t", b));
}

TEST(CanonicalKey, AnswerChangingFieldsDiffer) {
  const std::string base = R"({"model":"m","temperature":0,"messages":[{"role":"user","content":"hi"}]})";
  const std::string k = key_of("t", base);
  for (const char* variant : {
           R"({"model":"m","temperature":0.1,"messages":[{"role":"user","content":"hi"}]})",
           R"({"model":"m","temperature":0,"top_p":0.9,"messages":[{"role":"user","content":"hi"}]})",
           R"({"model":"m","temperature":0,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]})",
           R"({"model":"m","temperature":0,"seed":7,"messages":[{"role":"user","content":"hi"}]})",
           R"({"model":"m","temperature":0,"stop":["\n"],"messages":[{"role":"user","content":"hi"}]})",
           R"({"model":"m","temperature":0,"messages":[{"role":"user","content":"hi "}]})",
           R"({"model":"m","temperature":0,"messages":[{"role":"system","content":"hi"}]})",
           R"({"model":"m2","temperature":0,"messages":[{"role":"user","content":"hi"}]})",
           R"({"model":"m","temperature":0,"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}]})",
           R"({"model":"m","temperature":0,"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"}})",
       })
    EXPECT_NE(key_of("t", variant), k) << variant;
  EXPECT_NE(key_of("other", base), k);  // namespaces never share keys
}

TEST(CanonicalKey, KeyShapeAndBadInput) {
  auto k = make_cache_key("acme", Json::parse(R"({"model":"org/model-7b","prompt":"x"})"));
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->ns, "acme");
  EXPECT_EQ(k->model, "org/model-7b");
  EXPECT_EQ(k->digest.size(), 32u);
  EXPECT_EQ(k->str().rfind("acme/org/model-7b/", 0), 0u);
  EXPECT_FALSE(make_cache_key("", Json::parse(R"({"model":"m"})")).ok());
  EXPECT_FALSE(make_cache_key("a/b", Json::parse(R"({"model":"m"})")).ok());
  EXPECT_FALSE(make_cache_key("a", Json::parse(R"({"prompt":"x"})")).ok());
  EXPECT_FALSE(make_cache_key("a", Json::parse(R"([1,2])")).ok());
  EXPECT_FALSE(make_cache_key("a", Json::parse(R"({"model":7})")).ok());
}

TEST(Determinism, OnlyTemperatureZeroOrSeedByDefault) {
  store::StoreConfig mem;
  mem.kind = store::StoreKind::kMemory;
  auto store = val(store::open_store(mem));
  ExactCache cache(*store, {});
  EXPECT_TRUE(cache.eligible(Json::parse(R"({"model":"m","temperature":0})")).cacheable);
  EXPECT_TRUE(cache.eligible(Json::parse(R"({"model":"m","temperature":0.0,"top_p":0.5})")).cacheable);
  EXPECT_TRUE(cache.eligible(Json::parse(R"({"model":"m","temperature":0.8,"seed":42})")).cacheable);
  const Eligibility no = cache.eligible(Json::parse(R"({"model":"m"})"));
  EXPECT_FALSE(no.cacheable);
  EXPECT_NE(no.reason.find("temperature"), std::string::npos);
  EXPECT_FALSE(cache.eligible(Json::parse(R"({"model":"m","temperature":0.2})")).cacheable);
  EXPECT_FALSE(cache.eligible(Json::parse(R"({"model":"m","temperature":"0"})")).cacheable);
  EXPECT_FALSE(cache.eligible(Json::parse(R"({"model":"m","seed":null})")).cacheable);
  ExactCacheOptions lax;
  lax.cache_nondeterministic = true;
  ExactCache any(*store, lax);
  EXPECT_TRUE(any.eligible(Json::parse(R"({"model":"m","temperature":1})")).cacheable);
}

CachedResponse response(const std::string& text) {
  CachedResponse r;
  Json body = {{"id", "chatcmpl-1"},
               {"object", "chat.completion"},
               {"created", 1700000000},
               {"model", "m"},
               {"choices", Json::array({{{"index", 0},
                                         {"message", {{"role", "assistant"}, {"content", text}}},
                                         {"finish_reason", "stop"}}})},
               {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 2}, {"total_tokens", 7}}}};
  r.body = body.dump();
  r.chunks = val(chunks_from_response(body));
  r.usage = {5, 2, 1};
  r.model = "m";
  r.route = "default";
  r.created_ms = 1700000000123;
  r.cost_pico = 123456;
  return r;
}

TEST(Entry, RoundTripAndCorruption) {
  CachedResponse r = response("héllo\n\"world\"");
  r.chunks.push_back(std::string("\0bin", 4));
  CachedResponse back = val(decode_entry(encode_entry(r)));
  EXPECT_EQ(back.body, r.body);
  EXPECT_EQ(back.chunks, r.chunks);
  EXPECT_EQ(back.usage.cached_tokens, 1);
  EXPECT_EQ(back.cost_pico, 123456);
  EXPECT_EQ(back.created_ms, r.created_ms);
  EXPECT_EQ(back.route, "default");
  const std::string bytes = encode_entry(r);
  for (size_t cut : {size_t{0}, size_t{3}, size_t{10}, bytes.size() - 1})
    EXPECT_FALSE(decode_entry(bytes.substr(0, cut)).ok()) << cut;
  EXPECT_FALSE(decode_entry(bytes + "x").ok());
}

TEST(Chunks, ChatRoundTripWithToolCalls) {
  Json body = Json::parse(R"({"id":"c1","object":"chat.completion","created":1,"model":"m",
    "choices":[{"index":0,"message":{"role":"assistant","content":null,
      "tool_calls":[{"id":"call_1","type":"function","function":{"name":"get","arguments":"{\"a\":1}"}}]},
      "logprobs":null,"finish_reason":"tool_calls"},
     {"index":1,"message":{"role":"assistant","content":"two"},"logprobs":null,"finish_reason":"length"}],
    "usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}})");
  auto chunks = val(chunks_from_response(body));
  ASSERT_EQ(chunks.size(), 5u);  // 2 per choice + usage
  EXPECT_EQ(Json::parse(chunks[0])["object"], "chat.completion.chunk");
  EXPECT_TRUE(Json::parse(chunks.back())["choices"].empty());
  Json back = val(response_from_chunks(chunks));
  EXPECT_EQ(back, body);
}

TEST(Chunks, StreamedDeltasAssemble) {
  std::vector<std::string> chunks = {
      R"({"id":"c","object":"chat.completion.chunk","created":2,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]})",
      R"({"id":"c","object":"chat.completion.chunk","created":2,"model":"m","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]})",
      R"({"id":"c","object":"chat.completion.chunk","created":2,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t1","type":"function","function":{"name":"f","arguments":"{\"x\""}}]}}]})",
      R"({"id":"c","object":"chat.completion.chunk","created":2,"model":"m","choices":[{"index":0,"delta":{"content":"lo","tool_calls":[{"index":0,"function":{"arguments":":2}"}}]},"finish_reason":"stop"}]})",
      R"({"id":"c","object":"chat.completion.chunk","created":2,"model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}})"};
  Json r = val(response_from_chunks(chunks));
  EXPECT_EQ(r["object"], "chat.completion");
  EXPECT_EQ(r["choices"][0]["message"]["content"], "Hello");
  EXPECT_EQ(r["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"], "{\"x\":2}");
  EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(r["usage"]["total_tokens"], 3);
}

TEST(Chunks, CompletionsRoundTripAndBadInput) {
  Json body = Json::parse(R"({"id":"t","object":"text_completion","created":3,"model":"m",
    "choices":[{"index":0,"text":"abc","logprobs":null,"finish_reason":"stop"}]})");
  Json back = val(response_from_chunks(val(chunks_from_response(body))));
  EXPECT_EQ(back, body);
  EXPECT_FALSE(chunks_from_response(Json::parse(R"({"object":"list","choices":[]})")).ok());
  EXPECT_FALSE(chunks_from_response(Json::parse(R"({"object":"chat.completion","choices":[{"message":7}]})")).ok());
  EXPECT_FALSE(response_from_chunks({}).ok());
  EXPECT_FALSE(response_from_chunks({"not json"}).ok());
  EXPECT_FALSE(response_from_chunks({R"({"object":"chat.completion.chunk","choices":[{"delta":{"tool_calls":[5]}}]})"}).ok());
}

// ---- the cache over each store kind ----

test::RedisServer* g_redis = nullptr;  // one redis-server for this binary's tests (null: g_redis_why)
std::string g_redis_why;
[[maybe_unused]] auto* const g_env = test::add_redis_environment(&g_redis, &g_redis_why);

class ExactCacheTest : public ::testing::TestWithParam<store::StoreKind> {
 protected:
  void SetUp() override {
    if (GetParam() == store::StoreKind::kRedis && !g_redis) GTEST_SKIP() << "Redis tests skipped: " << g_redis_why;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    name_ = std::string(info->name()) + "_" + std::to_string(getpid());
    for (char& c : name_)
      if (c == '/') c = '_';
    if (GetParam() == store::StoreKind::kSqlite) path_ = ::testing::TempDir() + "/exact_" + name_ + ".db";
    a_ = open();
    b_ = GetParam() == store::StoreKind::kMemory ? nullptr : open();
  }
  void TearDown() override {
    a_.reset();
    b_.reset();
    if (!path_.empty())
      for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + s);
  }
  std::unique_ptr<store::Store> open() {
    store::StoreConfig c;
    c.kind = GetParam();
    c.path = path_;
    c.key_prefix = "x:" + name_ + ":";
    c.now_ms = [this] { return now_.load(); };
    if (g_redis) c.redis_port = g_redis->port();
    return val(store::open_store(c));
  }
  void advance(int64_t ms) {
    now_ += ms;
    if (GetParam() == store::StoreKind::kRedis) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
  CacheKey key(const std::string& ns, const std::string& text, const std::string& model = "m") {
    return val(make_cache_key(ns, Json{{"model", model}, {"temperature", 0}, {"prompt", text}}));
  }
  std::optional<CachedResponse> look(ExactCache& c, const CacheKey& k) { return val(c.lookup(k)); }

  std::string name_, path_;
  std::atomic<int64_t> now_{1'700'000'000'000};
  std::unique_ptr<store::Store> a_, b_;
};

TEST_P(ExactCacheTest, MissInsertHitAcrossInstances) {
  ExactCache one(*a_, {});
  ExactCache two(b_ ? *b_ : *a_, {});
  const CacheKey k = key("acme", "hello");
  EXPECT_FALSE(look(one, k).has_value());
  ASSERT_TRUE(one.insert(k, response("hi there")).ok());
  auto hit = look(two, k);  // written by instance one, found by instance two
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->body, response("hi there").body);
  EXPECT_EQ(hit->chunks.size(), 3u);
  EXPECT_EQ(hit->cost_pico, 123456);
  EXPECT_EQ(two.stats().hits, 1);
  EXPECT_EQ(one.stats().misses, 1);
  EXPECT_EQ(one.stats().inserts, 1);
}

TEST_P(ExactCacheTest, TtlAndDefaultTtl) {
  ExactCacheOptions o;
  o.default_ttl_ms = 150;
  ExactCache c(*a_, o);
  const CacheKey k1 = key("acme", "one"), k2 = key("acme", "two"), k3 = key("acme", "three");
  ASSERT_TRUE(c.insert(k1, response("1")).ok());                         // default 150 ms
  ASSERT_TRUE(c.insert(k2, response("2"), with(60000)).ok());
  ASSERT_TRUE(c.insert(k3, response("3"), with(-1)).ok());        // no expiry
  advance(400);
  EXPECT_FALSE(look(c, k1).has_value());
  EXPECT_TRUE(look(c, k2).has_value());
  EXPECT_TRUE(look(c, k3).has_value());
}

TEST_P(ExactCacheTest, NamespacesAreIsolated) {
  ExactCache c(*a_, {});
  ASSERT_TRUE(c.insert(key("acme", "q"), response("acme's")).ok());
  EXPECT_FALSE(look(c, key("beta", "q")).has_value());
  ASSERT_TRUE(c.insert(key("beta", "q"), response("beta's")).ok());
  EXPECT_EQ(look(c, key("acme", "q"))->body, response("acme's").body);
  EXPECT_EQ(look(c, key("beta", "q"))->body, response("beta's").body);
}

TEST_P(ExactCacheTest, InvalidateByKeyPrefixAndTag) {
  ExactCache one(*a_, {});
  ExactCache two(b_ ? *b_ : *a_, {});
  const CacheKey a1 = key("acme", "1", "small"), a2 = key("acme", "2", "small"), a3 = key("acme", "3", "org/big"),
                 b1 = key("beta", "1", "small");
  ASSERT_TRUE(one.insert(a1, response("a1"), tagged({"docs-v1"})).ok());
  ASSERT_TRUE(one.insert(a2, response("a2"), tagged({"docs-v2"})).ok());
  ASSERT_TRUE(one.insert(a3, response("a3"), tagged({"docs-v1"})).ok());
  ASSERT_TRUE(one.insert(b1, response("b1"), tagged({"docs-v1"})).ok());
  // Invalidation through instance two removes what instance one wrote.
  EXPECT_EQ(val(two.invalidate_tag("acme", "docs-v1")), 2);  // beta's docs-v1 is untouched
  EXPECT_FALSE(look(one, a1).has_value());
  EXPECT_FALSE(look(one, a3).has_value());
  EXPECT_TRUE(look(one, b1).has_value());
  EXPECT_EQ(val(two.invalidate_key(a2.str())), 1);
  EXPECT_FALSE(look(one, a2).has_value());
  ASSERT_TRUE(one.insert(a1, response("a1"), {}).ok());
  ASSERT_TRUE(one.insert(a3, response("a3"), {}).ok());
  EXPECT_EQ(val(two.invalidate_prefix("acme/small/")), 1);
  EXPECT_TRUE(look(one, a3).has_value());
  EXPECT_EQ(val(two.invalidate_prefix("acme/")), 1);
  EXPECT_TRUE(look(one, b1).has_value());
  EXPECT_FALSE(two.invalidate_prefix("").ok());
  EXPECT_FALSE(two.invalidate_tag("", "x").ok());
}

TEST_P(ExactCacheTest, LargeEntriesAreSkippedAndCorruptOnesDropped) {
  ExactCacheOptions o;
  o.max_entry_bytes = 100;
  ExactCache c(*a_, o);
  const CacheKey k = key("acme", "big");
  ASSERT_TRUE(c.insert(k, response(std::string(500, 'x'))).ok());
  EXPECT_EQ(c.stats().skipped_large, 1);
  EXPECT_FALSE(look(c, k).has_value());
  ASSERT_TRUE(a_->put("exact:" + k.str(), "garbage", 0).ok());
  EXPECT_FALSE(look(c, k).has_value());
  EXPECT_FALSE(val(a_->get("exact:" + k.str())).has_value());
}

std::string kind_name(const ::testing::TestParamInfo<store::StoreKind>& i) { return store::store_kind_name(i.param); }
INSTANTIATE_TEST_SUITE_P(Kinds, ExactCacheTest,
                         ::testing::Values(store::StoreKind::kMemory, store::StoreKind::kSqlite,
                                           store::StoreKind::kRedis),
                         kind_name);

}  // namespace
}  // namespace tern::cache
