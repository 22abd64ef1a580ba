// ChatTemplate: renders a model's `tokenizer.chat_template` (Jinja2) the way
// Hugging Face transformers does (trim_blocks, lstrip_blocks, loop controls,
// HF's tojson, raise_exception and strftime_now), with a small interpreter
// of the Jinja subset that real chat templates use.
//
// Usage:
//   TERN_ASSIGN_OR_RETURN(ChatTemplate tpl, ChatTemplate::parse(source));
//   nlohmann::ordered_json ctx = {{"messages", messages}, {"add_generation_prompt", true},
//                                 {"bos_token", "<s>"}, {"eos_token", "</s>"}};
//   TERN_ASSIGN_OR_RETURN(std::string prompt, tpl.render(ctx));
//
// Key order: templates print dicts with tojson in the order they hold them.
// nlohmann::json sorts keys; pass nlohmann::ordered_json to keep the order a
// client sent (tool schemas, tool-call arguments).
//
// Errors: parse() returns InvalidArgument("line:col: ...") for a syntax
// error. render() returns InvalidArgument("line:col: ...") for an evaluation
// error (undefined variable used in arithmetic, bad types, unknown filter),
// InvalidArgument(msg) verbatim when the template calls raise_exception(msg),
// and ResourceExhausted when a limit in RenderOptions is hit. No exception
// escapes.
//
// Thread safety: a ChatTemplate is immutable after parse(); render() may run
// concurrently on one instance. Copies share the parsed tree.
//
// Unsupported Jinja: template inheritance/include/import, recursive loops,
// `*args`/`**kwargs` at call sites, autoescape, string % formatting, and the
// mutating methods of lists and dicts (HF's sandbox forbids those too).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tern/status.h"

namespace tern {

struct RenderOptions {
  // Pins strftime_now() to this Unix time (formatted in UTC), for
  // reproducible prompts and tests. Unset: the local wall clock, as HF does.
  std::optional<int64_t> now_unix;
  size_t max_output_bytes = 8u << 20;  // also bounds any string or list the template builds
  int max_call_depth = 32;             // nested macro calls
  uint64_t max_steps = 5'000'000;      // evaluation budget against runaway loops
  size_t max_stack_bytes = 1u << 20;   // native stack one render may use
};

class ChatTemplate {
 public:
  static Result<ChatTemplate> parse(std::string_view source);

  // context: {"messages": [...], "tools": [...] (optional), "add_generation_prompt": bool,
  //           "bos_token": str, "eos_token": str, plus any extra variables}.
  Result<std::string> render(const nlohmann::json& context, const RenderOptions& options = {}) const;
  Result<std::string> render(const nlohmann::ordered_json& context, const RenderOptions& options = {}) const;

 private:
  struct Parsed;
  explicit ChatTemplate(std::shared_ptr<const Parsed> parsed) : parsed_(std::move(parsed)) {}
  std::shared_ptr<const Parsed> parsed_;
};

// Parses `source` and renders it as HF's apply_chat_template would with
// these arguments: `tools` is passed as given (null when there are none, as
// HF passes None). A message whose content is a list of parts has its text
// parts joined with "\n"; other part types are Unimplemented.
Result<std::string> apply_chat_template(std::string_view source, const nlohmann::json& messages,
                                        const nlohmann::json& tools, bool add_generation_prompt,
                                        std::string_view bos, std::string_view eos);
Result<std::string> apply_chat_template(std::string_view source, const nlohmann::ordered_json& messages,
                                        const nlohmann::ordered_json& tools, bool add_generation_prompt,
                                        std::string_view bos, std::string_view eos,
                                        const RenderOptions& options = {});

// Fallback when a GGUF has no template: ChatML, as HF's default.
std::string_view default_chat_template();

}  // namespace tern
