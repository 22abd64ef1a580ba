// tern bench-engine --spec-bench (tools/bench_spec.cpp).
#pragma once

#include <string>
#include <vector>

#include "tern/engine.h"

namespace tern::cli {

struct SpecBenchArgs {
  std::string methods = "ngram,draft-model,self-spec";  // drafters to compare with plain decoding
  std::vector<int> concurrency = {1, 4, 16};             // throughput points (first drafter, adaptive)
  int gen_len = 128;
  int reps = 3;
  int passage_tokens = 400;  // cap on the input-grounded passage
  std::string json_path;     // also write the results as JSON
};

int run_spec_bench(EngineOptions opt, const SpecBenchArgs& a);

}  // namespace tern::cli
