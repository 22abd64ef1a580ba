// Sampling and stop options shared by the generating subcommands (run, bench),
// declared once: flag, default (from SamplingParams), help.
#pragma once

#include <CLI/CLI.hpp>

#include "tern/types.h"

namespace tern::cli {

inline void add_sampling_options(CLI::App& app, SamplingParams& s, StopRules& stop) {
  app.add_option("-n,--n-predict", stop.max_tokens, "tokens to generate (-1: until EOS or the context is full)")
      ->capture_default_str();
  app.add_option("--temp", s.temperature, "temperature (0: greedy)")->capture_default_str();
  app.add_option("--top-k", s.top_k, "keep the k most likely tokens (0: off)")->capture_default_str();
  app.add_option("--top-p", s.top_p, "nucleus sampling threshold (1: off)")->capture_default_str();
  app.add_option("--min-p", s.min_p, "drop tokens below min_p x the top probability (0: off)")->capture_default_str();
  app.add_option("--repeat-penalty", s.repetition_penalty, "repetition penalty (1: off)")->capture_default_str();
  app.add_option("--presence-penalty", s.presence_penalty, "presence penalty (0: off)")->capture_default_str();
  app.add_option("--frequency-penalty", s.frequency_penalty, "frequency penalty (0: off)")->capture_default_str();
  app.add_option("--repeat-last-n", s.penalty_last_n, "tokens the penalties look back at (-1: all)")
      ->capture_default_str();
  app.add_option("-s,--seed", s.seed, "RNG seed (default: random)");
  app.add_option("--stop", stop.stop_strings, "stop string (repeatable); not included in the output");
  app.add_flag("--ignore-eos", stop.ignore_eos, "keep generating past end-of-sequence tokens");
}

}  // namespace tern::cli
