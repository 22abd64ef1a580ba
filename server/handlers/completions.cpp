// POST /v1/completions: one engine request per (prompt, n) pair; prompts are
// text (tokenized with BOS) or token ids (used as given).
#include <variant>

#include "handlers/context.h"
#include "handlers/generation.h"
#include "openai/parse.h"

namespace tern::server {

void handle_completions(ServerContext& ctx, const HttpRequest& req, std::shared_ptr<Exchange> ex) {
  if (ctx.gateway) return handle_gateway_generation(ctx, req, std::move(ex), /*chat=*/false);
  auto parsed = parse_completion_request(req.body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return reply_error(*ex, *e);
  CompletionRequest& cr = std::get<CompletionRequest>(parsed);
  if (!model_matches(ctx, cr.gen.model)) return reply_error(*ex, model_not_found(cr.gen.model));

  const int32_t n_vocab = ctx.engine->model_info().n_vocab;
  std::vector<ChoicePlan> plans;
  for (size_t p = 0; p < cr.prompts.size(); ++p) {
    const PromptInput& in = cr.prompts[p];
    for (TokenId t : in.tokens)
      if (t >= n_vocab)
        return reply_error(*ex, bad_request("token id " + std::to_string(t) + " is outside the vocabulary (" +
                                                std::to_string(n_vocab) + " tokens)",
                                            "prompt"));
    std::string echo;
    if (cr.echo) echo = in.is_tokens ? ctx.engine->detokenize(in.tokens) : in.text;
    for (int i = 0; i < cr.gen.n; ++i) {
      ChoicePlan plan;
      plan.request = make_engine_request(cr.gen, i);
      if (in.is_tokens) plan.request.prompt_tokens = in.tokens;
      else plan.request.prompt = in.text;
      plan.prompt_index = static_cast<int>(p);
      plan.echo_prefix = echo;
      plans.push_back(std::move(plan));
    }
  }
  run_generation(ctx, std::move(ex), ApiKind::kCompletion, cr.gen, std::move(plans));
}

}  // namespace tern::server
