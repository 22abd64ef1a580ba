#include "bench/report.h"

#include <sstream>

namespace tern::bench {

using nlohmann::json;

void print_table(const std::vector<PointReport>& points, const Slo& slo, bool costs, FILE* out) {
  std::fprintf(out, "%-12s %6s %5s %8s %9s %8s %8s %8s %8s %8s %8s %8s %8s %6s %5s",
               "point", "ok", "err", "req/s", "out tok/s", "TTFT p50", "TTFT p99", "ITL p50", "ITL p99",
               "TPOT p50", "TPOT p99", "E2E p50", "E2E p99", "cached", "cpu%");
  if (slo.any()) std::fprintf(out, " %8s", "goodput");
  if (costs) std::fprintf(out, " %10s", "$/req");
  std::fprintf(out, "\n");
  for (const auto& p : points) {
    std::fprintf(out, "%-12s %6zu %5zu %8.2f %9.1f %8.1f %8.1f %8.2f %8.2f %8.2f %8.2f %8.1f %8.1f %5.1f%% %5.1f",
                 p.label.c_str(), p.succeeded, p.failed, p.request_throughput, p.output_throughput, p.ttft.p50,
                 p.ttft.p99, p.itl.p50, p.itl.p99, p.tpot.p50, p.tpot.p99, p.e2e.p50, p.e2e.p99,
                 100 * p.cached_share, p.client_cpu_pct);
    if (slo.any()) std::fprintf(out, " %8.2f", p.goodput);
    if (costs) std::fprintf(out, " %10.6f", p.cost_per_request);
    std::fprintf(out, "\n");
  }
  std::fprintf(out, "latencies in ms; goodput in requests/s meeting the SLO; cpu%%: this process, of one core\n");
  for (const auto& p : points)
    for (const auto& [kind, n] : p.errors) {
      auto ex = p.error_examples.find(kind);
      std::fprintf(out, "  %s: %zu x %s%s%s\n", p.label.c_str(), n, kind.c_str(),
                   ex == p.error_examples.end() ? "" : ": ", ex == p.error_examples.end() ? "" : ex->second.c_str());
    }
}

static json summary_json(const Summary& s) {
  return {{"n", s.n}, {"mean", s.mean}, {"std", s.stddev}, {"min", s.min}, {"p50", s.p50}, {"p90", s.p90},
          {"p95", s.p95}, {"p99", s.p99}, {"max", s.max}};
}

json point_json(const PointReport& p) {
  json j = {{"label", p.label},
            {"mode", p.mode},
            {"requests", p.requests},
            {"succeeded", p.succeeded},
            {"failed", p.failed},
            {"dropped", p.dropped},
            {"errors", p.errors},
            {"error_examples", p.error_examples},
            {"duration_s", p.duration_s},
            {"request_throughput", p.request_throughput},
            {"output_throughput", p.output_throughput},
            {"input_throughput", p.input_throughput},
            {"prompt_tokens", p.prompt_tokens},
            {"output_tokens", p.output_tokens},
            {"cached_tokens", p.cached_tokens},
            {"cached_share", p.cached_share},
            {"ttft_ms", summary_json(p.ttft)},
            {"itl_ms", summary_json(p.itl)},
            {"tpot_ms", summary_json(p.tpot)},
            {"e2e_ms", summary_json(p.e2e)},
            {"slo_met", p.slo_met},
            {"goodput", p.goodput},
            {"cost_per_request_usd", p.cost_per_request},
            {"cost_total_usd", p.cost_total},
            {"client_cpu_s", p.client_cpu_s},
            {"client_cpu_pct", p.client_cpu_pct},
            {"ttft_ms_quantiles", p.ttft_cdf},
            {"e2e_ms_quantiles", p.e2e_cdf}};
  if (p.mode == "closed") j["concurrency"] = p.concurrency;
  else j["rate"] = p.rate;
  return j;
}

json report_json(const json& config, const std::vector<PointReport>& points) {
  json pts = json::array();
  for (const auto& p : points) pts.push_back(point_json(p));
  return {{"tern_bench", 1}, {"config", config}, {"points", pts}};
}

std::string report_csv(const std::vector<PointReport>& points) {
  std::ostringstream o;
  o << "label,mode,concurrency,rate,requests,succeeded,failed,duration_s,request_throughput,output_throughput,"
       "input_throughput,prompt_tokens,output_tokens,cached_tokens,cached_share";
  for (const char* m : {"ttft_ms", "itl_ms", "tpot_ms", "e2e_ms"})
    for (const char* s : {"mean", "p50", "p90", "p95", "p99"}) o << "," << m << "_" << s;
  o << ",slo_met,goodput,cost_per_request_usd,client_cpu_pct,errors\n";
  for (const auto& p : points) {
    o << p.label << "," << p.mode << "," << p.concurrency << "," << p.rate << "," << p.requests << ","
      << p.succeeded << "," << p.failed << "," << p.duration_s << "," << p.request_throughput << ","
      << p.output_throughput << "," << p.input_throughput << "," << p.prompt_tokens << "," << p.output_tokens
      << "," << p.cached_tokens << "," << p.cached_share;
    for (const Summary* s : {&p.ttft, &p.itl, &p.tpot, &p.e2e})
      o << "," << s->mean << "," << s->p50 << "," << s->p90 << "," << s->p95 << "," << s->p99;
    o << "," << p.slo_met << "," << p.goodput << "," << p.cost_per_request << "," << p.client_cpu_pct << ",\"";
    bool first = true;
    for (const auto& [k, n] : p.errors) o << (first ? "" : ";") << k << "=" << n, first = false;
    o << "\"\n";
  }
  return o.str();
}

}  // namespace tern::bench
