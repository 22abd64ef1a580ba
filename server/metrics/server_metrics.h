// The server's metrics, named as vLLM names them where the meaning is the
// same, so existing Grafana dashboards work:
//
//   vllm:time_to_first_token_seconds      histogram  arrival → first token (engine-measured)
//   vllm:inter_token_latency_seconds      histogram  between consecutive tokens of a request
//   vllm:e2e_request_latency_seconds      histogram  HTTP request in → last token
//   vllm:request_queue_time_seconds       histogram  arrival → first scheduled
//   vllm:prompt_tokens_total              counter    prompt tokens of finished requests
//   vllm:generation_tokens_total          counter    generated tokens of finished requests
//   vllm:request_success_total            counter    by finished_reason (stop, length, abort, error)
//   vllm:num_requests_running / _waiting  gauge      from the engine at scrape time
//   vllm:gpu_cache_usage_perc             gauge      KV blocks in use, 0..1 (vLLM's legacy name)
//   vllm:kv_cache_usage_perc, tern:kv_cache_usage_perc  the same value
//   vllm:prefix_cache_queries_total/_hits_total  counter  prompt tokens looked up / found
//   vllm:num_preemptions_total            counter
//   tern:kv_cache_blocks_used / _total    gauge
//   vllm:spec_decode_num_drafts_total / _num_draft_tokens_total / _num_accepted_tokens_total  counter
//   vllm:spec_decode_num_accepted_tokens_per_pos_total  counter  by position="0".. in the draft
//   tern:spec_decode_acceptance_rate, tern:spec_decode_mean_accepted_length  gauge (derived)
//   tern:http_responses_total             counter    by status code
//
// Every sample carries model_name="<served id>". The request-level series are
// observed by the handlers; the engine-level ones come from EngineStats.
#pragma once

#include <string>

#include "metrics/prometheus.h"
#include "tern/engine.h"

namespace tern::server {

class ServerMetrics {
 public:
  ServerMetrics();

  Histogram ttft{{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0}};
  Histogram inter_token{{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5}};
  Histogram e2e{{0.01, 0.025, 0.05, 0.1, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0}};
  Histogram queue{{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0}};
  Counter prompt_tokens, generation_tokens;
  Counter finished_stop, finished_length, finished_abort, finished_error;

  // Record one finished engine request.
  void finish(FinishReason reason, const Usage& usage);
  void http_response(int status);

  // The whole exposition text.
  std::string render(const EngineStats& stats, const std::string& model_name) const;

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<int, uint64_t>> http_;  // status → count
};

}  // namespace tern::server
