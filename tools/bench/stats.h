// Per-request measurements and their aggregation into one sweep point's
// report: latency summaries, throughput, goodput under SLOs, errors by kind,
// cached-prompt share and cost. Pure arithmetic, no I/O; unit-tested on known
// data in tests/bench/stats_test.cpp.
//
// Definitions (the same as vLLM's benchmark_serving and GenAI-Perf):
//   TTFT  request sent -> first chunk carrying output text
//   ITL   gaps between consecutive output-carrying chunks, pooled over requests
//   TPOT  (E2E - TTFT) / (output_tokens - 1), per request with >= 2 tokens
//   E2E   request sent -> last byte of the response
// Output tokens come from the server's `usage` when it sends one, otherwise
// from the number of output-carrying chunks.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tern::bench {

struct RequestRecord {
  double start_s = 0;      // send time, seconds since the point's start
  double ttft_ms = -1;     // < 0: no output arrived
  double e2e_ms = 0;
  std::vector<double> itl_ms;
  int64_t prompt_tokens = 0;
  int64_t output_tokens = 0;
  int64_t cached_tokens = 0;
  int chunks = 0;          // output-carrying chunks
  bool usage_reported = false;
  std::string error;       // empty: success; else a kind ("http_429", "timeout", ...)
  std::string error_detail;  // the server's message or the socket error

  bool ok() const { return error.empty(); }
  // TPOT in ms, or nullopt with fewer than two output tokens.
  std::optional<double> tpot_ms() const;
};

// Linear interpolation between closest ranks (numpy's default, "type 7"):
// p in [0, 100]; `sorted` ascending and non-empty.
double percentile_sorted(const std::vector<double>& sorted, double p);

struct Summary {
  size_t n = 0;
  double mean = 0, min = 0, max = 0, stddev = 0;
  double p50 = 0, p90 = 0, p95 = 0, p99 = 0;
};
Summary summarize(std::vector<double> values);

// Service-level objectives; a request meets them when it succeeded and every
// given bound holds. Unset bounds are ignored.
struct Slo {
  std::optional<double> ttft_ms, tpot_ms, e2e_ms, itl_ms;  // itl: the request's max gap
  bool any() const { return ttft_ms || tpot_ms || e2e_ms || itl_ms; }
  bool met(const RequestRecord& r) const;
};
// "ttft=200ms,tpot=50ms,e2e=2s,itl=100ms"; units us, ms, s (default ms).
std::optional<Slo> parse_slo(const std::string& text, std::string* error);

struct Prices {  // USD per 1M tokens
  double in = 0, out = 0;
  std::optional<double> cached;  // cached prompt tokens; default: `in`
  bool any() const { return in > 0 || out > 0 || (cached && *cached > 0); }
  double cost(const RequestRecord& r) const;
};

struct PointReport {
  std::string label;          // "c=4" or "rate=2/s"
  std::string mode;           // "closed" | "poisson" | "constant"
  double concurrency = 0;     // closed loop
  double rate = 0;            // open loop, requests/s
  size_t requests = 0, succeeded = 0, failed = 0;
  size_t dropped = 0;         // open-loop arrivals not sent (--max-inflight)
  double duration_s = 0;      // first send -> last completion of measured requests
  double request_throughput = 0;  // succeeded / duration
  double output_throughput = 0;   // output tokens / s
  double input_throughput = 0;    // prompt tokens / s
  int64_t prompt_tokens = 0, output_tokens = 0, cached_tokens = 0;
  double cached_share = 0;        // cached / prompt tokens
  Summary ttft, itl, tpot, e2e;   // ms
  size_t slo_met = 0;
  double goodput = 0;             // requests meeting the SLO per second
  std::map<std::string, size_t> errors;
  std::map<std::string, std::string> error_examples;  // kind -> first detail
  double cost_per_request = 0, cost_total = 0;  // USD, over succeeded requests
  double client_cpu_s = 0, client_cpu_pct = 0;  // this process, % of one core
  // Quantiles 0,1,..,100 % of TTFT and E2E for the CDF plots.
  std::vector<double> ttft_cdf, e2e_cdf;
};

PointReport aggregate(const std::vector<RequestRecord>& records, double duration_s, const Slo& slo,
                      const Prices& prices);

}  // namespace tern::bench
