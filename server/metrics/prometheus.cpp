#include "metrics/prometheus.h"

#include <cmath>
#include <cstdio>

namespace tern::server {

namespace {

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<int64_t>(v));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void append_family_header(std::string& out, const std::string& name, const std::string& help, const char* type) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void append_sample(std::string& out, const std::string& name, const std::string& labels, double value) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += " " + number(value) + "\n";
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), buckets_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  std::lock_guard<std::mutex> lock(mu_);
  buckets_[i]++;
  sum_ += v;
  count_++;
}

uint64_t Histogram::count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& help,
                       const std::string& labels) const {
  std::vector<uint64_t> buckets;
  double sum;
  uint64_t count;
  {
    std::lock_guard<std::mutex> lock(mu_);
    buckets = buckets_;
    sum = sum_;
    count = count_;
  }
  append_family_header(out, name, help, "histogram");
  std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += buckets[i];
    std::string le = i < bounds_.size() ? number(bounds_[i]) : "+Inf";
    append_sample(out, name + "_bucket", labels + sep + "le=\"" + le + "\"", static_cast<double>(cumulative));
  }
  append_sample(out, name + "_sum", labels, sum);
  append_sample(out, name + "_count", labels, static_cast<double>(count));
}

void Counter::add(double v) {
  std::lock_guard<std::mutex> lock(mu_);
  value_ += v;
}

double Counter::value() const {
  std::lock_guard<std::mutex> lock(mu_);
  return value_;
}

}  // namespace tern::server
