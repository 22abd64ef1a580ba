// tern — one binary, one subcommand per file in tools/ (see tools/commands.h).
#include <cstdio>
#include <cstring>
#include <string>

#include "commands.h"

int main(int argc, char** argv) {
  const auto& cmds = tern::cli::commands();
  auto usage = [&](FILE* out) {
    std::fprintf(out, "usage: tern <command> [options]\n\ncommands:\n");
    for (const auto& c : cmds) std::fprintf(out, "  %-14s %s\n", c.name, c.help);
    std::fprintf(out, "\nRun 'tern <command> --help' for a command's options.\n");
  };
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (const auto& c : cmds) {
    if (argv[1] == std::string(c.name)) return c.main(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "tern: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
