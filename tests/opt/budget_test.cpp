// Budgets: exact money, costs, authentication, admission (403/429/402),
// settlement and release, TPM correction, periods, the ledger, and 200
// concurrent requests against a small budget through two Budgets objects on
// two Store connections (SQLite file, private redis-server).
#include "budget/budget.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <thread>

#include "opt/redis_server.h"

namespace tern::budget {
namespace {

template <typename T>
T val(Result<T> r) {
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : T{};
}

Picodollars usd(const char* s) { return val(parse_dollars(s)); }

TEST(Money, ParseExactDecimals) {
  EXPECT_EQ(usd("1"), kPicoPerDollar);
  EXPECT_EQ(usd("0.15"), 150'000'000'000);
  EXPECT_EQ(usd("$2.50"), 2'500'000'000'000);
  EXPECT_EQ(usd("1e-3"), 1'000'000'000);
  EXPECT_EQ(usd("0.000000000001"), 1);
  EXPECT_EQ(usd("1.5000000000000"), 1'500'000'000'000);  // trailing zeros past 12 decimals are fine
  EXPECT_EQ(usd("1,000"), 1000 * kPicoPerDollar);
  EXPECT_EQ(usd("9000000"), 9'000'000 * kPicoPerDollar);
  for (const char* bad : {"", "-1", "abc", "1.2.3", "0.0000000000001", "1e", "10000000", "1x"})
    EXPECT_FALSE(parse_dollars(bad).ok()) << bad;
}

TEST(Money, FormatAndDouble) {
  EXPECT_EQ(format_dollars(150'000'000'000), "0.150000");
  EXPECT_EQ(format_dollars(1, 12), "0.000000000001");
  EXPECT_EQ(format_dollars(1'234'567'890'123, 2), "1.23");
  EXPECT_EQ(format_dollars(999'999'999'999, 2), "1.00");
  EXPECT_EQ(format_dollars(-2 * kPicoPerDollar, 0), "-2");
  EXPECT_EQ(dollars_from_double(0.15), 150'000'000'000);
  EXPECT_EQ(dollars_from_double(2.5e-6), 2'500'000);
}

TEST(Money, CostIsExactPerMillionPricing) {
  Prices p;
  p.input = usd("0.15");   // per 1M tokens
  p.output = usd("0.60");
  p.cached = usd("0.075");
  // 1000 in (200 cached), 500 out: 800*0.15 + 200*0.075 + 500*0.60 per 1M = $0.000435
  EXPECT_EQ(cost_of(p, 1000, 500, 200), usd("0.000435"));
  // Summing a million one-token requests equals one million-token request: no drift.
  Picodollars sum = 0;
  for (int i = 0; i < 1'000'000; ++i) sum += cost_of(p, 1, 0, 0);
  EXPECT_EQ(sum, p.input);
  Prices odd;
  odd.input = 1;  // $1e-12 per 1M tokens: a token costs less than a picodollar
  EXPECT_EQ(cost_of(odd, 1, 0, 0), 1);  // rounded up, never down
  EXPECT_EQ(cost_of(p, -5, -5, 9), 0);
  Prices no_cached = p;
  no_cached.cached = -1;  // cached tokens at the input price
  EXPECT_EQ(cost_of(no_cached, 1000, 0, 1000), cost_of(no_cached, 1000, 0, 0));
}

TEST(Money, Periods) {
  EXPECT_EQ(val(parse_period("monthly")), Period::kMonthly);
  EXPECT_FALSE(parse_period("weekly").ok());
}

// ---- Budgets over each store kind ----

test::RedisServer* g_redis = nullptr;  // one redis-server for this binary's tests (null: g_redis_why)
std::string g_redis_why;
[[maybe_unused]] auto* const g_env = test::add_redis_environment(&g_redis, &g_redis_why);

class BudgetTest : public ::testing::TestWithParam<store::StoreKind> {
 protected:
  void SetUp() override {
    if (GetParam() == store::StoreKind::kRedis && !g_redis) GTEST_SKIP() << "Redis tests skipped: " << g_redis_why;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    name_ = std::string(info->name()) + "_" + std::to_string(getpid());
    for (char& c : name_)
      if (c == '/') c = '_';
    if (GetParam() == store::StoreKind::kSqlite) path_ = ::testing::TempDir() + "/budget_" + name_ + ".db";
    a_ = open();
    b_ = GetParam() == store::StoreKind::kMemory ? nullptr : open();

    Team research;
    research.id = "research";
    research.budget = usd("1.00");
    research.rpm = 1000;
    cfg_.teams.push_back(research);
    VirtualKey alice;
    alice.id = "alice";
    alice.secret = "sk-tern-alice";
    alice.team = "research";
    alice.budget = usd("0.10");
    alice.rpm = 3;
    alice.tpm = 5000;
    cfg_.keys.push_back(alice);
    VirtualKey bob;
    bob.id = "bob";
    bob.secret = "sk-tern-bob";
    bob.team = "research";
    bob.models = {"small"};
    cfg_.keys.push_back(bob);
    VirtualKey solo;
    solo.id = "solo";
    solo.secret = "sk-tern-solo";
    solo.budget = usd("0.01");
    solo.period = Period::kDaily;
    cfg_.keys.push_back(solo);
    cfg_.now_ms = [this] { return now_.load(); };
    prices_.input = usd("1");     // $1 per 1M input tokens
    prices_.output = usd("2");
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
    c.key_prefix = "b:" + name_ + ":";
    if (g_redis) c.redis_port = g_redis->port();
    return val(store::open_store(c));
  }
  AdmitRequest ask(int64_t prompt, int64_t max_out, const std::string& model = "small") {
    AdmitRequest r;
    r.model = model;
    r.prices = prices_;
    r.prompt_tokens = prompt;
    r.max_output_tokens = max_out;
    return r;
  }
  Outcome done(int64_t in, int64_t out, const std::string& id = "r") {
    Outcome o;
    o.request_id = id;
    o.model = "small";
    o.route = "default";
    o.prices = prices_;
    o.tokens_in = in;
    o.tokens_out = out;
    o.latency_ms = 12.5;
    return o;
  }

  std::string name_, path_;
  std::atomic<int64_t> now_{1'763'942'400'000};  // 2025-11-24 00:00:00 UTC
  std::unique_ptr<store::Store> a_, b_;
  BudgetConfig cfg_;
  Prices prices_;
};

TEST_P(BudgetTest, AuthenticateBySecret) {
  Budgets b(*a_, cfg_);
  ASSERT_NE(b.authenticate("sk-tern-alice"), nullptr);
  EXPECT_EQ(b.authenticate("sk-tern-alice")->id, "alice");
  EXPECT_EQ(b.authenticate("sk-tern-alic"), nullptr);
  EXPECT_EQ(b.authenticate(""), nullptr);
  EXPECT_EQ(b.find_key("bob")->team, "research");
  EXPECT_EQ(b.find_team("nope"), nullptr);
}

TEST_P(BudgetTest, ReserveSettleAndLedger) {
  Budgets b(*a_, cfg_);
  const VirtualKey& alice = *b.find_key("alice");
  // Worst case: 1000 in at $1/M + 500 out at $2/M = $0.002.
  Admission adm = val(b.admit(alice, ask(1000, 500)));
  ASSERT_TRUE(adm.admitted());
  EXPECT_EQ(adm.reservation.amount(), usd("0.002"));
  EXPECT_EQ(val(b.key_state(alice)).reserved, usd("0.002"));
  EXPECT_EQ(val(b.team_state("research")).reserved, usd("0.002"));
  Outcome o = done(1000, 100, "req-1");
  o.tokens_cached = 400;
  EXPECT_EQ(val(b.settle(adm.reservation, o)), usd("0.0012"));  // cached price defaults to input
  EXPECT_FALSE(adm.reservation.active());
  EXPECT_EQ(val(b.key_state(alice)).spent, usd("0.0012"));
  EXPECT_EQ(val(b.key_state(alice)).reserved, 0);
  EXPECT_EQ(val(b.team_state("research")).spent, usd("0.0012"));
  EXPECT_FALSE(b.settle(adm.reservation, o).ok());  // only once

  auto rows = val(a_->ledger({}, 10));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].request_id, "req-1");
  EXPECT_EQ(rows[0].key, "alice");
  EXPECT_EQ(rows[0].team, "research");
  EXPECT_EQ(rows[0].cost, usd("0.0012"));
  EXPECT_EQ(rows[0].tokens_cached, 400);
  EXPECT_EQ(rows[0].ts_ms, now_.load());
  EXPECT_DOUBLE_EQ(rows[0].latency_ms, 12.5);
  store::UsageQuery q;
  q.group_by = store::UsageGroup::kTeam;
  auto usage = val(b.usage(q));
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage[0].team, "research");
  EXPECT_EQ(usage[0].cost, usd("0.0012"));
}

TEST_P(BudgetTest, FailedCallsCostNothing) {
  Budgets b(*a_, cfg_);
  const VirtualKey& alice = *b.find_key("alice");
  {
    Admission adm = val(b.admit(alice, ask(1000, 1000)));
    ASSERT_TRUE(adm.admitted());
  }  // destroyed unsettled: released
  EXPECT_EQ(val(b.key_state(alice)).reserved, 0);
  Admission adm = val(b.admit(alice, ask(1000, 1000)));
  ASSERT_TRUE(b.release(adm.reservation).ok());
  EXPECT_FALSE(adm.reservation.active());
  EXPECT_EQ(val(b.key_state(alice)).reserved, 0);
  EXPECT_EQ(val(b.key_state(alice)).spent, 0);
  // A moved reservation is released once, by its new owner.
  Admission adm2 = val(b.admit(alice, ask(10, 10)));
  Reservation moved = std::move(adm2.reservation);
  EXPECT_FALSE(adm2.reservation.active());
  EXPECT_TRUE(moved.active());
  moved = Reservation();
  EXPECT_EQ(val(b.key_state(alice)).reserved, 0);
}

TEST_P(BudgetTest, BudgetExhaustionIs402) {
  cfg_.keys[0].tpm = 0;  // this test is about dollars
  Budgets b(*a_, cfg_);
  const VirtualKey& alice = *b.find_key("alice");  // $0.10
  Admission first = val(b.admit(alice, ask(40000, 0)));  // $0.04 worst case
  ASSERT_TRUE(first.admitted());
  ASSERT_TRUE(val(b.settle(first.reservation, done(40000, 0))) == usd("0.04"));
  now_ += 61000;  // past the RPM window
  Admission second = val(b.admit(alice, ask(30000, 0)));
  ASSERT_TRUE(second.admitted());  // $0.04 + $0.03 <= $0.10, held
  Admission third = val(b.admit(alice, ask(40000, 0)));  // $0.04 + $0.03 held + $0.04 > $0.10
  ASSERT_FALSE(third.admitted());
  EXPECT_EQ(third.denial->http_status, 402);
  EXPECT_EQ(third.denial->type, "insufficient_quota");
  EXPECT_NE(third.denial->message.find("key alice"), std::string::npos) << third.denial->message;
  EXPECT_NE(third.denial->message.find("$0.040000 spent"), std::string::npos) << third.denial->message;
  EXPECT_FALSE(third.reservation.active());
}

TEST_P(BudgetTest, TeamBudgetIsShared) {
  cfg_.teams[0].budget = usd("0.005");
  Budgets b(*a_, cfg_);
  Admission a = val(b.admit(*b.find_key("alice"), ask(3000, 0)));  // $0.003
  ASSERT_TRUE(a.admitted());
  Admission c = val(b.admit(*b.find_key("bob"), ask(3000, 0)));  // team: 0.003 + 0.003 > 0.005
  ASSERT_FALSE(c.admitted());
  EXPECT_EQ(c.denial->http_status, 402);
  EXPECT_NE(c.denial->message.find("team research"), std::string::npos) << c.denial->message;
}

TEST_P(BudgetTest, RateLimitsAre429) {
  Budgets b(*a_, cfg_);
  const VirtualKey& alice = *b.find_key("alice");  // 3 rpm, 5000 tpm
  for (int i = 0; i < 3; ++i) {
    Admission adm = val(b.admit(alice, ask(10, 1)));
    ASSERT_TRUE(adm.admitted()) << i;
    ASSERT_TRUE(b.settle(adm.reservation, done(10, 1)).ok());
  }
  Admission over = val(b.admit(alice, ask(10, 1)));
  ASSERT_FALSE(over.admitted());
  EXPECT_EQ(over.denial->http_status, 429);
  EXPECT_EQ(over.denial->type, "rate_limit_exceeded");
  EXPECT_GT(over.denial->retry_after_ms, 0);
  EXPECT_NE(over.denial->message.find("requests-per-minute"), std::string::npos);
  // TPM: the prompt counts at admission, corrected to prompt + completion at settlement.
  now_ += 120000;
  Admission big = val(b.admit(alice, ask(3000, 10)));
  ASSERT_TRUE(big.admitted());
  ASSERT_TRUE(b.settle(big.reservation, done(3000, 1500)).ok());  // 4500 tokens this minute
  Admission more = val(b.admit(alice, ask(600, 10)));
  ASSERT_FALSE(more.admitted());
  EXPECT_NE(more.denial->message.find("tokens-per-minute"), std::string::npos) << more.denial->message;
  // The refused TPM attempt did not consume the key's RPM share: two more fit.
  Admission small = val(b.admit(alice, ask(400, 10)));
  EXPECT_TRUE(small.admitted());
}

TEST_P(BudgetTest, ModelAllowListIs403) {
  Budgets b(*a_, cfg_);
  Admission no = val(b.admit(*b.find_key("bob"), ask(10, 10, "big")));
  ASSERT_FALSE(no.admitted());
  EXPECT_EQ(no.denial->http_status, 403);
  EXPECT_TRUE(val(b.admit(*b.find_key("bob"), ask(10, 10, "small"))).admitted());
}

TEST_P(BudgetTest, DailyBudgetResets) {
  Budgets b(*a_, cfg_);
  const VirtualKey& solo = *b.find_key("solo");  // $0.01 a day
  EXPECT_EQ(b.key_account(solo, now_), "key:solo@2025-11-24");
  Admission a = val(b.admit(solo, ask(10000, 0)));
  ASSERT_TRUE(a.admitted());
  ASSERT_TRUE(b.settle(a.reservation, done(10000, 0)).ok());
  EXPECT_FALSE(val(b.admit(solo, ask(1, 0))).admitted());
  now_ += 86400000;
  EXPECT_TRUE(val(b.admit(solo, ask(1, 0))).admitted());
}

TEST_P(BudgetTest, ReservationsOfCrashedInstancesExpire) {
  cfg_.keys[0].tpm = 0;
  cfg_.reservation_lease_ms = 600000;
  Budgets b(*a_, cfg_);
  const VirtualKey& alice = *b.find_key("alice");  // $0.10
  // Another instance reserved $0.09 with a lease and died before settling.
  store::Hold hold{"dead-instance", now_.load() + 600000};
  ASSERT_TRUE(val(a_->admit({}, now_, {{b.key_account(alice, now_), usd("0.10")}}, usd("0.09"), &hold)).granted);
  now_ += 61000;
  EXPECT_FALSE(val(b.admit(alice, ask(20000, 0))).admitted());  // $0.09 still held
  now_ += 600000;                                                // the lease ran out
  Admission later = val(b.admit(alice, ask(20000, 0)));
  EXPECT_TRUE(later.admitted());
  EXPECT_EQ(val(b.key_state(alice)).reserved, usd("0.02"));
}

TEST_P(BudgetTest, RecordWithoutReservation) {
  Budgets b(*a_, cfg_);
  Outcome o = done(100, 0, "denied");
  o.status = 402;
  o.charge = false;
  ASSERT_TRUE(b.record(b.find_key("alice"), o, now_).ok());
  Outcome hit = done(100, 50, "hit");
  hit.cache = "exact";
  hit.charge = false;
  hit.saved = 777;
  ASSERT_TRUE(b.record(nullptr, hit, now_ + 1).ok());
  auto u = val(a_->usage({}));
  EXPECT_EQ(u[0].requests, 2);
  EXPECT_EQ(u[0].cost, 0);
  EXPECT_EQ(u[0].saved, 777);
  EXPECT_EQ(u[0].cache_exact, 1);
  EXPECT_EQ(u[0].errors, 1);
  EXPECT_EQ(val(b.key_state(*b.find_key("alice"))).spent, 0);
}

// The acceptance criterion: under 200 concurrent requests against a small
// budget the recorded spend never exceeds it, also across two instances.
TEST_P(BudgetTest, TwoHundredConcurrentRequestsNeverOverspend) {
  cfg_.keys[0].rpm = 0;
  cfg_.keys[0].tpm = 0;
  cfg_.keys[0].budget = usd("0.05");
  cfg_.teams[0].rpm = 0;
  Budgets one(*a_, cfg_);
  Budgets two(b_ ? *b_ : *a_, cfg_);
  std::atomic<int> admitted{0}, denied{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 200; ++t) {
    threads.emplace_back([&, t] {
      Budgets& b = t % 2 ? two : one;
      std::mt19937 rng(static_cast<unsigned>(t));
      const int64_t prompt = 500 + static_cast<int64_t>(rng() % 1500), max_out = 200 + static_cast<int64_t>(rng() % 800);
      auto adm = b.admit(*b.find_key("alice"), ask(prompt, max_out));
      if (!adm.ok()) {
        ++errors;
        return;
      }
      if (!adm->admitted()) {
        ++denied;
        return;
      }
      ++admitted;
      if (rng() % 5 == 0) return;  // the upstream failed: released unsettled
      const int64_t out = static_cast<int64_t>(rng() % static_cast<uint32_t>(max_out + 1));
      if (!b.settle(adm->reservation, done(prompt, out, "t" + std::to_string(t))).ok()) ++errors;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(admitted.load(), 10);
  EXPECT_GT(denied.load(), 0);
  const store::AccountState s = val(one.key_state(*one.find_key("alice")));
  EXPECT_LE(s.spent, usd("0.05"));
  EXPECT_EQ(s.reserved, 0);
  store::UsageQuery q;
  q.key = "alice";
  const auto u = val(a_->usage(q));
  EXPECT_EQ(u[0].cost, s.spent);  // ledger and account agree to the picodollar
  EXPECT_LE(u[0].cost, usd("0.05"));
}

std::string kind_name(const ::testing::TestParamInfo<store::StoreKind>& i) { return store::store_kind_name(i.param); }
INSTANTIATE_TEST_SUITE_P(Kinds, BudgetTest,
                         ::testing::Values(store::StoreKind::kMemory, store::StoreKind::kSqlite,
                                           store::StoreKind::kRedis),
                         kind_name);

}  // namespace
}  // namespace tern::budget
