// GenerationJob: one chat or completions HTTP request, fanned out to one
// engine request per choice (prompts x n), and answered as one response or
// one SSE stream.
//
// Threads: engine callbacks only copy the event and post it to the
// connection's strand; all state here is touched on that strand alone.
// Lifetime: the job is owned by its engine callbacks and the functions they
// post; it ends after the last choice's final event. A peer that goes away
// cancels every unfinished choice (Engine::cancel), so its KV blocks return
// to the pool; the final kCancelled events still arrive and end the job.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "handlers/context.h"
#include "openai/types.h"
#include "tern/engine.h"

namespace tern::server {

enum class ApiKind { kChat, kCompletion };

// One choice to generate.
struct ChoicePlan {
  GenerationRequest request;
  int prompt_index = 0;     // which prompt; usage counts each prompt once
  std::string echo_prefix;  // completions with echo: the prompt's text
};

// Submits every plan and answers `ex`. On a submit failure the already
// submitted choices are cancelled and the client gets the mapped error
// (429 with Retry-After for a full queue, 400 for an over-long prompt).
void run_generation(ServerContext& ctx, std::shared_ptr<Exchange> ex, ApiKind kind, const GenerationParams& gen,
                    std::vector<ChoicePlan> plans);

// The engine request of one choice: sampling, stop rules, logprobs; seed + i
// for choice i so that n > 1 with a seed gives different, reproducible choices.
GenerationRequest make_engine_request(const GenerationParams& gen, int choice);

}  // namespace tern::server
