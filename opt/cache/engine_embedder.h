// cache/engine_embedder.h — an Embedder backed by a local GGUF model through
// tern::Engine (GenerationRequest::want_embedding: the pooled, L2-normalised
// last hidden state). Library tern_cache_engine (links the engine).
//
//   auto engine = tern::Engine::create(opts);
//   tern::cache::EngineEmbedder emb(**engine);   // the engine must outlive emb
//   auto v = emb.embed("how do I reset my password");
//
// Thread safety: embed() may be called from any thread; it blocks until the
// engine answers (or timeout_ms passes: kCancelled, and the request is cancelled).
#pragma once

#include "cache/embedder.h"
#include "tern/engine.h"

namespace tern::cache {

class EngineEmbedder : public Embedder {
 public:
  explicit EngineEmbedder(Engine& engine, int timeout_ms = 30000);
  Result<std::vector<float>> embed(std::string_view text) override;
  int dim() const override;
  std::string name() const override;   // "engine:<model name>"

 private:
  Engine& engine_;
  int timeout_ms_;
};

}  // namespace tern::cache
