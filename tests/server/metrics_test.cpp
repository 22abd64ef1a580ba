// Prometheus text: histogram buckets are cumulative with +Inf, _sum/_count,
// labels escaped, and vLLM's metric names present.
#include <gtest/gtest.h>

#include "metrics/prometheus.h"
#include "metrics/server_metrics.h"

namespace tern::server {
namespace {

TEST(Histogram, CumulativeBuckets) {
  Histogram h({0.1, 1.0});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(0.5);
  h.observe(7);
  std::string out;
  h.render(out, "x_seconds", "help text", "model_name=\"m\"");
  EXPECT_NE(out.find("# HELP x_seconds help text\n# TYPE x_seconds histogram\n"), std::string::npos);
  EXPECT_NE(out.find("x_seconds_bucket{model_name=\"m\",le=\"0.1\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{model_name=\"m\",le=\"1\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{model_name=\"m\",le=\"+Inf\"} 4\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_sum{model_name=\"m\"} 8.05\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_count{model_name=\"m\"} 4\n"), std::string::npos) << out;
}

TEST(Labels, Escaped) { EXPECT_EQ(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd"); }

TEST(ServerMetrics, VllmNames) {
  ServerMetrics m;
  m.finish(FinishReason::kStop, Usage{5, 2, 7});
  m.ttft.observe(0.02);
  m.http_response(200);
  m.http_response(429);
  EngineStats st;
  st.running = 2;
  st.waiting = 3;
  st.kv_usage = 0.25;
  st.prefix_query_tokens = 10;
  st.prefix_hit_tokens = 4;
  std::string t = m.render(st, "stories");
  for (const char* needle :
       {"vllm:time_to_first_token_seconds_bucket", "vllm:inter_token_latency_seconds_count",
        "vllm:e2e_request_latency_seconds_sum", "vllm:request_queue_time_seconds_bucket",
        "vllm:prompt_tokens_total{model_name=\"stories\"} 5\n", "vllm:generation_tokens_total{model_name=\"stories\"} 7\n",
        "vllm:gpu_cache_usage_perc{model_name=\"stories\"} 0.25\n", "tern:kv_cache_usage_perc{model_name=\"stories\"} 0.25\n",
        "vllm:prefix_cache_queries_total{model_name=\"stories\"} 10\n",
        "vllm:prefix_cache_hits_total{model_name=\"stories\"} 4\n", "vllm:num_preemptions_total",
        "vllm:num_requests_running{model_name=\"stories\"} 2\n", "vllm:num_requests_waiting{model_name=\"stories\"} 3\n",
        "vllm:request_success_total{model_name=\"stories\",finished_reason=\"stop\"} 1\n",
        "tern:http_responses_total{model_name=\"stories\",code=\"429\"} 1\n"}) {
    EXPECT_NE(t.find(needle), std::string::npos) << needle;
  }
  // Every line is a comment or "name{labels} value".
  size_t pos = 0;
  while (pos < t.size()) {
    size_t nl = t.find('\n', pos);
    ASSERT_NE(nl, std::string::npos);
    std::string line = t.substr(pos, nl - pos);
    EXPECT_TRUE(line.rfind("# ", 0) == 0 || line.find(' ') != std::string::npos) << line;
    pos = nl + 1;
  }
}

}  // namespace
}  // namespace tern::server
