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

inline const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"run", "generate a continuation of a prompt", run_main},
      {"tokenize", "print the token ids of a text", tokenize_main},
      {"serve", "OpenAI-compatible HTTP server (chat, completions, embeddings, /metrics)", serve_main},
      {"info", "show a GGUF model's architecture, hyper-parameters, tensors and tokenizer", info_main},
  };
  return table;
}

}  // namespace tern::cli
