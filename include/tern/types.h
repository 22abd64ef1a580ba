// tern/types.h — plain value types shared by the engine API and its clients.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tern {

using TokenId = int32_t;

// Sampling configuration of one request. Defaults are llama.cpp's where the
// OpenAI API is silent. Stages run in this order: logit bias, repetition
// penalty, presence/frequency penalties, top-k, top-p, min-p, temperature,
// then a draw (or argmax when temperature <= 0). Sampler::validate() checks
// the ranges (engine/sample/sampler.h).
struct SamplingParams {
  float temperature = 0.8f;       // <= 0: greedy (argmax)
  int32_t top_k = 40;             // <= 0: disabled
  float top_p = 0.95f;            // >= 1: disabled
  float min_p = 0.05f;            // <= 0: disabled
  float repetition_penalty = 1.0f;  // 1: disabled (CTRL-style, divides positive logits)
  float presence_penalty = 0.0f;    // OpenAI semantics
  float frequency_penalty = 0.0f;   // OpenAI semantics
  int32_t penalty_last_n = 64;      // window of past tokens penalties look at; -1: all
  uint64_t seed = 0xFFFFFFFFFFFFFFFFull;  // default: random seed
  int32_t n_probs = 0;              // top log-probabilities to report per token (0: none)
  // OpenAI logit_bias: (token, bias) added to the raw logit before every other
  // stage; -infinity bans a token. A token listed twice gets both biases.
  std::vector<std::pair<TokenId, float>> logit_bias;

  static SamplingParams greedy() {
    SamplingParams p;
    p.temperature = 0.0f;
    return p;
  }
};

// Why a sequence ended.
enum class FinishReason {
  kNone,
  kStop,       // EOS/EOG token or a stop string
  kLength,     // max_tokens reached, or the context is full
  kCancelled,  // cancel() or a client disconnect
  kError,      // the request could not be served (see the event's Status)
};

// When generation of one sequence stops.
struct StopRules {
  int32_t max_tokens = -1;                 // -1: until EOS or the context is full
  bool ignore_eos = false;
  std::vector<std::string> stop_strings;   // matched on decoded text, not included in output
};

}  // namespace tern
