// The benchmark report: a terminal table, JSON and CSV files, SVG plots.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "bench/stats.h"

namespace tern::bench {

void print_table(const std::vector<PointReport>& points, const Slo& slo, bool costs, FILE* out);
nlohmann::json point_json(const PointReport& p);
// {"tern_bench": 1, "config": ..., "points": [...]}
nlohmann::json report_json(const nlohmann::json& config, const std::vector<PointReport>& points);
std::string report_csv(const std::vector<PointReport>& points);

// Throughput against latency across the sweep (TTFT, TPOT, E2E at p50/p99).
std::string plot_throughput_latency(const std::vector<PointReport>& points, const std::string& title);
// Cumulative distributions of TTFT and E2E, one curve per sweep point.
std::string plot_latency_cdf(const std::vector<PointReport>& points, const std::string& title);

}  // namespace tern::bench
