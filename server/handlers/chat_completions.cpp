// POST /v1/chat/completions: parse, apply the request's "tern" stages (off
// the connection's strand: they wait for the engine), render the chat
// template, submit n choices, answer (stream or not) through GenerationJob.
#include <memory>
#include <variant>

#include "handlers/context.h"
#include "handlers/generation.h"
#include "handlers/stages.h"
#include "openai/parse.h"

namespace tern::server {

namespace {

void generate_chat(ServerContext& ctx, ChatRequest& chat, std::shared_ptr<Exchange> ex) {
  auto prompt = ctx.engine->apply_chat_template(chat.messages_json, chat.tools_json, /*add_generation_prompt=*/true);
  if (!prompt.ok()) return reply_error(*ex, bad_request("cannot render the chat template: " + prompt.status().message(),
                                                        "messages", "invalid_messages"));
  // A template that writes the BOS text itself must not get a second BOS.
  const std::string& bos = ctx.engine->model_info().bos_text;
  bool template_has_bos = !bos.empty() && prompt->rfind(bos, 0) == 0;

  std::vector<ChoicePlan> plans;
  for (int i = 0; i < chat.gen.n; ++i) {
    ChoicePlan p;
    p.request = make_engine_request(chat.gen, i);
    p.request.prompt = *prompt;
    p.request.parse_special = true;
    p.request.add_special = !template_has_bos;
    plans.push_back(std::move(p));
  }
  run_generation(ctx, std::move(ex), ApiKind::kChat, chat.gen, std::move(plans));
}

}  // namespace

void handle_chat_completions(ServerContext& ctx, const HttpRequest& req, std::shared_ptr<Exchange> ex) {
  if (ctx.gateway) return handle_gateway_generation(ctx, req, std::move(ex), /*chat=*/true);
  auto parsed = parse_chat_request(req.body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return reply_error(*ex, *e);
  ChatRequest& chat = std::get<ChatRequest>(parsed);
  if (!model_matches(ctx, chat.gen.model)) return reply_error(*ex, model_not_found(chat.gen.model));
  if (!chat.stages.any()) return generate_chat(ctx, chat, std::move(ex));
  // "tern": {...} (handlers/stages.h)
  auto c = std::make_shared<ChatRequest>(std::move(chat));
  auto st = std::make_shared<Status>();
  run_blocking(
      ctx, ex, [&ctx, c, st] { *st = apply_stages(*ctx.engine, c->stages, c->messages_json, nullptr, ctx.compact_states); },
      [&ctx, ex, c, st] {
        if (!st->ok()) return reply_error(*ex, from_status(*st));
        generate_chat(ctx, *c, ex);
      });
}

}  // namespace tern::server
