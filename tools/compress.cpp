// tern compress — LLMLingua-style prompt compression with a small local
// model (docs/compression.md). Reads a file or stdin, writes the compressed
// prompt to stdout and one line of statistics to stderr (or everything as
// JSON with --json).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "compress/compressor.h"
#include "compress_options.h"
#include "input.h"

namespace tern::cli {

int compress_main(int argc, char** argv) {
  CLI::App app{"Compress a prompt: drop low-information words under a token budget, never a protected span",
               "tern compress"};
  std::string path = "-", instruction, question;
  EngineOptions eo;
  eo.threads = 2;
  compress::CompressOptions o;
  std::vector<std::string> no_protect;
  bool json_out = false;
  app.add_option("file", path, "text file ('-' or absent: stdin); blank lines separate segments");
  app.add_option("-m,--model", eo.model_path, "GGUF model that scores tokens (small: stories260K, SmolLM, Qwen2-0.5B)")
      ->required();
  app.add_option("-t,--threads", eo.threads, "compute threads")->capture_default_str();
  app.add_option("--instruction", instruction, "instruction kept verbatim before the text");
  app.add_option("--question", question, "question kept verbatim after the text");
  add_compress_options(app, o, no_protect);
  app.add_flag("--json", json_out, "write {text, tokens_before, tokens_after, ratio, ms, ...} as JSON");
  CLI11_PARSE(app, argc, argv);
  apply_no_protect(no_protect, o.protect);

  std::string text;
  if (!read_input(path, text)) {
    std::fprintf(stderr, "tern compress: %s: cannot open\n", path.c_str());
    return 1;
  }
  auto engine = Engine::create(eo);
  if (!engine.ok()) {
    std::fprintf(stderr, "tern compress: %s\n", engine.status().message().c_str());
    return 1;
  }
  compress::EngineScorer scorer(**engine);
  compress::Compressor compressor(scorer);
  std::vector<compress::Segment> segments;
  if (!instruction.empty()) segments.push_back({instruction, compress::Role::kInstruction});
  for (auto& s : compress::split_segments(text)) segments.push_back(std::move(s));
  if (!question.empty()) segments.push_back({question, compress::Role::kQuestion});
  auto r = compressor.compress(segments, o);
  if (!r.ok()) {
    std::fprintf(stderr, "tern compress: %s\n", r.status().message().c_str());
    return 1;
  }
  if (json_out) {
    nlohmann::json j = {{"text", r->text},
                        {"tokens_before", r->tokens_before},
                        {"tokens_after", r->tokens_after},
                        {"budget", r->budget},
                        {"ratio", r->ratio()},
                        {"unchanged", r->unchanged},
                        {"protected_tokens", r->protected_tokens},
                        {"protected_spans", r->protected_spans},
                        {"model_calls", r->model_calls},
                        {"scored_tokens", r->scored_tokens},
                        {"ms", r->ms}};
    nlohmann::json segs = nlohmann::json::array();
    for (const auto& s : r->segments)
      segs.push_back({{"role", compress::role_name(s.role)},
                      {"tokens_before", s.tokens_before},
                      {"tokens_after", s.tokens_after},
                      {"dropped", s.dropped}});
    j["segments"] = segs;
    std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }
  std::printf("%s\n", r->text.c_str());
  std::fflush(stdout);  // the text first, then the statistics line
  std::fprintf(stderr, "tern compress: %lld -> %lld tokens (%.2fx, budget %lld, %lld protected), %.2f ms, %d model calls%s\n",
               static_cast<long long>(r->tokens_before), static_cast<long long>(r->tokens_after), r->ratio(),
               static_cast<long long>(r->budget), static_cast<long long>(r->protected_tokens), r->ms, r->model_calls,
               r->unchanged ? "; nothing to drop, the input is returned as given" : "");
  return 0;
}

}  // namespace tern::cli
