// Engine options shared by subcommands that load a model (run, serve,
// bench-engine), declared once: flag, default, help.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "tern/engine.h"

namespace tern::cli {

// Parses sizes such as "512M", "2G", "1048576".
inline bool parse_size(const std::string& s, int64_t& out) {
  if (s.empty()) return false;
  size_t idx = 0;
  double v = 0;
  try {
    v = std::stod(s, &idx);
  } catch (...) {
    return false;
  }
  std::string suf = s.substr(idx);
  double mul = 1;
  if (suf == "K" || suf == "KiB" || suf == "k") mul = 1024.0;
  else if (suf == "M" || suf == "MiB") mul = 1024.0 * 1024;
  else if (suf == "G" || suf == "GiB") mul = 1024.0 * 1024 * 1024;
  else if (!suf.empty()) return false;
  if (v < 0) return false;
  out = static_cast<int64_t>(v * mul);
  return true;
}

struct EngineFlags {
  std::string kv_memory;
  std::string kv_type = "f16";
  std::string spec;        // speculative method name ("" : off, or draft-model when --draft-model is given)
  std::string skip_layers; // self-speculation: "2,3"
};

inline void add_engine_options(CLI::App& app, EngineOptions& o, EngineFlags& f, bool require_model = true) {
  auto* m = app.add_option("-m,--model", o.model_path, "GGUF model file");
  if (require_model) m->required();
  app.add_option("-t,--threads", o.threads, "compute threads (0: all cores)")->capture_default_str();
  app.add_option("-c,--ctx-size", o.n_ctx, "max tokens per sequence (0: the model's, capped at 8192)")
      ->capture_default_str();
  app.add_option("--kv-memory", f.kv_memory, "KV cache size, e.g. 512M (default: sized from ctx and batch)");
  app.add_option("--kv-type", f.kv_type, "KV cache element type: f16 or f32")
      ->check(CLI::IsMember({"f16", "f32"}))
      ->capture_default_str();
  app.add_option("--block-size", o.block_size, "tokens per KV block")->check(CLI::Range(1, 1024))->capture_default_str();
  app.add_option("--max-batch-tokens", o.max_batch_tokens, "tokens per engine step")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--max-seqs", o.max_num_seqs, "sequences running at once")->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_flag("!--no-prefix-cache", o.prefix_caching, "disable automatic prefix caching");
  // Speculative decoding (docs/speculative.md).
  SpeculativeOptions& s = o.speculative;
  app.add_option("--spec", f.spec, "speculative decoding: off, ngram, draft-model or self-spec (default: off, "
                                   "draft-model when --draft-model is given)")
      ->check(CLI::IsMember({"off", "ngram", "draft-model", "self-spec"}));
  app.add_option("--draft-model", s.draft_model_path, "draft GGUF for speculative decoding (same vocabulary as -m)");
  app.add_option("--draft-max", s.max_draft_tokens, "most draft tokens per sequence and step")
      ->check(CLI::Range(1, 32))
      ->capture_default_str();
  app.add_flag("!--spec-fixed", s.adaptive,
               "always draft --draft-max tokens instead of adapting the draft length to acceptance and batch size");
  app.add_option("--spec-ngram-max", s.ngram_max, "longest n-gram prompt lookup matches")->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--spec-skip-layers", f.skip_layers,
                 "self-speculation: layers to skip, e.g. 2,3 (default: chosen from measured acceptance)");
}

// Applies the string-typed flags; returns an error message or "".
inline std::string finish_engine_options(EngineOptions& o, const EngineFlags& f) {
  if (!f.kv_memory.empty() && !parse_size(f.kv_memory, o.kv_memory_bytes))
    return "invalid --kv-memory '" + f.kv_memory + "' (use e.g. 512M or 2G)";
  o.kv_type = f.kv_type == "f32" ? KvCacheType::kF32 : KvCacheType::kF16;
  SpeculativeOptions& s = o.speculative;
  if (!f.spec.empty()) parse_spec_method(f.spec, &s.method);
  else if (!s.draft_model_path.empty()) s.method = SpecMethod::kDraftModel;
  if (s.ngram_min > s.ngram_max) s.ngram_min = s.ngram_max;
  s.self_spec_skip_layers.clear();
  for (size_t pos = 0; pos < f.skip_layers.size();) {
    size_t end = f.skip_layers.find(',', pos);
    if (end == std::string::npos) end = f.skip_layers.size();
    const std::string item = f.skip_layers.substr(pos, end - pos);
    try {
      size_t used = 0;
      s.self_spec_skip_layers.push_back(std::stoi(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (...) {
      return "invalid --spec-skip-layers '" + f.skip_layers + "' (use e.g. 2,3)";
    }
    pos = end + 1;
  }
  return "";
}

}  // namespace tern::cli
