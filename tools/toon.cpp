// tern toon encode|decode — JSON ↔ TOON (docs/toon.md). Reads a file or
// stdin ("-"), writes stdout. Errors are one line, FILE:LINE:COL: message,
// and exit status 1.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>

#include "commands.h"
#include "gguf/gguf.h"
#include "input.h"
#include "tokenizer/tokenizer.h"
#include "toon/toon.h"

namespace tern::cli {
namespace {

// "comma" / "tab" / "pipe" or the character itself.
bool parse_delimiter(const std::string& s, char& out) {
  if (s == "comma" || s == ",") out = ',';
  else if (s == "tab" || s == "\t" || s == "\\t") out = '\t';
  else if (s == "pipe" || s == "|") out = '|';
  else return false;
  return true;
}

// LINE:COL of a 1-based byte position in `text`.
std::string position(const std::string& text, size_t byte) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i + 1 < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return std::to_string(line) + ":" + std::to_string(col);
}

}  // namespace

int toon_main(int argc, char** argv) {
  CLI::App app{"Convert JSON to TOON (Token-Oriented Object Notation) and back", "tern toon"};
  app.require_subcommand(1);
  std::string path = "-", delimiter = "comma", model;
  int indent = 2;
  bool no_strict = false, compact = false, if_smaller = false, stats = false;

  CLI::App* enc = app.add_subcommand("encode", "JSON → TOON");
  enc->add_option("file", path, "JSON file ('-' or absent: stdin)");
  enc->add_option("-d,--delimiter", delimiter, "array delimiter: comma, tab or pipe")->capture_default_str();
  enc->add_option("-i,--indent", indent, "spaces per indentation level")->capture_default_str()->check(CLI::Range(1, 16));
  enc->add_option("-m,--model", model, "GGUF model or vocab whose tokenizer counts tokens (for --if-smaller, --stats)");
  enc->add_flag("--if-smaller", if_smaller,
                "write TOON only when it has fewer tokens than minified JSON, else minified JSON (needs -m)");
  enc->add_flag("--stats", stats, "print token counts of pretty JSON, minified JSON and TOON to stderr (needs -m)");

  CLI::App* dec = app.add_subcommand("decode", "TOON → JSON");
  dec->add_option("file", path, "TOON file ('-' or absent: stdin)");
  dec->add_option("-i,--indent", indent, "spaces per indentation level of the input")->capture_default_str()->check(CLI::Range(1, 16));
  dec->add_flag("--no-strict", no_strict, "tolerate count mismatches, odd indentation, duplicate keys (last wins)");
  dec->add_flag("--compact", compact, "write minified JSON (default: 2-space indented)");
  CLI11_PARSE(app, argc, argv);

  std::string text;
  if (!read_input(path, text)) {
    std::fprintf(stderr, "tern toon: %s: cannot open\n", path.c_str());
    return 1;
  }
  const std::string name = path == "-" ? "<stdin>" : path;

  if (dec->parsed()) {
    toon::DecodeOptions o;
    o.indent = indent;
    o.strict = !no_strict;
    auto r = toon::decode(text, o);
    if (!r.ok()) {
      std::fprintf(stderr, "tern toon: %s:%s\n", name.c_str(), r.status().message().c_str());
      return 1;
    }
    const std::string out = r->dump(compact ? -1 : 2, ' ', false, toon::Json::error_handler_t::replace);
    std::printf("%s\n", out.c_str());
    return 0;
  }

  toon::EncodeOptions o;
  o.indent = indent;
  if (!parse_delimiter(delimiter, o.delimiter)) {
    std::fprintf(stderr, "tern toon: --delimiter must be comma, tab or pipe, not '%s'\n", delimiter.c_str());
    return 1;
  }
  toon::Json value;
  try {
    value = toon::Json::parse(text);
  } catch (const toon::Json::parse_error& e) {
    std::string msg = e.what();  // "[json.exception.parse_error.101] parse error at line 1, column 5: ..."
    if (size_t p = msg.find("column"); p != std::string::npos && msg.find(": ", p) != std::string::npos)
      msg = msg.substr(msg.find(": ", p) + 2);
    std::fprintf(stderr, "tern toon: %s:%s: invalid JSON: %s\n", name.c_str(), position(text, e.byte).c_str(),
                 msg.c_str());
    return 1;
  } catch (const toon::Json::exception& e) {  // out_of_range: a number beyond a double ("1e400")
    std::string msg = e.what();
    if (size_t p = msg.find("] "); p != std::string::npos) msg = msg.substr(p + 2);
    std::fprintf(stderr, "tern toon: %s: invalid JSON: %s\n", name.c_str(), msg.c_str());
    return 1;
  }

  if ((if_smaller || stats) && model.empty()) {
    std::fprintf(stderr, "tern toon: --if-smaller and --stats need -m MODEL (its tokenizer counts tokens)\n");
    return 1;
  }
  if (model.empty()) {
    std::printf("%s\n", toon::encode(value, o).c_str());
    return 0;
  }
  auto file = GgufFile::open(model);
  if (!file.ok()) {
    std::fprintf(stderr, "tern toon: %s\n", file.status().message().c_str());
    return 1;
  }
  auto tok = Tokenizer::from_gguf(**file);
  if (!tok.ok()) {
    std::fprintf(stderr, "tern toon: %s: %s\n", model.c_str(), tok.status().message().c_str());
    return 1;
  }
  const Tokenizer& t = **tok;
  auto count = [&](std::string_view s) { return t.encode(s, /*add_special=*/false, /*parse_special=*/false).size(); };
  const toon::MaybeEncoded m = toon::maybe_encode_detailed(value, count, o);
  const std::string toon_text = m.is_toon ? m.text : toon::encode(value, o);
  if (stats) {
    const size_t pretty = count(value.dump(2, ' ', false, toon::Json::error_handler_t::replace));
    const size_t toon_tokens = m.is_toon ? m.tokens : count(toon_text);
    auto pct = [](size_t a, size_t b) { return b ? 100.0 * (1.0 - static_cast<double>(a) / b) : 0.0; };
    std::fprintf(stderr,
                 "tokens: pretty JSON %zu, minified JSON %zu, TOON %zu (%.1f%% fewer than pretty, %.1f%% fewer "
                 "than minified)\n",
                 pretty, m.json_tokens, toon_tokens, pct(toon_tokens, pretty), pct(toon_tokens, m.json_tokens));
  }
  std::printf("%s\n", (if_smaller ? m.text : toon_text).c_str());
  return 0;
}

}  // namespace tern::cli
