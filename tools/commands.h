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

inline const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"info", "show a GGUF model's architecture, hyper-parameters, tensors and tokenizer", info_main},
  };
  return table;
}

}  // namespace tern::cli
