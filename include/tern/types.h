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

// Speculative decoding (docs/speculative.md): a drafter proposes tokens that
// the model verifies in one batched pass; output is exactly what plain
// decoding would produce (greedy: the same tokens; sampled: the same
// distribution).
enum class SpecMethod {
  kDefault,     // per request: the engine's choice (SpeculativeOptions::method)
  kOff,         // plain decoding
  kNgram,       // prompt lookup: continue an earlier occurrence of the last n tokens
  kDraftModel,  // a smaller GGUF with the same vocabulary (SpeculativeOptions::draft_model_path)
  kSelfSpec,    // the model itself with layers skipped (SWIFT-style)
};
const char* spec_method_name(SpecMethod m);  // "default", "off", "ngram", "draft-model", "self-spec"
// Parses those names ("none" and "draft" are accepted too); false if unknown.
bool parse_spec_method(const std::string& name, SpecMethod* out);

// Engine-wide speculative decoding settings.
struct SpeculativeOptions {
  SpecMethod method = SpecMethod::kOff;  // for requests that do not choose (kDefault counts as kOff)
  std::string draft_model_path;          // needed by kDraftModel
  int32_t max_draft_tokens = 8;          // k: most draft tokens per sequence and step
  // Adaptive: each step picks every sequence's draft length from its running
  // acceptance and the measured step cost, and drafts nothing where
  // speculation would be slower than plain decoding (large batches, low
  // acceptance). Off: always the longest draft available (tests, comparisons).
  bool adaptive = true;
  int32_t ngram_min = 1, ngram_max = 4;  // n-gram lengths prompt lookup tries, longest first
  std::vector<int32_t> self_spec_skip_layers;  // empty: chosen from measured acceptance
};

// Per request: overrides of the engine's settings.
struct SpeculativeParams {
  SpecMethod method = SpecMethod::kDefault;
  int32_t max_draft_tokens = 0;  // 0: the engine's; otherwise at most it
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
