// SVG plots of a report, self-contained (no scripts, no fonts beyond
// sans-serif), readable in any browser or image viewer.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/report.h"

namespace tern::bench {

namespace {

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"};

struct Series {
  std::string name;
  std::vector<double> x, y;
  std::vector<std::string> labels;  // per point, may be empty
  std::string color;
  bool dashed = false, markers = true;
};

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else o += c;
  }
  return o;
}

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

double nice_step(double range) {
  if (range <= 0) return 1;
  double raw = range / 5, mag = std::pow(10, std::floor(std::log10(raw))), r = raw / mag;
  return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
}

std::string tick_label(double v, double step) {
  if (step >= 1) return fmt("%.0f", v);
  if (step >= 0.1) return fmt("%.1f", v);
  if (step >= 0.01) return fmt("%.2f", v);
  return fmt("%g", v);
}

// One panel: axes from 0 (or the data's minimum for x when zero_x is false).
std::string panel(double px, double py, double w, double h, const std::string& title, const std::string& xl,
                  const std::string& yl, const std::vector<Series>& series, bool zero_x, double ymax_fixed = 0,
                  bool legend_bottom_right = false) {
  double xmin = zero_x ? 0 : 1e300, xmax = 0, ymax = 0;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size(); ++i) {
      xmin = std::min(xmin, s.x[i]);
      xmax = std::max(xmax, s.x[i]);
      ymax = std::max(ymax, s.y[i]);
    }
  if (xmin > xmax) xmin = 0, xmax = 1;
  if (ymax_fixed > 0) ymax = ymax_fixed;
  double xstep = nice_step(xmax - xmin), ystep = nice_step(ymax);
  xmin = std::floor(xmin / xstep) * xstep;
  xmax = std::max(xmin + xstep, std::ceil(xmax * 1.05 / xstep) * xstep);
  ymax = ymax_fixed > 0 ? ymax : std::max(ystep, std::ceil(ymax * 1.08 / ystep) * ystep);
  const double l = px + 62, r = px + w - 12, t = py + 34, b = py + h - 46;
  auto X = [&](double v) { return l + (v - xmin) / (xmax - xmin) * (r - l); };
  auto Y = [&](double v) { return b - v / ymax * (b - t); };
  std::string o;
  o += "<g font-family=\"sans-serif\" font-size=\"11\">\n";
  o += "<text x=\"" + fmt("%.1f", (l + r) / 2) + "\" y=\"" + fmt("%.1f", py + 20) +
       "\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">" + esc(title) + "</text>\n";
  for (double v = 0; v <= ymax + ystep / 2; v += ystep) {
    o += "<line x1=\"" + fmt("%.1f", l) + "\" x2=\"" + fmt("%.1f", r) + "\" y1=\"" + fmt("%.1f", Y(v)) + "\" y2=\"" +
         fmt("%.1f", Y(v)) + "\" stroke=\"#e5e5e5\"/>\n";
    o += "<text x=\"" + fmt("%.1f", l - 5) + "\" y=\"" + fmt("%.1f", Y(v) + 4) + "\" text-anchor=\"end\">" +
         tick_label(v, ystep) + "</text>\n";
  }
  for (double v = xmin; v <= xmax + xstep / 2; v += xstep) {
    o += "<line x1=\"" + fmt("%.1f", X(v)) + "\" x2=\"" + fmt("%.1f", X(v)) + "\" y1=\"" + fmt("%.1f", t) + "\" y2=\"" +
         fmt("%.1f", b) + "\" stroke=\"#f0f0f0\"/>\n";
    o += "<text x=\"" + fmt("%.1f", X(v)) + "\" y=\"" + fmt("%.1f", b + 15) + "\" text-anchor=\"middle\">" +
         tick_label(v, xstep) + "</text>\n";
  }
  o += "<rect x=\"" + fmt("%.1f", l) + "\" y=\"" + fmt("%.1f", t) + "\" width=\"" + fmt("%.1f", r - l) +
       "\" height=\"" + fmt("%.1f", b - t) + "\" fill=\"none\" stroke=\"#333\"/>\n";
  o += "<text x=\"" + fmt("%.1f", (l + r) / 2) + "\" y=\"" + fmt("%.1f", b + 34) + "\" text-anchor=\"middle\">" +
       esc(xl) + "</text>\n";
  o += "<text transform=\"translate(" + fmt("%.1f", px + 16) + "," + fmt("%.1f", (t + b) / 2) +
       ") rotate(-90)\" text-anchor=\"middle\">" + esc(yl) + "</text>\n";
  for (const auto& s : series) {
    if (s.x.empty()) continue;
    std::string pts;
    for (size_t i = 0; i < s.x.size(); ++i) pts += fmt("%.1f", X(s.x[i])) + "," + fmt("%.1f", Y(s.y[i])) + " ";
    o += "<polyline fill=\"none\" stroke=\"" + s.color + "\" stroke-width=\"1.8\"" +
         (s.dashed ? " stroke-dasharray=\"5,3\"" : "") + " points=\"" + pts + "\"/>\n";
    if (s.markers)
      for (size_t i = 0; i < s.x.size(); ++i) {
        o += "<circle cx=\"" + fmt("%.1f", X(s.x[i])) + "\" cy=\"" + fmt("%.1f", Y(s.y[i])) + "\" r=\"3\" fill=\"" +
             s.color + "\"/>\n";
        if (i < s.labels.size() && !s.labels[i].empty())
          o += "<text x=\"" + fmt("%.1f", X(s.x[i]) + 5) + "\" y=\"" + fmt("%.1f", Y(s.y[i]) - 5) +
               "\" font-size=\"9\" fill=\"#555\">" + esc(s.labels[i]) + "</text>\n";
      }
  }
  double ly = legend_bottom_right ? b - 8 - 14.0 * static_cast<double>(series.size() - 1) : t + 8;
  const double lx = legend_bottom_right ? r - 110 : l + 8;
  o += "<rect x=\"" + fmt("%.1f", lx - 4) + "\" y=\"" + fmt("%.1f", ly - 8) + "\" width=\"100\" height=\"" +
       fmt("%.1f", 14.0 * static_cast<double>(series.size()) + 2) + "\" fill=\"white\" fill-opacity=\"0.85\"/>\n";
  for (const auto& s : series) {
    o += "<line x1=\"" + fmt("%.1f", lx) + "\" x2=\"" + fmt("%.1f", lx + 20) + "\" y1=\"" + fmt("%.1f", ly) +
         "\" y2=\"" + fmt("%.1f", ly) + "\" stroke=\"" + s.color + "\" stroke-width=\"2\"" +
         (s.dashed ? " stroke-dasharray=\"5,3\"" : "") + "/>\n";
    o += "<text x=\"" + fmt("%.1f", lx + 24) + "\" y=\"" + fmt("%.1f", ly + 4) + "\">" + esc(s.name) + "</text>\n";
    ly += 14;
  }
  o += "</g>\n";
  return o;
}

std::string svg(double w, double h, const std::string& body, const std::string& title) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt("%.0f", w) + "\" height=\"" + fmt("%.0f", h) +
         "\" viewBox=\"0 0 " + fmt("%.0f", w) + " " + fmt("%.0f", h) + "\">\n<title>" + esc(title) +
         "</title>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"10\" y=\"18\" "
         "font-family=\"sans-serif\" font-size=\"12\" fill=\"#444\">" + esc(title) + "</text>\n" + body + "</svg>\n";
}

}  // namespace

std::string plot_throughput_latency(const std::vector<PointReport>& points, const std::string& title) {
  struct Metric {
    const char* name;
    const Summary PointReport::*m;
  };
  const Metric metrics[] = {{"TTFT (ms)", &PointReport::ttft}, {"TPOT (ms)", &PointReport::tpot},
                            {"E2E latency (ms)", &PointReport::e2e}};
  std::string body;
  const double pw = 400, ph = 320;
  for (int k = 0; k < 3; ++k) {
    Series p50{"p50", {}, {}, {}, kColors[0]}, p99{"p99", {}, {}, {}, kColors[1], true};
    for (const auto& p : points) {
      if (p.succeeded == 0) continue;
      const Summary& s = p.*(metrics[k].m);
      p50.x.push_back(p.output_throughput);
      p50.y.push_back(s.p50);
      p50.labels.push_back(p.label);
      p99.x.push_back(p.output_throughput);
      p99.y.push_back(s.p99);
    }
    body += panel(k * pw, 24, pw, ph, metrics[k].name, "output tokens/s", metrics[k].name, {p50, p99}, false);
  }
  return svg(3 * pw, ph + 30, body, title + " — latency against throughput across the sweep");
}

std::string plot_latency_cdf(const std::vector<PointReport>& points, const std::string& title) {
  std::string body;
  const double pw = 520, ph = 340;
  for (int k = 0; k < 2; ++k) {
    std::vector<Series> ss;
    int c = 0;
    for (const auto& p : points) {
      const auto& q = k == 0 ? p.ttft_cdf : p.e2e_cdf;
      Series s{p.label, {}, {}, {}, kColors[c++ % 8]};
      s.markers = false;
      for (size_t i = 0; i < q.size(); ++i) {
        s.x.push_back(q[i]);
        s.y.push_back(static_cast<double>(i) / 100.0);
      }
      ss.push_back(std::move(s));
    }
    body += panel(k * pw, 24, pw, ph, k == 0 ? "TTFT distribution" : "E2E latency distribution",
                  k == 0 ? "TTFT (ms)" : "E2E latency (ms)", "fraction of requests", ss, true, 1.0, true);
  }
  return svg(2 * pw, ph + 30, body, title + " — cumulative latency distributions");
}

}  // namespace tern::bench
