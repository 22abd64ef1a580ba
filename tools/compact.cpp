// tern compact — context compaction of a long conversation (docs/compression.md):
// reads an OpenAI messages array (or {"messages": [...]}) from a file or
// stdin; past --trigger x --context-tokens, keeps the system prompt and the
// recent turns, shortens old tool outputs and has the model (-m) summarise
// the rest. Writes the compacted messages to stdout, one line of statistics
// to stderr.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "backend/local_backend.h"
#include "backend/summarize.h"
#include "commands.h"
#include "compact/compactor.h"
#include "compress/compressor.h"
#include "input.h"

namespace tern::cli {

int compact_main(int argc, char** argv) {
  CLI::App app{"Compact a long conversation: keep the system prompt and recent turns, shorten old tool outputs, "
               "summarise the rest with the model",
               "tern compact"};
  std::string path = "-";
  EngineOptions eo;
  eo.threads = 2;
  compact::CompactOptions o;
  int32_t summary_tokens = 512;
  app.add_option("file", path, "JSON: a messages array or {\"messages\": [...]} ('-' or absent: stdin)");
  app.add_option("-m,--model", eo.model_path, "GGUF model that counts tokens and writes the summary")->required();
  app.add_option("-t,--threads", eo.threads, "compute threads")->capture_default_str();
  app.add_option("--context-tokens", o.context_tokens, "the window (or budget) the conversation must fit")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{64}, int64_t{1} << 40));
  app.add_option("--trigger", o.trigger, "compact past this share of the context")->capture_default_str()->check(CLI::Range(0.01, 1.0));
  app.add_option("--target", o.target, "down to about this share")->capture_default_str()->check(CLI::Range(0.01, 1.0));
  app.add_option("--keep-recent", o.keep_recent, "last messages kept verbatim")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--tool-output-tokens", o.tool_output_tokens, "old tool outputs longer than this are cut to about it")
      ->capture_default_str();
  app.add_option("--summary-tokens", summary_tokens, "most tokens the summary may have")->capture_default_str()->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  std::string text;
  if (!read_input(path, text)) {
    std::fprintf(stderr, "tern compact: %s: cannot open\n", path.c_str());
    return 1;
  }
  compact::Json messages = compact::Json::parse(text, nullptr, false);
  if (messages.is_object() && messages.contains("messages")) messages = compact::Json(messages["messages"]);
  if (messages.is_discarded() || !messages.is_array()) {
    std::fprintf(stderr, "tern compact: %s: expected a JSON messages array or {\"messages\": [...]}\n", path.c_str());
    return 1;
  }
  auto engine = Engine::create(eo);
  if (!engine.ok()) {
    std::fprintf(stderr, "tern compact: %s\n", engine.status().message().c_str());
    return 1;
  }
  compress::EngineScorer scorer(**engine);
  opt::LocalBackend model("model", engine->get());
  compact::Compactor compactor(o, [&](std::string_view s) { return scorer.tokenize(s).size(); },
                               opt::backend_summarizer(model, summary_tokens));
  if (Status v = compactor.validate(); !v.ok()) {
    std::fprintf(stderr, "tern compact: %s\n", v.message().c_str());
    return 1;
  }
  auto r = compactor.compact(messages);
  if (!r.ok()) {
    std::fprintf(stderr, "tern compact: %s\n", r.status().message().c_str());
    return 1;
  }
  std::printf("%s\n", r->messages.dump(2, ' ', false, compact::Json::error_handler_t::replace).c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "tern compact: %lld -> %lld tokens (%s; %d tool outputs shortened, %d messages summarised)\n",
               static_cast<long long>(r->tokens_before), static_cast<long long>(r->tokens_after),
               r->compacted ? "compacted" : "below the trigger, unchanged", r->shortened_tool_outputs,
               r->summarized_messages);
  return 0;
}

}  // namespace tern::cli
