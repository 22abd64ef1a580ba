#include <condition_variable>
#include <memory>
#include <mutex>
#include <unordered_map>

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
  TERN_ASSIGN_OR_RETURN(std::vector<std::vector<float>> out, logprobs_many({tokens}));
  return std::move(out.front());
}

// One submit_batch(): the engine thread takes the sequences together and
// scores them side by side. Each request has a single, final event.
Result<std::vector<std::vector<float>>> EngineScorer::logprobs_many(const std::vector<std::vector<TokenId>>& seqs) {
  if (seqs.empty()) return std::vector<std::vector<float>>{};
  std::vector<GenerationRequest> rs(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    rs[i].prompt_tokens = seqs[i];
    rs[i].want_prompt_logprobs = true;
  }
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::unordered_map<RequestId, GenerationEvent> done;
  };
  auto sh = std::make_shared<Shared>();
  TERN_ASSIGN_OR_RETURN(std::vector<RequestId> ids, engine_.submit_batch(std::move(rs), [sh](const GenerationEvent& ev) {
    if (!ev.finished) return;
    std::lock_guard<std::mutex> lock(sh->mu);
    sh->done.emplace(ev.id, ev);
    sh->cv.notify_one();
  }));
  std::unique_lock<std::mutex> lock(sh->mu);
  sh->cv.wait(lock, [&] { return sh->done.size() == ids.size(); });
  std::vector<std::vector<float>> out;
  for (RequestId id : ids) {
    GenerationEvent& ev = sh->done.at(id);
    if (ev.finish_reason == FinishReason::kError) return ev.error;
    if (ev.finish_reason != FinishReason::kStop) return Status(StatusCode::kCancelled, "prompt scoring was cancelled");
    out.push_back(std::move(ev.prompt_logprobs));
  }
  return out;
}

}  // namespace tern::compress
