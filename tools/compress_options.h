// Prompt-compression options shared by `tern compress` and `tern
// bench-compress`, declared once: flag, default, help.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "compress/compressor.h"

namespace tern::cli {

// The options every compression client spells the same (CLI, bench).
inline void add_compress_options(CLI::App& app, compress::CompressOptions& o, std::vector<std::string>& no_protect) {
  app.add_option("-r,--ratio", o.ratio, "target compression ratio: tokens before / after (>= 1)")
      ->check(CLI::Range(1.0, 1000.0))
      ->capture_default_str();
  app.add_option("--target-tokens", o.target_tokens, "token budget of the output (overrides --ratio)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("!--no-coarse", o.coarse, "no segment-level selection");
  app.add_flag("!--no-fine", o.fine, "no word-level pruning");
  app.add_flag("--iterative", o.iterative,
               "re-score each fine window conditioned on the compressed prefix (LLMLingua's iterative mode; ~1.5x the model work)");
  app.add_option("--condition-tokens", o.condition_tokens,
                 "--iterative: compressed-prefix tokens each window is conditioned on")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();
  app.add_option("--window-tokens", o.window_tokens, "tokens per scoring call and fine-level window (0: the model's context)")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();
  app.add_option("--force", o.protect.force, "a string never to drop (repeatable)");
  app.add_option("--no-protect", no_protect, "span kinds not to protect: code json url quoted number identifier")
      ->check(CLI::IsMember({"code", "json", "url", "quoted", "number", "identifier"}));
}

inline void apply_no_protect(const std::vector<std::string>& kinds, compress::SpanOptions& p) {
  for (const std::string& k : kinds) {
    if (k == "code") p.code = false;
    if (k == "json") p.json = false;
    if (k == "url") p.urls = false;
    if (k == "quoted") p.quoted = false;
    if (k == "number") p.numbers = false;
    if (k == "identifier") p.identifiers = false;
  }
}

}  // namespace tern::cli
