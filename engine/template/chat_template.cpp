#include "template/chat_template.h"

#include "template/builtins.h"
#include "template/interpreter.h"
#include "template/parser.h"

namespace tern {

struct ChatTemplate::Parsed {
  tpl::Body body;
};

Result<ChatTemplate> ChatTemplate::parse(std::string_view source) {
  TERN_ASSIGN_OR_RETURN(tpl::Body body, tpl::parse_template(source));
  auto parsed = std::make_shared<Parsed>();
  parsed->body = std::move(body);
  return ChatTemplate(std::move(parsed));
}

Result<std::string> ChatTemplate::render(const nlohmann::json& context, const RenderOptions& options) const {
  nlohmann::ordered_json ordered;
  try {
    ordered = nlohmann::ordered_json::parse(context.dump());
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("chat template context: ") + e.what());
  }
  return render(ordered, options);
}

Result<std::string> ChatTemplate::render(const nlohmann::ordered_json& context, const RenderOptions& options) const {
  if (!context.is_object()) return InvalidArgument("chat template context must be a JSON object");
  tpl::RenderLimits limits;
  limits.max_output_bytes = options.max_output_bytes;
  limits.max_call_depth = options.max_call_depth;
  limits.max_steps = options.max_steps;
  limits.max_stack_bytes = options.max_stack_bytes;
  try {
    auto builtins = std::make_shared<tpl::Frame>(nullptr);
    tpl::install_globals(*builtins, options.now_unix);
    auto globals = std::make_shared<tpl::Frame>(builtins);
    for (const auto& [k, v] : context.items()) globals->set(k, tpl::Value::from_json(v));
    tpl::Interpreter interpreter(limits);
    return interpreter.render(parsed_->body, globals);
  } catch (const std::bad_alloc&) {
    return ResourceExhausted("out of memory rendering chat template");
  } catch (const std::exception& e) {
    return Internal(std::string("chat template: ") + e.what());
  }
}

namespace {

// OpenAI content parts -> one string, for templates that expect strings.
Status flatten_content(nlohmann::ordered_json& messages) {
  if (!messages.is_array()) return InvalidArgument("messages must be a JSON array");
  for (auto& m : messages) {
    if (!m.is_object()) return InvalidArgument("each message must be a JSON object");
    auto it = m.find("content");
    if (it == m.end() || !it->is_array()) continue;
    std::string text;
    bool first = true;
    for (const auto& part : *it) {
      if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
          !part["text"].is_string())
        return Unimplemented("only text content parts are supported");
      if (!first) text += "\n";
      first = false;
      text += part["text"].get<std::string>();
    }
    *it = text;
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> apply_chat_template(std::string_view source, const nlohmann::ordered_json& messages,
                                        const nlohmann::ordered_json& tools, bool add_generation_prompt,
                                        std::string_view bos, std::string_view eos, const RenderOptions& options) {
  TERN_ASSIGN_OR_RETURN(ChatTemplate tpl, ChatTemplate::parse(source));
  try {
    nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
    ctx["messages"] = messages;
    TERN_RETURN_IF_ERROR(flatten_content(ctx["messages"]));
    ctx["tools"] = tools;
    ctx["add_generation_prompt"] = add_generation_prompt;
    ctx["bos_token"] = std::string(bos);
    ctx["eos_token"] = std::string(eos);
    return tpl.render(ctx, options);
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("chat template arguments: ") + e.what());
  }
}

Result<std::string> apply_chat_template(std::string_view source, const nlohmann::json& messages,
                                        const nlohmann::json& tools, bool add_generation_prompt,
                                        std::string_view bos, std::string_view eos) {
  try {
    return apply_chat_template(source, nlohmann::ordered_json::parse(messages.dump()),
                               nlohmann::ordered_json::parse(tools.dump()), add_generation_prompt, bos, eos);
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("chat template arguments: ") + e.what());
  }
}

std::string_view default_chat_template() {
  return "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
         "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
}

}  // namespace tern
