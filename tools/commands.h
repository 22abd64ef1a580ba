// The tern CLI's subcommand table. Each subcommand lives in its own file and
// is a thin client of the engine library.
#pragma once

#include <vector>

namespace tern::cli {

struct Command {
  const char* name;
  const char* help;
  int (*main)(int argc, char** argv);  // argv[0] is the subcommand name
};

int info_main(int argc, char** argv);
int serve_main(int argc, char** argv);
int run_main(int argc, char** argv);
int tokenize_main(int argc, char** argv);
int bench_main(int argc, char** argv);
int synth_main(int argc, char** argv);
int quantize_main(int argc, char** argv);
int bench_engine_main(int argc, char** argv);
int toon_main(int argc, char** argv);
int compress_main(int argc, char** argv);
int compact_main(int argc, char** argv);
int bench_compress_main(int argc, char** argv);
int logits_main(int argc, char** argv);

inline const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"run", "generate a continuation of a prompt", run_main},
      {"tokenize", "print the token ids of a text", tokenize_main},
      {"logits", "prompt token ids, top-k logits per position and greedy tokens as JSON (check against another engine)", logits_main},
      {"serve", "OpenAI-compatible HTTP server (chat, completions, embeddings, /metrics)", serve_main},
      {"bench", "load generator and benchmark report for any OpenAI-compatible server", bench_main},
      {"info", "show a GGUF model's architecture, hyper-parameters, tensors and tokenizer", info_main},
      {"synth", "write a GGUF model with random weights at real shapes (benchmarks)", synth_main},
      {"quantize", "convert a GGUF model's weights to Q8_0, Q4_0, Q4_K_M, ...", quantize_main},
      {"bench-engine", "engine speed: pp/tg vs the memory roofline, serving throughput, agent replay", bench_engine_main},
      {"toon", "convert JSON to TOON (fewer tokens for tabular data) and back", toon_main},
      {"compress", "compress a prompt with a small local model, keeping protected spans", compress_main},
      {"compact", "compact a long conversation: system + recent turns kept, old ones summarised", compact_main},
      {"bench-compress", "token savings, speed and fact retention of compression, TOON, compaction", bench_compress_main},
  };
  return table;
}

}  // namespace tern::cli
