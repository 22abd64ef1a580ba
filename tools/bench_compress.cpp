// tern bench-compress — token savings, speed and fact retention of tern's
// compression techniques over a corpus of agent-like prompts
// (bench/data/compress/corpus.jsonl; docs/compression.md).
//
// Per prompt and technique: tokens before and after, compression time per
// 1,000 tokens, and how many of the prompt's listed facts (and of the
// protected spans found) survive. Techniques: prompt compression at each
// --ratios value; the TOON stage on JSON segments (against pretty and
// minified JSON); context compaction of chats with the prompt compressor as
// an extractive summariser. Writes a Markdown report to stdout and, with
// --json, the raw rows.
#include <CLI/CLI.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.h"
#include "compact/compactor.h"
#include "compress/compressor.h"
#include "compress_options.h"
#include "toon/stage.h"

namespace tern::cli {

namespace {

using json = nlohmann::json;

struct Row {
  std::string id, kind, technique;
  int64_t before = 0, after = 0;
  double ms = 0;
  int facts = 0, facts_kept = 0, spans = 0, spans_kept = 0;
  double cpu_ms = 0;  // process CPU time of the run (compression rows)
};

double ms_per_1k(const Row& r) { return r.before > 0 ? r.ms * 1000.0 / static_cast<double>(r.before) : 0.0; }

// CPU time of the whole process (every engine thread), in ms: on a shared
// machine wall time depends on the load, CPU time much less.
double cpu_ms() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

int count_kept(const std::string& text, const std::vector<std::string>& items) {
  int n = 0;
  for (const auto& s : items) n += text.find(s) != std::string::npos;
  return n;
}

}  // namespace

int bench_compress_main(int argc, char** argv) {
  CLI::App app{"Benchmark prompt compression, TOON and compaction over a corpus of agent-like prompts",
               "tern bench-compress"};
  std::string corpus = "bench/data/compress/corpus.jsonl", json_path;
  EngineOptions eo;
  eo.threads = 2;
  std::vector<double> ratios = {2.0, 3.0, 4.0};
  int repeat = 3;
  compress::CompressOptions base;
  std::vector<std::string> no_protect;
  app.add_option("corpus", corpus, "JSONL corpus (one prompt per line)")->capture_default_str();
  app.add_option("-m,--model", eo.model_path, "GGUF model that scores tokens")->required();
  app.add_option("-t,--threads", eo.threads, "compute threads")->capture_default_str();
  app.add_option("--ratios", ratios, "compression ratios to measure")->capture_default_str();
  app.add_option("--repeat", repeat, "timed runs per prompt and ratio (the fastest counts)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--json", json_path, "also write the rows as JSON to this file");
  add_compress_options(app, base, no_protect);
  CLI11_PARSE(app, argc, argv);
  apply_no_protect(no_protect, base.protect);

  std::ifstream in(corpus);
  if (!in) {
    std::fprintf(stderr, "tern bench-compress: %s: cannot open\n", corpus.c_str());
    return 1;
  }
  std::vector<json> prompts;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("id") || !j.contains("context") || !j["context"].is_array()) {
      std::fprintf(stderr, "tern bench-compress: %s:%d: not a corpus entry (needs id and a context array)\n",
                   corpus.c_str(), n);
      return 1;
    }
    prompts.push_back(std::move(j));
  }
  auto engine = Engine::create(eo);
  if (!engine.ok()) {
    std::fprintf(stderr, "tern bench-compress: %s\n", engine.status().message().c_str());
    return 1;
  }
  compress::EngineScorer scorer(**engine);
  compress::Compressor compressor(scorer);
  auto count = [&](std::string_view s) { return scorer.tokenize(s).size(); };

  std::vector<Row> rows;
  for (const json& p : prompts) {
    const std::string id = p["id"], kind = p.value("kind", "");
    std::vector<std::string> facts;
    for (const auto& f : p.value("facts", json::array())) facts.push_back(f.get<std::string>());
    std::vector<compress::Segment> segs;
    if (p.contains("instruction")) segs.push_back({p["instruction"].get<std::string>(), compress::Role::kInstruction});
    for (const auto& c : p["context"]) segs.push_back({c.get<std::string>(), compress::Role::kContext});
    if (p.contains("question")) segs.push_back({p["question"].get<std::string>(), compress::Role::kQuestion});

    // Prompt compression at each ratio: the fastest of `repeat` runs.
    for (double ratio : ratios) {
      compress::CompressOptions o = base;
      o.ratio = ratio;
      Row row{id, kind, "compress " + std::to_string(ratio).substr(0, 3) + "x"};
      for (int k = 0; k < repeat; ++k) {
        const double c0 = cpu_ms();
        auto r = compressor.compress(segs, o);
        const double cpu = cpu_ms() - c0;
        if (!r.ok()) {
          std::fprintf(stderr, "tern bench-compress: %s: %s\n", id.c_str(), r.status().message().c_str());
          return 1;
        }
        if (k == 0 || r->ms < row.ms) row.ms = r->ms;
        if (k == 0 || cpu < row.cpu_ms) row.cpu_ms = cpu;
        row.before = r->tokens_before;
        row.after = r->tokens_after;
        row.facts = static_cast<int>(facts.size());
        row.facts_kept = count_kept(r->text, facts);
        row.spans = static_cast<int>(r->protected_spans.size());
        row.spans_kept = count_kept(r->text, r->protected_spans);
      }
      rows.push_back(row);
    }

    // TOON on JSON segments: pretty, minified, TOON, and what the stage sends.
    for (const auto& c : p["context"]) {
      const std::string text = c.get<std::string>();
      toon::Json value = toon::Json::parse(text, nullptr, false);
      if (value.is_discarded() || !(value.is_object() || value.is_array())) continue;
      const std::string pretty = value.dump(2), mini = value.dump(), t = toon::encode(value);
      const auto t0 = std::chrono::steady_clock::now();
      toon::StageStats st;
      const std::string staged = toon::rewrite_text(pretty, count, {}, &st);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      const int64_t np = static_cast<int64_t>(count(pretty)), nm = static_cast<int64_t>(count(mini)),
                    nt = static_cast<int64_t>(count(t)), ns = static_cast<int64_t>(count(staged));
      auto kept = [&](const std::string& s) { return count_kept(s, facts); };
      rows.push_back({id, kind, "json pretty", np, np, 0, (int)facts.size(), kept(pretty)});
      rows.push_back({id, kind, "json minified", np, nm, 0, (int)facts.size(), kept(mini)});
      rows.push_back({id, kind, "toon", np, nt, 0, (int)facts.size(), kept(t)});
      rows.push_back({id, kind, std::string("toon stage (") + (st.as_toon ? "toon" : "json") + ")", np, ns, ms,
                      (int)facts.size(), kept(staged)});
    }

    // Compaction of chats: the compressor at 4x is the (extractive) summariser.
    if (p.contains("messages")) {
      compact::CompactOptions co;
      const compact::Json messages = compact::Json::parse(p["messages"].dump());
      co.keep_recent = 4;
      co.instruction = "";  // the summariser is extractive: it compresses the transcript itself
      co.tool_output_tokens = 64;
      int64_t total = 0;
      {
        compact::Compactor probe(co, count, [](const std::string&, int64_t) -> Result<std::string> { return std::string(); });
        total = probe.count(messages);
      }
      co.context_tokens = total;  // as if the conversation filled its window
      co.trigger = 0.9;
      co.target = 0.4;
      compress::CompressOptions so = base;
      so.ratio = 4.0;
      compact::Compactor compactor(co, count, [&](const std::string& prompt, int64_t) -> Result<std::string> {
        TERN_ASSIGN_OR_RETURN(compress::CompressResult r, compressor.compress(prompt, so));
        return r.text;
      });
      const auto t0 = std::chrono::steady_clock::now();
      auto r = compactor.compact(messages);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (!r.ok()) {
        std::fprintf(stderr, "tern bench-compress: %s: compaction: %s\n", id.c_str(), r.status().message().c_str());
        return 1;
      }
      const std::string out = r->messages.dump();
      std::string all;
      for (const auto& m : r->messages) all += m.value("content", "") + "\n";
      rows.push_back({id, kind, "compaction", r->tokens_before, r->tokens_after, ms, (int)facts.size(),
                      count_kept(all, facts)});
    }
  }

  // Report.
  std::printf("# tern bench-compress\n\nmodel: %s (%d threads), corpus: %s (%zu prompts)\n\n", eo.model_path.c_str(),
              eo.threads, corpus.c_str(), prompts.size());
  std::printf("| prompt | kind | technique | tokens before | tokens after | saved | ms | ms / 1k tok | CPU ms / 1k tok | facts kept | spans kept |\n");
  std::printf("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const Row& r : rows) {
    const double saved = r.before > 0 ? 100.0 * (1.0 - static_cast<double>(r.after) / static_cast<double>(r.before)) : 0;
    std::printf("| %s | %s | %s | %lld | %lld | %.1f%% | %.2f | %.2f | %.2f | %d/%d | %s |\n", r.id.c_str(), r.kind.c_str(),
                r.technique.c_str(), static_cast<long long>(r.before), static_cast<long long>(r.after), saved, r.ms,
                ms_per_1k(r), r.before > 0 ? r.cpu_ms * 1000.0 / static_cast<double>(r.before) : 0.0, r.facts_kept, r.facts,
                r.spans ? (std::to_string(r.spans_kept) + "/" + std::to_string(r.spans)).c_str() : "-");
  }
  // Totals per technique.
  std::map<std::string, Row> sum;
  for (const Row& r : rows) {
    Row& s = sum[r.technique];
    s.technique = r.technique;
    s.before += r.before;
    s.after += r.after;
    s.ms += r.ms;
    s.facts += r.facts;
    s.facts_kept += r.facts_kept;
    s.spans += r.spans;
    s.spans_kept += r.spans_kept;
    s.cpu_ms += r.cpu_ms;
  }
  std::printf("\n## Totals per technique\n\n| technique | tokens before | tokens after | ratio | ms / 1k tok | CPU ms / 1k tok | facts kept | spans kept |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
  json out_rows = json::array();
  for (const auto& [name, s] : sum) {
    std::printf("| %s | %lld | %lld | %.2fx | %.2f | %.2f | %d/%d | %d/%d |\n", name.c_str(), static_cast<long long>(s.before),
                static_cast<long long>(s.after), s.after > 0 ? static_cast<double>(s.before) / s.after : 0.0,
                ms_per_1k(s), s.before > 0 ? s.cpu_ms * 1000.0 / static_cast<double>(s.before) : 0.0, s.facts_kept,
                s.facts, s.spans_kept, s.spans);
  }
  for (const Row& r : rows)
    out_rows.push_back({{"id", r.id}, {"kind", r.kind}, {"technique", r.technique}, {"tokens_before", r.before},
                        {"tokens_after", r.after}, {"ms", r.ms}, {"ms_per_1k_tokens", ms_per_1k(r)}, {"cpu_ms", r.cpu_ms},
                        {"facts", r.facts}, {"facts_kept", r.facts_kept}, {"spans", r.spans},
                        {"spans_kept", r.spans_kept}});
  if (!json_path.empty()) {
    std::ofstream f(json_path);
    if (!f) {
      std::fprintf(stderr, "tern bench-compress: %s: cannot write\n", json_path.c_str());
      return 1;
    }
    f << json{{"model", eo.model_path}, {"threads", eo.threads}, {"corpus", corpus}, {"rows", out_rows}}.dump(2) << "\n";
  }
  return 0;
}

}  // namespace tern::cli
