// LocalBackend: a model loaded in this process (tern::Engine), behind the
// Backend interface. OpenAI bodies are mapped onto GenerationRequests here:
// chat messages go through the model's chat template; sampling fields
// (temperature, top_p, top_k, min_p, seed, penalties, max_tokens, stop,
// ignore_eos) are copied; anything the engine rejects ends the request with
// an InvalidArgument error event.
#pragma once

#include <memory>
#include <string>

#include "backend/backend.h"
#include "tern/engine.h"

namespace tern::opt {

class LocalBackend : public Backend {
 public:
  // Borrows `engine`, which must outlive the backend.
  LocalBackend(std::string name, Engine* engine);
  // Loads the model itself (owns the engine).
  static Result<std::unique_ptr<LocalBackend>> open(std::string name, const EngineOptions& options);

  const std::string& name() const override { return name_; }
  uint64_t start(BackendRequest request, EventFn on_event) override;
  void cancel(uint64_t handle) override;
  Engine* engine() const { return engine_; }

 private:
  Result<GenerationRequest> to_generation(const BackendRequest& r) const;

  std::string name_;
  std::unique_ptr<Engine> owned_;
  Engine* engine_;
};

}  // namespace tern::opt
