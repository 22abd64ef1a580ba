// cache/engine_embedder.cpp — embeddings from a local model via tern::Engine.
#include "cache/engine_embedder.h"

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace tern::cache {

EngineEmbedder::EngineEmbedder(Engine& engine, int timeout_ms) : engine_(engine), timeout_ms_(timeout_ms) {}

int EngineEmbedder::dim() const { return engine_.model_info().dim; }

std::string EngineEmbedder::name() const { return "engine:" + engine_.model_info().name; }

Result<std::vector<float>> EngineEmbedder::embed(std::string_view text) {
  struct Wait {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::vector<float> embedding;
    Status error;
  };
  auto w = std::make_shared<Wait>();
  GenerationRequest r;
  r.prompt_tokens = engine_.tokenize(std::string(text), /*add_special=*/true, /*parse_special=*/false);
  const size_t n_ctx = static_cast<size_t>(engine_.model_info().n_ctx);
  if (r.prompt_tokens.size() > n_ctx) r.prompt_tokens.resize(n_ctx);  // embed the head of a long text
  if (r.prompt_tokens.empty()) return std::vector<float>(static_cast<size_t>(dim()), 0.f);
  r.want_embedding = true;
  r.sampling = SamplingParams::greedy();
  auto id = engine_.submit(std::move(r), [w](const GenerationEvent& ev) {
    if (!ev.finished) return;
    std::lock_guard lock(w->mu);
    w->embedding = ev.embedding;
    if (ev.finish_reason == FinishReason::kError) w->error = ev.error;
    else if (ev.finish_reason == FinishReason::kCancelled) w->error = Status(StatusCode::kCancelled, "embedding cancelled");
    w->done = true;
    w->cv.notify_all();
  });
  if (!id.ok()) return id.status();
  std::unique_lock lock(w->mu);
  if (!w->cv.wait_for(lock, std::chrono::milliseconds(timeout_ms_), [&] { return w->done; })) {
    lock.unlock();
    engine_.cancel(*id);
    return Status(StatusCode::kCancelled, "engine embedder: no answer within " + std::to_string(timeout_ms_) + " ms");
  }
  if (!w->error.ok()) return w->error;
  if (w->embedding.empty()) return Internal("engine embedder: the engine returned no embedding");
  return std::move(w->embedding);
}

}  // namespace tern::cache
