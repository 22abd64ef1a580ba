// libFuzzer target for the chat-template (Jinja subset) lexer, parser and
// interpreter: any template source must parse or fail with a Status, and
// rendering must fail cleanly or stay within the render limits (steps,
// output bytes, call depth, native stack), never crash or hang.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "template/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  auto tpl = tern::ChatTemplate::parse(source);
  if (!tpl.ok()) return 0;
  static const nlohmann::json context = {
      {"messages", {{{"role", "system"}, {"content", "Be brief."}},
                    {{"role", "user"}, {"content", "Hi {{ there }}"}},
                    {{"role", "assistant"}, {"content", "Hello."}, {"tool_calls", nlohmann::json::array()}}}},
      {"tools", nlohmann::json::array({{{"type", "function"}, {"function", {{"name", "f"}}}}})},
      {"add_generation_prompt", true},
      {"bos_token", "<s>"},
      {"eos_token", "</s>"}};
  tern::RenderOptions o;
  o.now_unix = 0;
  o.max_steps = 200000;
  o.max_output_bytes = 1u << 20;
  auto out = tpl->render(context, o);
  if (out.ok() && out->size() > o.max_output_bytes) __builtin_trap();  // the output limit did not hold
  return 0;
}
