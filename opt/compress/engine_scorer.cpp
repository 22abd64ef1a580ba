#include <future>

#include "compress/scorer.h"

namespace tern::compress {

EngineScorer::EngineScorer(Engine& engine) : engine_(engine) {
  const std::vector<TokenId> with = engine_.tokenize("a", true, false), without = engine_.tokenize("a", false, false);
  if (with.size() > without.size()) bos_ = with.front();
}

std::vector<TokenId> EngineScorer::tokenize(std::string_view text) const {
  return engine_.tokenize(std::string(text), false, false);
}

std::string EngineScorer::piece(TokenId token) const { return engine_.token_text(token); }

int32_t EngineScorer::max_tokens() const { return engine_.model_info().n_ctx; }

Result<std::vector<float>> EngineScorer::logprobs(const std::vector<TokenId>& tokens) {
  GenerationRequest r;
  r.prompt_tokens = tokens;
  r.want_prompt_logprobs = true;
  // The callback runs once (scoring requests have a single, final event).
  auto done = std::make_shared<std::promise<GenerationEvent>>();
  std::future<GenerationEvent> result = done->get_future();
  auto id = engine_.submit(std::move(r), [done](const GenerationEvent& ev) {
    if (ev.finished) done->set_value(ev);
  });
  if (!id.ok()) return id.status();
  GenerationEvent ev = result.get();
  if (ev.finish_reason == FinishReason::kError) return ev.error;
  if (ev.finish_reason != FinishReason::kStop) return Status(StatusCode::kCancelled, "prompt scoring was cancelled");
  return std::move(ev.prompt_logprobs);
}

}  // namespace tern::compress
