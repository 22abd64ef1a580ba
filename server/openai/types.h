// Requests of the OpenAI API as tern understands them, after parsing and
// validation (parse.h). Field names follow the API; defaults are OpenAI's
// where it has one and llama.cpp's where it is silent (top_k 40, min_p 0.05).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compress/stages.h"

#include "tern/types.h"

namespace tern::server {

// Options shared by /v1/chat/completions and /v1/completions.
struct GenerationParams {
  std::string model;           // "" when the client sent none
  SamplingParams sampling;     // temperature, top_p, top_k, min_p, penalties, seed, logit_bias
  StopRules stop;              // max_tokens / max_completion_tokens, stop, ignore_eos
  int32_t n = 1;               // choices per prompt, each its own engine request
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool logprobs = false;       // report the chosen tokens' logprobs
  int32_t top_logprobs = 0;    // and this many alternatives per token
  // tern extension: "speculative": {"method": "ngram", "max_draft_tokens": 4}
  // (or "speculative": "off"); docs/speculative.md.
  SpeculativeParams speculative;
};

// tern's per-request extension: "tern": {"toon": true, "compress": {"ratio": 3},
// "compact": {...}} (docs/compression.md). Stages run on the messages before
// templating; the same fields as a gateway route's.
using TernStages = compress::MessageStages;

struct ChatRequest {
  GenerationParams gen;
  TernStages stages;
  std::string messages_json;   // the messages array, content parts flattened to text
  std::string tools_json;      // the tools array or ""
};

// A prompt given as text or as token ids.
struct PromptInput {
  std::string text;
  std::vector<TokenId> tokens;
  bool is_tokens = false;
};

struct CompletionRequest {
  GenerationParams gen;
  std::vector<PromptInput> prompts;  // choices: prompts.size() * n
  bool echo = false;                 // prepend the prompt to each choice's text
};

struct EmbeddingRequest {
  std::string model;
  std::vector<PromptInput> inputs;
  bool base64 = false;               // encoding_format "base64": little-endian float32
};

}  // namespace tern::server
