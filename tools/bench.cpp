// tern bench — load generator and benchmark report for any OpenAI-compatible
// server (tern, llama.cpp's server, vLLM, ...). See docs/benchmarks.md.
//   tern bench --url http://127.0.0.1:8080 --concurrency 1,4,16 --json r.json
//   tern bench gen-trace --sessions 32 -o trace.jsonl
// The pieces live in tools/bench/: client (HTTP), sse, response (metrics of
// one response), workload (sources), runner (load modes), stats, report.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include "bench/report.h"
#include "bench/runner.h"
#include "bench/trace.h"
#include "bench/workload.h"
#include "commands.h"

namespace tern::cli {

namespace {

using namespace tern::bench;
using nlohmann::json;

template <class T>
bool parse_list(const std::string& text, std::vector<T>* out) {
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    char* end = nullptr;
    double v = std::strtod(item.c_str(), &end);
    if (*end || !(v > 0)) return false;
    out->push_back(static_cast<T>(v));
  }
  return !out->empty();
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  if (!f) {
    std::fprintf(stderr, "tern bench: cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

int gen_trace_main(int argc, char** argv) {
  CLI::App app{"generate a synthetic agent trace (JSONL, one session per line)", "tern bench gen-trace"};
  GenTraceOptions o;
  std::string out;
  app.add_option("-o,--output", out, "output file [default: stdout]");
  app.add_option("--sessions", o.sessions, "sessions")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--min-turns", o.min_turns, "fewest turns per session")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--max-turns", o.max_turns, "most turns per session")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--system-words", o.system_words, "words of the shared system prompt")->capture_default_str();
  app.add_option("--tools", o.tools, "tool definitions (0-8), shared")->capture_default_str()->check(CLI::Range(0, 8));
  app.add_option("--user-words", o.user_words, "words of the first user message (+-50%)")->capture_default_str();
  app.add_option("--tool-result-items", o.tool_result_items, "entries per JSON tool result (+-50%)")->capture_default_str();
  app.add_option("--tool-call-tokens", o.tool_call_tokens, "output tokens of tool-calling turns (+-50%)")->capture_default_str();
  app.add_option("--answer-tokens", o.answer_tokens, "output tokens of the final turn (+-50%)")->capture_default_str();
  app.add_option("--delay-ms", o.delay_ms, "tool latency before each tool-result turn")->capture_default_str();
  app.add_option("--seed", o.seed, "random seed")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (o.max_turns < o.min_turns) o.max_turns = o.min_turns;
  std::string text;
  for (const auto& s : generate_trace(o)) text += session_to_json(s).dump() + "\n";
  if (out.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  return write_file(out, text) ? 0 : 1;
}

}  // namespace

int bench_main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "gen-trace") return gen_trace_main(argc - 1, argv + 1);

  CLI::App app{"load generator and benchmark report for an OpenAI-compatible server\n"
               "  (subcommand: tern bench gen-trace --help)", "tern bench"};
  RunOptions o;
  std::string url, endpoint = "chat", conc = "1", rates, arrival = "poisson", input_len = "128",
                   output_len = "128", prompts, trace, slo_text, json_path, csv_path, svg_prefix, title,
                   extra_body;
  double price_in = 0, price_out = 0, price_cached = -1, temperature = -1;
  bool no_stream = false, no_ignore_eos = false, quiet = false;
  const char* key_env = std::getenv("OPENAI_API_KEY");
  if (key_env) o.api_key = key_env;
  app.add_option("--url", url, "server root, e.g. http://127.0.0.1:8080 (or .../v1, or a full endpoint path)")->required();
  app.add_option("--model", o.body.model, "model id sent in requests [default: none; vLLM needs one]");
  app.add_option("--api-key", o.api_key, "bearer token [default: $OPENAI_API_KEY]");
  app.add_option("--endpoint", endpoint, "chat or completions")->capture_default_str()->check(CLI::IsMember({"chat", "completions"}));
  app.add_flag("--no-stream", no_stream, "non-streamed requests (TTFT = E2E)");
  app.add_flag("--no-ignore-eos", no_ignore_eos, "do not send ignore_eos (outputs may end early)");
  app.add_option("--temperature", temperature, "sampling temperature [default: the server's]");
  app.add_option("--extra-body", extra_body, "JSON object merged into every request body");
  app.add_option("-c,--concurrency", conc, "closed loop: requests in flight, a list sweeps (1,4,16)")->capture_default_str();
  app.add_option("-r,--rate", rates, "open loop instead: arrivals per second, a list sweeps (2,5,10)");
  app.add_option("--arrival", arrival, "open-loop arrivals: poisson or constant")->capture_default_str()->check(CLI::IsMember({"poisson", "constant"}));
  app.add_option("--max-inflight", o.max_inflight, "open loop: drop arrivals beyond this many in flight (0: no cap)")->capture_default_str();
  app.add_option("-n,--requests", o.requests, "measured requests per point [default: 50 unless --duration]");
  app.add_option("-d,--duration", o.duration_s, "measured seconds per point (no new requests after it)");
  app.add_option("--warmup", o.warmup, "warm-up requests per point, excluded")->capture_default_str();
  app.add_option("--timeout", o.timeout_s, "seconds per request")->capture_default_str();
  app.add_option("--input-len", input_len, "synthetic prompt length in words: N, uniform:A,B, normal:M,S")->capture_default_str();
  app.add_option("--output-len", output_len, "output tokens (max_tokens + ignore_eos): N, uniform:A,B, normal:M,S")->capture_default_str();
  app.add_option("--prompts", prompts, "prompt file: one per line, text or {\"prompt\"|\"messages\",\"max_tokens\"}");
  app.add_option("--trace", trace, "agent trace to replay (JSONL sessions, docs/benchmarks.md)");
  app.add_option("--slo", slo_text, "goodput objectives, e.g. ttft=200ms,tpot=50ms,e2e=2s,itl=100ms");
  app.add_option("--price-in", price_in, "USD per 1M prompt tokens");
  app.add_option("--price-out", price_out, "USD per 1M output tokens");
  app.add_option("--price-cached", price_cached, "USD per 1M cached prompt tokens [default: --price-in]");
  app.add_option("--json", json_path, "write the report as JSON");
  app.add_option("--csv", csv_path, "write one CSV row per sweep point");
  app.add_option("--svg", svg_prefix, "write PREFIX-throughput.svg and PREFIX-cdf.svg");
  app.add_option("--title", title, "title of the plots [default: the URL]");
  app.add_option("--seed", o.seed, "random seed")->capture_default_str();
  app.add_flag("-q,--quiet", quiet, "no live progress line");
  CLI11_PARSE(app, argc, argv);

  auto fail = [](const std::string& m) {
    std::fprintf(stderr, "tern bench: %s\n", m.c_str());
    return 2;
  };
  std::string err;
  if (!parse_url(url, &o.url, &err)) return fail(err);
  o.body.chat = endpoint == "chat";
  std::string path = o.url.path;
  if (path.size() >= 12 && path.compare(path.size() - 12, 12, "/completions") == 0) {
    o.target = path;  // a full endpoint path
    o.body.chat = path.find("/chat/") != std::string::npos;
  } else {
    if (path.empty()) path = "/v1";
    o.target = path + (o.body.chat ? "/chat/completions" : "/completions");
  }
  o.body.stream = !no_stream;
  o.body.ignore_eos = !no_ignore_eos;
  if (temperature >= 0) o.body.has_temperature = true, o.body.temperature = temperature;
  if (!extra_body.empty()) {
    o.body.extra = json::parse(extra_body, nullptr, false);
    if (o.body.extra.is_discarded() || !o.body.extra.is_object()) return fail("--extra-body must be a JSON object");
  }
  o.progress = !quiet;
  if (o.requests <= 0 && o.duration_s <= 0) o.requests = 50;

  Dist in, out;
  if (!parse_dist(input_len, &in, &err) || !parse_dist(output_len, &out, &err)) return fail(err);
  Workload w;
  if (!trace.empty()) {
    if (!o.body.chat) return fail("--trace needs --endpoint chat");
    std::vector<Session> sessions;
    if (!load_trace(trace, &sessions, &err)) return fail(err);
    w = Workload::trace(std::move(sessions));
  } else if (!prompts.empty()) {
    if (!Workload::from_file(prompts, out, o.body.chat, &w, &err)) return fail(err);
  } else {
    w = Workload::synthetic(in, out, o.body.chat);
  }
  Slo slo;
  if (!slo_text.empty()) {
    auto s = parse_slo(slo_text, &err);
    if (!s) return fail(err);
    slo = *s;
  }
  Prices prices{price_in, price_out, std::nullopt};
  if (price_cached >= 0) prices.cached = price_cached;

  std::vector<LoadPoint> points;
  if (!rates.empty()) {
    std::vector<double> rs;
    if (!parse_list(rates, &rs)) return fail("--rate needs positive numbers, e.g. 2,5,10");
    for (double r : rs) {
      LoadPoint p;
      p.mode = arrival == "poisson" ? LoadPoint::kPoisson : LoadPoint::kConstant;
      p.rate = r;
      points.push_back(p);
    }
  } else {
    std::vector<int> cs;
    if (!parse_list(conc, &cs)) return fail("--concurrency needs positive integers, e.g. 1,4,16");
    for (int c : cs) {
      LoadPoint p;
      p.concurrency = c;
      points.push_back(p);
    }
  }

  std::fprintf(stderr, "tern bench: %s%s, %s, %zu point(s), %s\n", url.c_str(), o.target.c_str(),
               w.describe().c_str(), points.size(), o.body.stream ? "streamed" : "not streamed");
  std::vector<PointReport> reports;
  for (const auto& lp : points) {
    PointRun run = run_point(o, w, lp);
    PointReport r = aggregate(run.records, run.duration_s, slo, prices);
    r.label = lp.label();
    r.mode = lp.mode_name();
    r.concurrency = lp.concurrency;
    r.rate = lp.rate;
    r.client_cpu_s = run.cpu_s;
    r.dropped = run.dropped;
    r.client_cpu_pct = run.duration_s > 0 ? 100 * run.cpu_s / run.duration_s : 0;
    std::fprintf(stderr, "  %-12s %zu ok, %zu failed, %.2f req/s, %.1f output tok/s, %zu connection(s)%s\n",
                 r.label.c_str(), r.succeeded, r.failed, r.request_throughput, r.output_throughput, run.connections,
                 run.dropped ? (", " + std::to_string(run.dropped) + " arrivals dropped").c_str() : "");
    reports.push_back(std::move(r));
  }
  print_table(reports, slo, prices.any(), stdout);

  json config = {{"url", url},
                 {"target", o.target},
                 {"endpoint", o.body.chat ? "chat" : "completions"},
                 {"model", o.body.model},
                 {"stream", o.body.stream},
                 {"ignore_eos", o.body.ignore_eos},
                 {"source", w.describe()},
                 {"warmup", o.warmup},
                 {"requests", o.requests},
                 {"duration_s", o.duration_s},
                 {"timeout_s", o.timeout_s},
                 {"seed", o.seed},
                 {"slo", slo_text},
                 {"price_in", price_in},
                 {"price_out", price_out},
                 {"time", static_cast<int64_t>(std::time(nullptr))}};
  if (!trace.empty()) config["trace"] = trace;
  if (!prompts.empty()) config["prompts"] = prompts;
  if (w.is_trace() == false && prompts.empty()) config["input_len"] = in.str(), config["output_len"] = out.str();
  bool ok = true;
  if (!json_path.empty()) ok &= write_file(json_path, report_json(config, reports).dump(2) + "\n");
  if (!csv_path.empty()) ok &= write_file(csv_path, report_csv(reports));
  if (!svg_prefix.empty()) {
    std::string t = title.empty() ? url : title;
    ok &= write_file(svg_prefix + "-throughput.svg", plot_throughput_latency(reports, t));
    ok &= write_file(svg_prefix + "-cdf.svg", plot_latency_cdf(reports, t));
  }
  size_t succeeded = 0;
  for (const auto& r : reports) succeeded += r.succeeded;
  if (succeeded == 0) return fail("no request succeeded");
  return ok ? 0 : 1;
}

}  // namespace tern::cli
