#include "metrics/server_metrics.h"

#include <algorithm>

namespace tern::server {

ServerMetrics::ServerMetrics() = default;

void ServerMetrics::finish(FinishReason reason, const Usage& usage) {
  prompt_tokens.add(usage.prompt_tokens);
  generation_tokens.add(usage.completion_tokens);
  switch (reason) {
    case FinishReason::kLength: finished_length.add(); break;
    case FinishReason::kCancelled: finished_abort.add(); break;
    case FinishReason::kError: finished_error.add(); break;
    default: finished_stop.add(); break;
  }
}

void ServerMetrics::http_response(int status) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [s, n] : http_)
    if (s == status) {
      ++n;
      return;
    }
  http_.emplace_back(status, 1);
  std::sort(http_.begin(), http_.end());
}

std::string ServerMetrics::render(const EngineStats& st, const std::string& model_name) const {
  const std::string l = "model_name=\"" + escape_label(model_name) + "\"";
  std::string out;
  out.reserve(8192);
  auto gauge = [&](const char* name, const char* help, double v) {
    append_family_header(out, name, help, "gauge");
    append_sample(out, name, l, v);
  };
  auto counter = [&](const char* name, const char* help, double v) {
    append_family_header(out, name, help, "counter");
    append_sample(out, name, l, v);
  };

  gauge("vllm:num_requests_running", "Number of requests in model execution batches.", st.running);
  gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", st.waiting);
  gauge("vllm:gpu_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", st.kv_usage);
  gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", st.kv_usage);
  gauge("tern:kv_cache_usage_perc", "Share of KV blocks in use (0..1).", st.kv_usage);
  gauge("tern:kv_cache_blocks_used", "KV blocks in use.", static_cast<double>(st.kv_blocks_used));
  gauge("tern:kv_cache_blocks_total", "KV blocks in the pool.", static_cast<double>(st.kv_blocks_total));
  counter("vllm:prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.",
          static_cast<double>(st.prefix_query_tokens));
  counter("vllm:prefix_cache_hits_total", "Prompt tokens found in the prefix cache.",
          static_cast<double>(st.prefix_hit_tokens));
  counter("vllm:num_preemptions_total", "Cumulative number of preemptions from the engine.",
          static_cast<double>(st.preemptions));
  counter("tern:engine_steps_total", "Engine steps (batched forward passes).", static_cast<double>(st.steps));
  counter("tern:engine_prompt_tokens_computed_total", "Prompt tokens computed (not served from the prefix cache).",
          static_cast<double>(st.prompt_tokens));

  // Speculative decoding (vLLM v1's spec_decode names) and two derived gauges.
  counter("vllm:spec_decode_num_drafts_total", "Verification chunks with at least one draft token.",
          static_cast<double>(st.spec_drafts));
  counter("vllm:spec_decode_num_draft_tokens_total", "Draft tokens verified.", static_cast<double>(st.spec_draft_tokens));
  counter("vllm:spec_decode_num_accepted_tokens_total", "Draft tokens accepted.",
          static_cast<double>(st.spec_accepted_tokens));
  append_family_header(out, "vllm:spec_decode_num_accepted_tokens_per_pos_total",
                       "Draft tokens accepted, by position in the draft (0: first).", "counter");
  for (size_t i = 0; i < st.spec_accepted_per_pos.size(); ++i)
    append_sample(out, "vllm:spec_decode_num_accepted_tokens_per_pos_total", l + ",position=\"" + std::to_string(i) + "\"",
                  static_cast<double>(st.spec_accepted_per_pos[i]));
  gauge("tern:spec_decode_acceptance_rate", "Accepted / draft tokens since start (0 when none were drafted).",
        st.spec_draft_tokens > 0 ? static_cast<double>(st.spec_accepted_tokens) / st.spec_draft_tokens : 0.0);
  gauge("tern:spec_decode_mean_accepted_length",
        "Tokens produced per verification chunk: 1 + accepted / drafts (0 when none were drafted).",
        st.spec_drafts > 0 ? 1.0 + static_cast<double>(st.spec_accepted_tokens) / st.spec_drafts : 0.0);

  counter("vllm:prompt_tokens_total", "Number of prefill tokens processed.", prompt_tokens.value());
  counter("vllm:generation_tokens_total", "Number of generation tokens processed.", generation_tokens.value());
  append_family_header(out, "vllm:request_success_total", "Count of finished requests by finish reason.", "counter");
  append_sample(out, "vllm:request_success_total", l + ",finished_reason=\"stop\"", finished_stop.value());
  append_sample(out, "vllm:request_success_total", l + ",finished_reason=\"length\"", finished_length.value());
  append_sample(out, "vllm:request_success_total", l + ",finished_reason=\"abort\"", finished_abort.value());
  append_sample(out, "vllm:request_success_total", l + ",finished_reason=\"error\"", finished_error.value());

  ttft.render(out, "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", l);
  inter_token.render(out, "vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", l);
  e2e.render(out, "vllm:e2e_request_latency_seconds", "Histogram of end to end request latency in seconds.", l);
  queue.render(out, "vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.", l);

  append_family_header(out, "tern:http_responses_total", "HTTP responses by status code.", "counter");
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [s, n] : http_)
      append_sample(out, "tern:http_responses_total", l + ",code=\"" + std::to_string(s) + "\"",
                    static_cast<double>(n));
  }
  return out;
}

}  // namespace tern::server
