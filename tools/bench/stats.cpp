#include "bench/stats.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdlib>

namespace tern::bench {

std::optional<double> RequestRecord::tpot_ms() const {
  if (output_tokens < 2 || ttft_ms < 0) return std::nullopt;
  return (e2e_ms - ttft_ms) / static_cast<double>(output_tokens - 1);
}

double percentile_sorted(const std::vector<double>& s, double p) {
  assert(!s.empty() && p >= 0 && p <= 100);
  double rank = p / 100.0 * static_cast<double>(s.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(rank));
  size_t hi = std::min(lo + 1, s.size() - 1);
  double frac = rank - static_cast<double>(lo);
  return s[lo] + (s[hi] - s[lo]) * frac;
}

Summary summarize(std::vector<double> v) {
  Summary s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  double ss = 0;
  for (double x : v) ss += (x - s.mean) * (x - s.mean);
  s.stddev = v.size() > 1 ? std::sqrt(ss / static_cast<double>(v.size() - 1)) : 0;
  s.min = v.front();
  s.max = v.back();
  s.p50 = percentile_sorted(v, 50);
  s.p90 = percentile_sorted(v, 90);
  s.p95 = percentile_sorted(v, 95);
  s.p99 = percentile_sorted(v, 99);
  return s;
}

bool Slo::met(const RequestRecord& r) const {
  if (!r.ok()) return false;
  if (ttft_ms && (r.ttft_ms < 0 || r.ttft_ms > *ttft_ms)) return false;
  if (e2e_ms && r.e2e_ms > *e2e_ms) return false;
  if (tpot_ms) {
    auto t = r.tpot_ms();
    if (t && *t > *tpot_ms) return false;  // a one-token answer has no TPOT to miss
  }
  if (itl_ms)
    for (double g : r.itl_ms)
      if (g > *itl_ms) return false;
  return true;
}

std::optional<Slo> parse_slo(const std::string& text, std::string* error) {
  Slo slo;
  size_t i = 0;
  while (i < text.size()) {
    size_t comma = text.find(',', i);
    std::string item = text.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
    i = comma == std::string::npos ? text.size() : comma + 1;
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string::npos) {
      *error = "SLO item '" + item + "' is not name=value";
      return std::nullopt;
    }
    std::string name = item.substr(0, eq), val = item.substr(eq + 1);
    char* end = nullptr;
    double x = std::strtod(val.c_str(), &end);
    std::string unit = end ? std::string(end) : "";
    if (end == val.c_str() || !(x > 0)) {
      *error = "SLO '" + name + "' needs a positive number, got '" + val + "'";
      return std::nullopt;
    }
    if (unit == "s") x *= 1000;
    else if (unit == "us") x /= 1000;
    else if (!unit.empty() && unit != "ms") {
      *error = "SLO '" + name + "': unknown unit '" + unit + "' (us, ms, s)";
      return std::nullopt;
    }
    if (name == "ttft") slo.ttft_ms = x;
    else if (name == "tpot") slo.tpot_ms = x;
    else if (name == "e2e" || name == "e2el") slo.e2e_ms = x;
    else if (name == "itl") slo.itl_ms = x;
    else {
      *error = "unknown SLO '" + name + "' (ttft, tpot, itl, e2e)";
      return std::nullopt;
    }
  }
  return slo;
}

double Prices::cost(const RequestRecord& r) const {
  double cached_price = cached.value_or(in);
  double uncached = static_cast<double>(r.prompt_tokens - r.cached_tokens);
  return (uncached * in + static_cast<double>(r.cached_tokens) * cached_price +
          static_cast<double>(r.output_tokens) * out) / 1e6;
}

static std::vector<double> quantiles(std::vector<double> v) {
  std::vector<double> q;
  if (v.empty()) return q;
  std::sort(v.begin(), v.end());
  for (int p = 0; p <= 100; ++p) q.push_back(percentile_sorted(v, p));
  return q;
}

PointReport aggregate(const std::vector<RequestRecord>& records, double duration_s, const Slo& slo,
                      const Prices& prices) {
  PointReport p;
  p.requests = records.size();
  p.duration_s = duration_s;
  std::vector<double> ttft, itl, tpot, e2e;
  for (const auto& r : records) {
    if (!r.ok()) {
      ++p.failed;
      ++p.errors[r.error];
      if (!r.error_detail.empty()) p.error_examples.emplace(r.error, r.error_detail.substr(0, 300));
      continue;
    }
    ++p.succeeded;
    p.prompt_tokens += r.prompt_tokens;
    p.output_tokens += r.output_tokens;
    p.cached_tokens += r.cached_tokens;
    if (r.ttft_ms >= 0) ttft.push_back(r.ttft_ms);
    e2e.push_back(r.e2e_ms);
    itl.insert(itl.end(), r.itl_ms.begin(), r.itl_ms.end());
    if (auto t = r.tpot_ms()) tpot.push_back(*t);
    if (slo.met(r)) ++p.slo_met;
    p.cost_total += prices.cost(r);
  }
  if (duration_s > 0) {
    p.request_throughput = static_cast<double>(p.succeeded) / duration_s;
    p.output_throughput = static_cast<double>(p.output_tokens) / duration_s;
    p.input_throughput = static_cast<double>(p.prompt_tokens) / duration_s;
    p.goodput = static_cast<double>(p.slo_met) / duration_s;
  }
  if (p.prompt_tokens > 0)
    p.cached_share = static_cast<double>(p.cached_tokens) / static_cast<double>(p.prompt_tokens);
  if (p.succeeded > 0) p.cost_per_request = p.cost_total / static_cast<double>(p.succeeded);
  p.ttft_cdf = quantiles(ttft);
  p.e2e_cdf = quantiles(e2e);
  p.ttft = summarize(std::move(ttft));
  p.itl = summarize(std::move(itl));
  p.tpot = summarize(std::move(tpot));
  p.e2e = summarize(std::move(e2e));
  return p;
}

}  // namespace tern::bench
