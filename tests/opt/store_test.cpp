// Store contract tests, run against every implementation: memory, SQLite
// (temporary files) and Redis (a private redis-server on loopback; skipped
// with a message when redis-server is missing).
#include "store/store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <set>
#include <thread>

#include "opt/redis_server.h"

namespace tern::store {
namespace {

test::RedisServer* g_redis = nullptr;  // one redis-server for this binary's tests (null: g_redis_why)
std::string g_redis_why;
[[maybe_unused]] auto* const g_env = test::add_redis_environment(&g_redis, &g_redis_why);

template <typename T>
T val(Result<T> r) {
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : T{};
}

std::string unique_name() {
  static std::atomic<int> n{0};
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string s = std::string(info->test_suite_name()) + "_" + info->name() + "_" + std::to_string(getpid()) + "_" +
                  std::to_string(n++);
  for (char& c : s)
    if (c == '/') c = '_';
  return s;
}

class StoreTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    if (GetParam() == StoreKind::kRedis && !g_redis) GTEST_SKIP() << "Redis tests skipped: " << g_redis_why;
    name_ = unique_name();
    if (GetParam() == StoreKind::kSqlite) path_ = ::testing::TempDir() + "/" + name_ + ".db";
    store_ = open();
  }
  void TearDown() override {
    store_.reset();
    if (!path_.empty())
      for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix);
  }

  StoreConfig config() {
    StoreConfig c;
    c.kind = GetParam();
    c.path = path_;
    c.key_prefix = "t:" + name_ + ":";
    c.now_ms = [this] { return now_.load(); };
    if (g_redis) c.redis_port = g_redis->port();
    return c;
  }
  std::unique_ptr<Store> open() {
    auto s = open_store(config());
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  // Moves time forward: the injected clock, and real time for Redis (whose
  // TTLs run on the server's clock).
  void advance(int64_t ms) {
    now_ += ms;
    if (GetParam() == StoreKind::kRedis) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
  std::optional<std::string> get(std::string_view k) {
    auto r = store_->get(k);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : std::nullopt;
  }

  std::string name_, path_;
  std::atomic<int64_t> now_{1'700'000'000'000};
  std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, PutGetReplaceErase) {
  ASSERT_TRUE(store_->put("a", "1", 0).ok());
  EXPECT_EQ(get("a"), "1");
  ASSERT_TRUE(store_->put("a", std::string("two\0bytes", 9), 0).ok());  // binary-safe
  EXPECT_EQ(get("a"), std::string("two\0bytes", 9));
  EXPECT_EQ(get("b"), std::nullopt);
  EXPECT_EQ(val(store_->erase("a")), 1);
  EXPECT_EQ(val(store_->erase("a")), 0);
  EXPECT_EQ(get("a"), std::nullopt);
  ASSERT_TRUE(store_->put("empty", "", 0).ok());
  EXPECT_EQ(get("empty"), "");
}

TEST_P(StoreTest, TtlExpires) {
  ASSERT_TRUE(store_->put("short", "x", 150).ok());
  ASSERT_TRUE(store_->put("long", "y", 60000).ok());
  ASSERT_TRUE(store_->put("forever", "z", 0).ok());
  EXPECT_EQ(get("short"), "x");
  advance(400);
  EXPECT_EQ(get("short"), std::nullopt);
  EXPECT_EQ(get("long"), "y");
  EXPECT_EQ(get("forever"), "z");
  EXPECT_EQ(val(store_->erase("short")), 0);  // expired entries do not count as removed
}

TEST_P(StoreTest, EraseByPrefix) {
  for (const char* k : {"acme/m1/a", "acme/m1/b", "acme/m2/c", "acmex/m1/d", "beta/m1/e", "acme*/m1/f"})
    ASSERT_TRUE(store_->put(k, k, 0).ok());
  EXPECT_EQ(val(store_->erase_prefix("acme/m1/")), 2);
  EXPECT_EQ(get("acme/m2/c"), "acme/m2/c");
  EXPECT_EQ(val(store_->erase_prefix("acme*")), 1);  // glob characters are literal
  EXPECT_EQ(get("acmex/m1/d"), "acmex/m1/d");
  EXPECT_EQ(val(store_->erase_prefix("acme/")), 1);
  EXPECT_EQ(get("acmex/m1/d"), "acmex/m1/d");
  EXPECT_EQ(get("beta/m1/e"), "beta/m1/e");
}

TEST_P(StoreTest, EraseByTagFollowsReplacement) {
  ASSERT_TRUE(store_->put("a", "1", 0, {"x", "y"}).ok());
  ASSERT_TRUE(store_->put("b", "2", 0, {"x"}).ok());
  ASSERT_TRUE(store_->put("c", "3", 0, {"y"}).ok());
  ASSERT_TRUE(store_->put("d", "4", 0).ok());
  EXPECT_EQ(val(store_->erase_tag("x")), 2);
  EXPECT_EQ(get("a"), std::nullopt);
  EXPECT_EQ(get("c"), "3");
  ASSERT_TRUE(store_->put("c", "3b", 0, {"z"}).ok());  // replaced: no longer tagged y
  EXPECT_EQ(val(store_->erase_tag("y")), 0);
  EXPECT_EQ(get("c"), "3b");
  EXPECT_EQ(val(store_->erase_tag("z")), 1);
  EXPECT_EQ(val(store_->erase_tag("nope")), 0);
  EXPECT_EQ(get("d"), "4");
}

TEST_P(StoreTest, ScanSeesLiveEntriesUnderPrefix) {
  ASSERT_TRUE(store_->put("s/1", "one", 0).ok());
  ASSERT_TRUE(store_->put("s/2", "two", 0).ok());
  ASSERT_TRUE(store_->put("s/3", "three", 100).ok());
  ASSERT_TRUE(store_->put("t/1", "other", 0).ok());
  advance(300);
  std::map<std::string, std::string> seen;
  ASSERT_TRUE(store_->scan("s/", [&](std::string_view k, std::string_view v) {
    seen.emplace(k, v);
    return true;
  }).ok());
  EXPECT_EQ(seen, (std::map<std::string, std::string>{{"s/1", "one"}, {"s/2", "two"}}));
  int calls = 0;
  ASSERT_TRUE(store_->scan("s/", [&](std::string_view, std::string_view) { return ++calls < 1; }).ok());
  EXPECT_EQ(calls, 1);
  std::set<std::string> keys;
  ASSERT_TRUE(store_->scan_keys("s/", [&](std::string_view k) {
    keys.emplace(k);
    return true;
  }).ok());
  EXPECT_EQ(keys, (std::set<std::string>{"s/1", "s/2"}));
}

TEST_P(StoreTest, ReserveSettleRelease) {
  std::vector<AccountLimit> acc = {{"key:a", 100}, {"team:t", 150}};
  auto r1 = store_->reserve(acc, 60);
  ASSERT_TRUE(r1.ok());
  EXPECT_TRUE(r1->granted);
  auto r2 = store_->reserve(acc, 50);  // key: 60 + 50 > 100
  ASSERT_TRUE(r2.ok());
  EXPECT_FALSE(r2->granted);
  EXPECT_EQ(r2->refused_account, "key:a");
  EXPECT_EQ(r2->refused_state.reserved, 60);
  EXPECT_EQ(r2->refused_limit, 100);
  ASSERT_TRUE(store_->settle({"key:a", "team:t"}, 60, 25).ok());
  EXPECT_EQ(store_->account("key:a")->spent, 25);
  EXPECT_EQ(store_->account("key:a")->reserved, 0);
  // The team refuses now: 25 + 130 > 150.
  auto r3 = store_->reserve({{"key:b", -1}, {"team:t", 150}}, 130);
  ASSERT_TRUE(r3.ok());
  EXPECT_FALSE(r3->granted);
  EXPECT_EQ(r3->refused_account, "team:t");
  EXPECT_EQ(store_->account("key:b")->reserved, 0);  // nothing held on refusal
  // Release = settle with actual 0.
  ASSERT_TRUE(store_->reserve({{"key:b", -1}}, 7)->granted);
  ASSERT_TRUE(store_->settle({"key:b"}, 7, 0).ok());
  EXPECT_EQ(store_->account("key:b")->spent, 0);
  EXPECT_EQ(store_->account("key:b")->reserved, 0);
  EXPECT_EQ(store_->account("never")->spent, 0);
  EXPECT_FALSE(store_->reserve(acc, -1).ok());
}

TEST_P(StoreTest, ReserveIsExactBeyondDoublePrecision) {
  const Picodollars big = 10'000'000'000'000'000;  // $10,000: past 2^53
  ASSERT_TRUE(store_->reserve({{"k", big + 5}}, big)->granted);
  EXPECT_FALSE(store_->reserve({{"k", big + 5}}, 6)->granted);
  EXPECT_TRUE(store_->reserve({{"k", big + 5}}, 5)->granted);
  EXPECT_EQ(store_->account("k")->reserved, big + 5);
}

TEST_P(StoreTest, SlidingWindow) {
  const int64_t w = 60000, t0 = 1'700'000'040'000;  // 40 s into a window
  const int64_t start = (t0 / w) * w;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(store_->window_add("rpm:a", w, start + i, 1, 10)->allowed);
  auto refused = store_->window_add("rpm:a", w, start + 10, 1, 10);
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused->allowed);
  EXPECT_GT(refused->retry_after_ms, 0);
  // Halfway through the next window the previous 10 count as 5.
  auto half = store_->window_add("rpm:a", w, start + w + w / 2, 5, 10);
  ASSERT_TRUE(half.ok());
  EXPECT_TRUE(half->allowed);
  EXPECT_DOUBLE_EQ(half->estimate, 10.0);
  EXPECT_FALSE(store_->window_add("rpm:a", w, start + w + w / 2, 1, 10)->allowed);
  // Two windows later everything has decayed.
  EXPECT_TRUE(store_->window_add("rpm:a", w, start + 3 * w, 10, 10)->allowed);
  // Adjustments (token corrections) count without a check.
  ASSERT_TRUE(store_->window_adjust("rpm:a", w, start + 3 * w, 5).ok());
  EXPECT_FALSE(store_->window_add("rpm:a", w, start + 3 * w, 0, 14)->allowed);
  EXPECT_TRUE(store_->window_add("other", w, start, 1, -1)->allowed);  // unlimited
  EXPECT_FALSE(store_->window_add("other", 0, start, 1, 1).ok());
}

TEST_P(StoreTest, AdmitIsAllOrNothing) {
  const int64_t w = 60000, t = 1'700'000'000'000 / w * w;
  auto charge = [&](const std::string& name, int64_t amount, int64_t limit) {
    WindowCharge c;
    c.name = name;
    c.window_ms = w;
    c.amount = amount;
    c.limit = limit;
    return c;
  };
  std::vector<AccountLimit> acc = {{"key:a", 100}, {"team:t", 1000}};
  auto ok = store_->admit({charge("rpm:a", 1, 2), charge("tpm:a", 50, 100)}, t, acc, 60, nullptr);
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_TRUE(ok->granted);
  // The budget refuses: no window counts either.
  auto broke = store_->admit({charge("rpm:a", 1, 2), charge("tpm:a", 10, 100)}, t, acc, 50, nullptr);
  ASSERT_TRUE(broke.ok());
  EXPECT_FALSE(broke->granted);
  EXPECT_EQ(broke->refused_window, -1);
  EXPECT_EQ(broke->reserve.refused_account, "key:a");
  EXPECT_EQ(broke->reserve.refused_state.reserved, 60);
  // A window refuses (the second one): nothing reserved, the first window untouched.
  auto limited = store_->admit({charge("rpm:a", 1, 2), charge("tpm:a", 60, 100)}, t, acc, 10, nullptr);
  ASSERT_TRUE(limited.ok());
  EXPECT_FALSE(limited->granted);
  EXPECT_EQ(limited->refused_window, 1);
  EXPECT_GT(limited->window.retry_after_ms, 0);
  EXPECT_EQ(val(store_->account("key:a")).reserved, 60);
  EXPECT_TRUE(val(store_->window_add("rpm:a", w, t, 1, 2)).allowed);  // rpm still had one left
  EXPECT_FALSE(val(store_->window_add("rpm:a", w, t, 1, 2)).allowed);
  // finish: settle + window correction + ledger row in one step.
  LedgerRow r;
  r.ts_ms = t;
  r.key = "a";
  r.cost = 42;
  r.request_id = "fin";
  ASSERT_TRUE(store_->finish({"key:a", "team:t"}, 60, 42, {charge("tpm:a", -50, -1)}, t, &r, nullptr).ok());
  EXPECT_EQ(val(store_->account("key:a")).spent, 42);
  EXPECT_EQ(val(store_->account("key:a")).reserved, 0);
  EXPECT_EQ(val(store_->account("team:t")).spent, 42);
  EXPECT_TRUE(val(store_->window_add("tpm:a", w, t, 100, 100)).allowed);  // the 50 were given back
  auto rows = val(store_->ledger({}, 10));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].request_id, "fin");
  ASSERT_TRUE(store_->finish({"key:a"}, 0, 0, {}, t, nullptr, nullptr).ok());
  EXPECT_EQ(val(store_->ledger({}, 10)).size(), 1u);
  EXPECT_FALSE(store_->admit({charge("x", 1, 1)}, t, acc, -1, nullptr).ok());
  WindowCharge bad = charge("x", 1, 1);
  bad.window_ms = 0;
  EXPECT_FALSE(store_->admit({bad}, t, acc, 1, nullptr).ok());
}

// A reservation whose process died is given back once its lease expires;
// finishing a hold that expiry already released does not subtract twice.
TEST_P(StoreTest, ExpiredHoldsAreReleased) {
  const int64_t t = 1'700'000'000'000;
  std::vector<AccountLimit> acc = {{"key:h", 100}, {"team:h", 100}};
  Hold crashed{"crashed", t + 1000};
  ASSERT_TRUE(val(store_->admit({}, t, acc, 70, &crashed)).granted);
  EXPECT_FALSE(val(store_->admit({}, t + 500, acc, 70, nullptr)).granted);  // still held
  Hold live{"live", t + 10000};
  ASSERT_TRUE(val(store_->admit({}, t + 1000, acc, 70, &live)).granted);   // the crashed hold expired
  EXPECT_EQ(val(store_->account("key:h")).reserved, 70);
  EXPECT_EQ(val(store_->account("team:h")).reserved, 70);
  // The crashed process comes back and finishes: its amount is not taken twice.
  const std::string crashed_id = "crashed";
  ASSERT_TRUE(store_->finish({"key:h", "team:h"}, 70, 10, {}, t + 2000, nullptr, &crashed_id).ok());
  EXPECT_EQ(val(store_->account("key:h")).reserved, 70);
  EXPECT_EQ(val(store_->account("key:h")).spent, 10);
  const std::string live_id = "live";
  ASSERT_TRUE(store_->finish({"key:h", "team:h"}, 70, 20, {}, t + 3000, nullptr, &live_id).ok());
  EXPECT_EQ(val(store_->account("key:h")).reserved, 0);
  EXPECT_EQ(val(store_->account("team:h")).spent, 30);
  // A finished hold is gone: its expiry later releases nothing.
  ASSERT_TRUE(val(store_->admit({}, t + 20000, acc, 0, nullptr)).granted);
  EXPECT_EQ(val(store_->account("key:h")).reserved, 0);
}

LedgerRow row(int64_t ts, const std::string& key, const std::string& team, const std::string& model,
              Picodollars cost, const std::string& cache = "miss") {
  LedgerRow r;
  r.ts_ms = ts;
  r.request_id = "req-" + std::to_string(ts);
  r.key = key;
  r.team = team;
  r.model = model;
  r.route = "default";
  r.tokens_in = 10;
  r.tokens_out = 5;
  r.tokens_cached = 2;
  r.cost = cost;
  r.latency_ms = 1.5;
  r.cache = cache;
  return r;
}

TEST_P(StoreTest, LedgerAndUsage) {
  const int64_t day = 86400000, d0 = 19700 * day;
  ASSERT_TRUE(store_->append(row(d0 + 1000, "alice", "r", "small", 100)).ok());
  ASSERT_TRUE(store_->append(row(d0 + 2000, "alice", "r", "big", 1000)).ok());
  ASSERT_TRUE(store_->append(row(d0 + day + 5, "bob", "r", "small", 100, "exact")).ok());
  LedgerRow err = row(d0 + day + 6, "bob", "", "small", 0, "semantic");
  err.status = 429;
  err.escalations = 1;
  ASSERT_TRUE(store_->append(err).ok());

  auto all = store_->usage({});
  ASSERT_TRUE(all.ok()) << all.status().message();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all.value()[0].requests, 4);
  EXPECT_EQ(all.value()[0].cost, 1200);
  EXPECT_EQ(all.value()[0].tokens_in, 40);
  EXPECT_EQ(all.value()[0].tokens_cached, 8);
  EXPECT_EQ(all.value()[0].cache_exact, 1);
  EXPECT_EQ(all.value()[0].cache_semantic, 1);
  EXPECT_EQ(all.value()[0].errors, 1);
  EXPECT_EQ(all.value()[0].escalated, 1);
  EXPECT_DOUBLE_EQ(all.value()[0].latency_ms_sum, 6.0);

  UsageQuery q;
  q.group_by = UsageGroup::kKey | UsageGroup::kDay;
  auto by = store_->usage(q);
  ASSERT_TRUE(by.ok());
  ASSERT_EQ(by->size(), 2u);
  EXPECT_EQ(by.value()[0].key, "alice");
  EXPECT_EQ(by.value()[0].period_start_ms, d0);
  EXPECT_EQ(by.value()[0].cost, 1100);
  EXPECT_EQ(by.value()[1].key, "bob");
  EXPECT_EQ(by.value()[1].period_start_ms, d0 + day);
  EXPECT_EQ(by.value()[1].requests, 2);

  UsageQuery f;
  f.model = "small";
  f.from_ms = d0 + 1500;
  auto filtered = store_->usage(f);
  ASSERT_TRUE(filtered.ok());
  EXPECT_EQ(filtered.value()[0].requests, 2);

  UsageQuery none;
  none.key = "nobody";
  EXPECT_EQ((val(store_->usage(none)))[0].requests, 0);
  none.group_by = UsageGroup::kModel;
  EXPECT_TRUE(store_->usage(none)->empty());

  auto rows = store_->ledger({}, 3);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ(rows.value()[0].ts_ms, d0 + day + 6);  // newest first
  EXPECT_EQ(rows.value()[0].status, 429);
  EXPECT_EQ(rows.value()[0].cache, "semantic");
  EXPECT_EQ(rows.value()[2].model, "big");
  EXPECT_EQ(rows.value()[2].request_id, "req-" + std::to_string(d0 + 2000));
}

// 200 threads reserve against a small budget through two Store objects
// (two connections/pools, as two tern instances would), settling each with
// an actual cost no larger than the reservation: recorded spend never
// exceeds the budget and every picodollar is accounted for.
TEST_P(StoreTest, ConcurrentReservationsNeverOverspend) {
  std::unique_ptr<Store> second = GetParam() == StoreKind::kMemory ? nullptr : open();
  Store* stores[2] = {store_.get(), second ? second.get() : store_.get()};
  const Picodollars budget = 5000;
  std::atomic<Picodollars> charged{0};
  std::atomic<int> granted{0}, refused{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 200; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      Store* s = stores[t % 2];
      const Picodollars est = 50 + static_cast<Picodollars>(rng() % 100);
      auto r = s->reserve({{"key:k", budget}, {"team:t", budget + 1000}}, est);
      if (!r.ok()) {
        ++errors;
        return;
      }
      if (!r->granted) {
        ++refused;
        return;
      }
      ++granted;
      const Picodollars actual = static_cast<Picodollars>(rng() % static_cast<uint32_t>(est + 1));
      if (!s->settle({"key:k", "team:t"}, est, actual).ok()) {
        ++errors;
        return;
      }
      charged += actual;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(granted.load(), 0);
  EXPECT_GT(refused.load(), 0);
  auto k = store_->account("key:k");
  ASSERT_TRUE(k.ok());
  EXPECT_LE(k->spent, budget);
  EXPECT_EQ(k->spent, charged.load());
  EXPECT_EQ(k->reserved, 0);
}

TEST_P(StoreTest, SqliteSurvivesReopen) {
  if (GetParam() != StoreKind::kSqlite) GTEST_SKIP() << "SQLite only";
  ASSERT_TRUE(store_->put("k", "v", 0, {"t"}).ok());
  ASSERT_TRUE(store_->reserve({{"acct", 100}}, 40)->granted);
  ASSERT_TRUE(store_->settle({"acct"}, 40, 30).ok());
  ASSERT_TRUE(store_->append(row(5, "a", "t", "m", 30)).ok());
  store_.reset();
  store_ = open();
  EXPECT_EQ(get("k"), "v");
  EXPECT_EQ(store_->account("acct")->spent, 30);
  EXPECT_EQ((val(store_->usage({})))[0].cost, 30);
  EXPECT_EQ(val(store_->erase_tag("t")), 1);
}

std::string kind_name(const ::testing::TestParamInfo<StoreKind>& info) { return store_kind_name(info.param); }
INSTANTIATE_TEST_SUITE_P(Kinds, StoreTest,
                         ::testing::Values(StoreKind::kMemory, StoreKind::kSqlite, StoreKind::kRedis), kind_name);

TEST(StoreConfigTest, ParseKindAndBadConfigs) {
  EXPECT_EQ(val(parse_store_kind("redis")), StoreKind::kRedis);
  EXPECT_FALSE(parse_store_kind("mongo").ok());
  StoreConfig c;
  c.kind = StoreKind::kRedis;
  c.redis_port = 1;  // nothing listens there
  c.timeout_ms = 200;
  auto s = open_store(c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("redis: cannot connect to 127.0.0.1:1"), std::string::npos)
      << s.status().message();
  c.kind = StoreKind::kSqlite;
  c.path = "/nonexistent-dir/x.db";
  EXPECT_EQ(open_store(c).status().code(), StatusCode::kIoError);
  c.pool_size = 0;
  EXPECT_FALSE(open_store(c).ok());
}

}  // namespace
}  // namespace tern::store
