// Minimal Prometheus text exposition (format 0.0.4): counters, gauges and
// cumulative histograms. Thread-safe observation; render() appends
// "# HELP", "# TYPE" and the samples of one metric family.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace tern::server {

// `labels` arguments are pre-rendered, e.g. model_name="stories260K" (no braces).
void append_family_header(std::string& out, const std::string& name, const std::string& help, const char* type);
void append_sample(std::string& out, const std::string& name, const std::string& labels, double value);
// A label value escaped per the format (\\, \", \n).
std::string escape_label(const std::string& v);

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);  // ascending; +Inf is implicit
  void observe(double v);
  // Appends name_bucket{le=...}, name_sum and name_count.
  void render(std::string& out, const std::string& name, const std::string& help, const std::string& labels) const;
  uint64_t count() const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> buckets_;  // per bound, not cumulative; last: +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Counter {
 public:
  void add(double v = 1);
  double value() const;

 private:
  mutable std::mutex mu_;
  double value_ = 0;
};

}  // namespace tern::server
