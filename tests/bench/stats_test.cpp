// Percentile, summary, goodput, SLO parsing and cost arithmetic on known data.
#include <gtest/gtest.h>

#include "bench/stats.h"

namespace tern::bench {
namespace {

TEST(Percentile, MatchesNumpyLinear) {
  std::vector<double> v = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  // numpy.percentile(range(1, 11), [0, 50, 90, 95, 99, 100]) -> 1, 5.5, 9.1, 9.55, 9.91, 10
  EXPECT_DOUBLE_EQ(percentile_sorted(v, 0), 1);
  EXPECT_DOUBLE_EQ(percentile_sorted(v, 50), 5.5);
  EXPECT_NEAR(percentile_sorted(v, 90), 9.1, 1e-12);
  EXPECT_NEAR(percentile_sorted(v, 95), 9.55, 1e-12);
  EXPECT_NEAR(percentile_sorted(v, 99), 9.91, 1e-12);
  EXPECT_DOUBLE_EQ(percentile_sorted(v, 100), 10);
  EXPECT_DOUBLE_EQ(percentile_sorted({42}, 99), 42);
}

TEST(Summary, UnsortedInput) {
  Summary s = summarize({30, 10, 20, 40});
  EXPECT_EQ(s.n, 4u);
  EXPECT_DOUBLE_EQ(s.mean, 25);
  EXPECT_DOUBLE_EQ(s.min, 10);
  EXPECT_DOUBLE_EQ(s.max, 40);
  EXPECT_DOUBLE_EQ(s.p50, 25);
  EXPECT_NEAR(s.p90, 37, 1e-12);           // rank 2.7 -> 30 + 0.7*10
  EXPECT_NEAR(s.stddev, 12.909944487, 1e-6);  // sample stddev
  EXPECT_EQ(summarize({}).n, 0u);
}

RequestRecord rec(double ttft, double e2e, int64_t out, std::string err = "") {
  RequestRecord r;
  r.ttft_ms = ttft;
  r.e2e_ms = e2e;
  r.output_tokens = out;
  r.prompt_tokens = 100;
  r.error = std::move(err);
  return r;
}

TEST(Tpot, ExcludesFirstToken) {
  EXPECT_DOUBLE_EQ(*rec(100, 1090, 100).tpot_ms(), 10);  // 990 ms over 99 gaps
  EXPECT_FALSE(rec(100, 100, 1).tpot_ms());
}

TEST(Goodput, CountsRequestsMeetingEverySlo) {
  std::string err;
  auto slo = parse_slo("ttft=200ms,tpot=0.02s", &err);
  ASSERT_TRUE(slo) << err;
  EXPECT_DOUBLE_EQ(*slo->ttft_ms, 200);
  EXPECT_DOUBLE_EQ(*slo->tpot_ms, 20);
  std::vector<RequestRecord> rs = {
      rec(150, 150 + 99 * 10, 100),  // meets both
      rec(250, 250 + 99 * 10, 100),  // TTFT too slow
      rec(150, 150 + 99 * 30, 100),  // TPOT too slow
      rec(100, 100 + 99 * 20, 100),  // exactly on the bounds: met
      rec(50, 60, 100, "http_429"),  // failed: never counts
  };
  PointReport p = aggregate(rs, 2.0, *slo, Prices{});
  EXPECT_EQ(p.succeeded, 4u);
  EXPECT_EQ(p.failed, 1u);
  EXPECT_EQ(p.errors.at("http_429"), 1u);
  EXPECT_EQ(p.slo_met, 2u);
  EXPECT_DOUBLE_EQ(p.goodput, 1.0);  // 2 requests in 2 s
  EXPECT_DOUBLE_EQ(p.request_throughput, 2.0);
  EXPECT_DOUBLE_EQ(p.output_throughput, 200.0);
  EXPECT_DOUBLE_EQ(p.ttft.mean, (150 + 250 + 150 + 100) / 4.0);
  EXPECT_EQ(p.ttft_cdf.size(), 101u);
}

TEST(Goodput, NoSloMeansEverySuccess) {
  PointReport p = aggregate({rec(1, 2, 2), rec(1, 2, 2, "timeout")}, 1.0, Slo{}, Prices{});
  EXPECT_EQ(p.slo_met, 1u);
}

TEST(Slo, ParseErrors) {
  std::string err;
  EXPECT_FALSE(parse_slo("ttft", &err));
  EXPECT_FALSE(parse_slo("ttft=fast", &err));
  EXPECT_FALSE(parse_slo("ttft=3h", &err));
  EXPECT_FALSE(parse_slo("latency=3ms", &err));
  auto s = parse_slo("e2e=2s,itl=500us", &err);
  ASSERT_TRUE(s);
  EXPECT_DOUBLE_EQ(*s->e2e_ms, 2000);
  EXPECT_DOUBLE_EQ(*s->itl_ms, 0.5);
}

TEST(Cost, PriceTableWithCachedTokens) {
  RequestRecord r = rec(1, 2, 1000);
  r.prompt_tokens = 3000;
  r.cached_tokens = 2000;
  Prices p{3.0, 15.0, 0.3};  // USD per 1M tokens
  EXPECT_NEAR(p.cost(r), (1000 * 3.0 + 2000 * 0.3 + 1000 * 15.0) / 1e6, 1e-15);
  Prices q{3.0, 15.0, std::nullopt};
  EXPECT_NEAR(q.cost(r), (3000 * 3.0 + 1000 * 15.0) / 1e6, 1e-15);
  PointReport agg = aggregate({r, r}, 1.0, Slo{}, p);
  EXPECT_NEAR(agg.cost_per_request, p.cost(r), 1e-15);
  EXPECT_NEAR(agg.cached_share, 2.0 / 3.0, 1e-12);
}

}  // namespace
}  // namespace tern::bench
