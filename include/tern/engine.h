// tern/engine.h — the inference engine as a library.
//
// Usage:
//   tern::EngineOptions opt;
//   opt.model_path = "stories260K.gguf";
//   auto engine = tern::Engine::create(opt);          // loads, maps, starts the loop thread
//   if (!engine.ok()) { fprintf(stderr, "%s\n", engine.status().message().c_str()); return 1; }
//   tern::GenerationRequest req;
//   req.prompt = "Once upon a time";
//   req.sampling = tern::SamplingParams::greedy();
//   req.stop.max_tokens = 64;
//   auto id = (*engine)->submit(std::move(req), [](const tern::GenerationEvent& ev) {
//     fputs(ev.text.c_str(), stdout);                  // streamed, valid UTF-8
//     if (ev.finished) { /* ev.finish_reason, ev.usage */ }
//   });
//
// Threading: create() starts one engine thread that runs the scheduler and
// every forward pass. submit(), cancel(), stats() and the tokenizer helpers
// are thread-safe and may be called from any number of threads. Event
// callbacks run on the engine thread, in order per request; they must be
// quick and must not call back into the engine except cancel().
//
// Errors: create() and submit() return a Status for bad input (missing or
// malformed model, prompt longer than the context, invalid sampling
// parameters, queue full); they never throw. A request that fails later (e.g.
// it can never fit in the KV pool) ends with an event whose finish_reason is
// kError and whose error says why. After the last event of a request
// (finished == true) its callback is never called again.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tern/status.h"
#include "tern/types.h"

namespace tern {

enum class KvCacheType { kF32, kF16 };

struct EngineOptions {
  std::string model_path;
  int32_t threads = 0;             // compute threads; 0: all hardware threads
  int32_t n_ctx = 0;               // max tokens per sequence; 0: the model's training context (capped at 8192)
  int64_t kv_memory_bytes = 0;     // KV pool size; 0: room for max(n_ctx, 4 * max_batch_tokens) tokens x 4
  int32_t block_size = 16;         // tokens per KV block
  int32_t max_batch_tokens = 512;  // tokens computed per engine step (decodes + prefill chunks)
  int32_t max_num_seqs = 64;       // sequences running at once
  int32_t max_queue = 1024;        // waiting requests before submit() says ResourceExhausted
  bool prefix_caching = true;      // reuse KV blocks of identical prompt prefixes
  KvCacheType kv_type = KvCacheType::kF16;
  SpeculativeOptions speculative;  // speculative decoding (off by default; docs/speculative.md)
};

using RequestId = uint64_t;

struct GenerationRequest {
  // Either prompt_tokens (used as is) or prompt (tokenized; BOS per the
  // model's metadata when add_special; special-token text parsed when
  // parse_special, as for rendered chat templates).
  std::vector<TokenId> prompt_tokens;
  std::string prompt;
  bool add_special = true;
  bool parse_special = false;
  SamplingParams sampling;
  StopRules stop;
  int32_t priority = 0;            // lower runs first (vLLM's convention); ties in arrival order
  bool want_embedding = false;     // return the pooled hidden state instead of generating
  SpeculativeParams speculative;   // drafter and draft length for this request
  // Score the prompt instead of generating: the one (final) event carries
  // prompt_logprobs. Like embeddings, the prompt may fill the whole context.
  bool want_prompt_logprobs = false;
};

const char* finish_reason_name(FinishReason r);  // "stop", "length", "cancelled", "error"

struct TokenLogprob {
  TokenId token;
  float logprob;
};

struct Usage {
  int32_t prompt_tokens = 0;
  int32_t cached_tokens = 0;       // prompt tokens served from the prefix cache
  int32_t completion_tokens = 0;
  int32_t draft_tokens = 0;        // speculative decoding: draft tokens verified
  int32_t accepted_tokens = 0;     // of which kept (each saved one decode step)
};

struct GenerationEvent {
  RequestId id = 0;
  std::vector<TokenId> tokens;     // tokens sampled since the last event
  std::string text;                // their text (valid UTF-8; stop strings removed)
  // Per sampled token, when sampling.n_probs > 0: the chosen token's logprob
  // and the top n_probs alternatives.
  std::vector<TokenLogprob> logprobs;
  std::vector<std::vector<TokenLogprob>> top_logprobs;
  std::vector<float> embedding;    // want_embedding requests: [dim], L2-normalised
  // want_prompt_logprobs requests: [prompt tokens], entry i = log P(token i |
  // tokens 0..i-1) under the model (natural log); entry 0 is 0 (no context).
  std::vector<float> prompt_logprobs;
  bool finished = false;
  FinishReason finish_reason = FinishReason::kNone;
  Status error;                    // set when finish_reason == kError
  Usage usage;                     // running totals
  double queue_ms = 0;             // arrival → first scheduled
  double ttft_ms = 0;              // arrival → first token (set from the first token on)
};

using EventCallback = std::function<void(const GenerationEvent&)>;

struct EngineStats {
  int32_t running = 0;
  int32_t waiting = 0;
  double kv_usage = 0;             // share of KV blocks in use (0..1)
  int64_t kv_blocks_total = 0;
  int64_t kv_blocks_used = 0;
  int64_t prefix_query_tokens = 0; // prompt tokens looked up in the prefix cache
  int64_t prefix_hit_tokens = 0;   // of which found
  int64_t preemptions = 0;
  int64_t prompt_tokens = 0;       // computed (not cached) prompt tokens
  int64_t generation_tokens = 0;
  int64_t steps = 0;
  int64_t requests_finished = 0;
  // Speculative decoding (vLLM's spec_decode counters): verification chunks
  // with at least one draft, draft tokens verified, of which kept, and kept
  // per draft position (index j: the (j+1)-th draft token of a chunk).
  int64_t spec_drafts = 0;
  int64_t spec_draft_tokens = 0;
  int64_t spec_accepted_tokens = 0;
  std::vector<int64_t> spec_accepted_per_pos;
};

struct ModelInfo {
  std::string name;                // general.name or the file's stem
  std::string path;
  std::string arch;
  int32_t n_vocab = 0;
  int32_t n_ctx = 0;               // effective per-sequence context
  int32_t dim = 0;
  std::string chat_template;       // empty when the file has none
  std::string bos_text, eos_text;
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> create(const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queue a request. Fails at once on an empty or over-long prompt, invalid
  // sampling parameters or a full queue; otherwise events follow on the
  // engine thread. on_event must not be empty.
  Result<RequestId> submit(GenerationRequest request, EventCallback on_event);
  // Queue several requests at once, all or none (the first bad one's error,
  // naming its index). The engine thread picks them up together: prompt-
  // scoring requests in one batch run side by side, each sequence on one
  // compute thread, which on small models is close to n_threads x faster
  // than one after the other. Events carry each request's id.
  Result<std::vector<RequestId>> submit_batch(std::vector<GenerationRequest> requests, EventCallback on_event);
  // Stop a request at its next step; its blocks return to the pool and its
  // callback receives a final event with FinishReason::kCancelled. Unknown
  // or finished ids are ignored.
  void cancel(RequestId id);

  EngineStats stats() const;
  const ModelInfo& model_info() const;

  std::vector<TokenId> tokenize(const std::string& text, bool add_special, bool parse_special) const;
  std::string detokenize(const std::vector<TokenId>& tokens) const;
  std::string token_text(TokenId id) const;  // one token's bytes
  // Render OpenAI-style messages (a JSON array) with the model's chat
  // template (ChatML when the file has none). tools_json may be empty.
  Result<std::string> apply_chat_template(const std::string& messages_json, const std::string& tools_json,
                                          bool add_generation_prompt) const;

  class Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern
