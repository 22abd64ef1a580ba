// tern serve -m MODEL — the OpenAI-compatible HTTP server (server/, docs/server.md).
// Every option comes from the one table in server/config/serve_options.cpp;
// this file only maps it onto CLI11.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <map>

#include "app.h"
#include "commands.h"
#include "config/serve_options.h"

namespace tern::cli {

int serve_main(int argc, char** argv) {
  using server::serve_option_specs;
  CLI::App app{"OpenAI-compatible HTTP server (chat, completions, embeddings, metrics)", "tern serve"};
  const auto& specs = serve_option_specs();
  std::map<std::string, std::string> values;
  std::vector<std::pair<std::string, CLI::Option*>> given;
  for (const auto& s : specs) {
    std::string flags = (s.short_flag.empty() ? "" : "-" + s.short_flag + ",") + "--" + s.name;
    std::string help = s.help;
    if (!s.default_value.empty() && !s.secret) help += " [default: " + s.default_value + "]";
    help += " (env " + s.env_var() + ")";
    auto* opt = app.add_option(flags, values[s.name], help);
    given.emplace_back(s.name, opt);
  }
  CLI11_PARSE(app, argc, argv);

  std::map<std::string, std::string> cli;
  for (const auto& [name, opt] : given)
    if (opt->count() > 0) cli[name] = values[name];
  auto options = server::resolve_serve_options(cli, [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  });
  if (!options.ok()) {
    std::fprintf(stderr, "tern serve: %s\n", options.status().message().c_str());
    return 2;
  }
  return server::run_server(*options);
}

}  // namespace tern::cli
