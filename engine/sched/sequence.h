// Sequence: one generation stream as the Scheduler sees it.
//
// Tokens are the prompt followed by the tokens generated so far. The K/V of
// positions [0, num_computed_tokens) exist in the sequence's blocks; the
// tokens after that still have to go through the model. Between steps a live
// sequence has num_computed_tokens <= num_tokens() - 1: the newest token is
// never computed yet (its forward pass is what produces the next one).
//
// Preemption by recomputation forgets all K/V (num_computed_tokens = 0) but
// keeps the generated tokens: on readmission the whole of tokens() is
// prefilled again, mostly from the prefix cache.
//
// The Scheduler owns sequences and is the only writer.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "kv/block_manager.h"
#include "tern/types.h"

namespace tern {

enum class SequenceStatus {
  kWaiting,    // not admitted yet; holds no blocks
  kRunning,    // admitted; holds blocks for its computed tokens
  kPreempted,  // waiting again after losing its blocks; holds none
  kFinished,
};

// FinishReason is the public one (include/tern/types.h).

std::string_view to_string(SequenceStatus s);
std::string_view to_string(FinishReason r);

class Sequence {
 public:
  Sequence(SeqId id, std::vector<TokenId> prompt, SamplingParams sampling, StopRules stop, int32_t priority,
           uint64_t arrival, uint64_t cache_salt)
      : id_(id),
        tokens_(std::move(prompt)),
        num_prompt_tokens_(static_cast<int32_t>(tokens_.size())),
        sampling_(std::move(sampling)),
        stop_(std::move(stop)),
        priority_(priority),
        arrival_(arrival),
        cache_salt_(cache_salt) {}

  SeqId id() const { return id_; }
  SequenceStatus status() const { return status_; }
  FinishReason finish_reason() const { return finish_reason_; }

  std::span<const TokenId> tokens() const { return tokens_; }
  std::span<const TokenId> prompt() const { return std::span(tokens_).first(num_prompt_tokens_); }
  std::span<const TokenId> output() const { return std::span(tokens_).subspan(num_prompt_tokens_); }
  int32_t num_tokens() const { return static_cast<int32_t>(tokens_.size()); }
  int32_t num_prompt_tokens() const { return num_prompt_tokens_; }
  int32_t num_output_tokens() const { return num_tokens() - num_prompt_tokens_; }
  TokenId last_token() const { return tokens_.back(); }

  // Positions whose K/V exist; prefix-cache hits count as computed.
  int32_t num_computed_tokens() const { return num_computed_tokens_; }
  // Tokens adopted from the prefix cache at the latest admission.
  int32_t num_cached_tokens() const { return num_cached_tokens_; }
  // Tokens still to go through the model before the next one can be sampled.
  int32_t num_uncomputed_tokens() const { return num_tokens() - num_computed_tokens_; }
  // Only the newest token is left: a decode step. Otherwise a prefill (first
  // admission, or recomputation after preemption), possibly in chunks.
  bool is_decode() const { return num_uncomputed_tokens() == 1; }

  // Lower value is served first (vLLM's convention); ties by arrival.
  int32_t priority() const { return priority_; }
  uint64_t arrival() const { return arrival_; }
  uint64_t cache_salt() const { return cache_salt_; }
  int32_t num_preemptions() const { return num_preemptions_; }

  const SamplingParams& sampling() const { return sampling_; }
  const StopRules& stop() const { return stop_; }

 private:
  friend class Scheduler;

  SeqId id_;
  std::vector<TokenId> tokens_;
  int32_t num_prompt_tokens_;
  SamplingParams sampling_;
  StopRules stop_;
  int32_t priority_;
  uint64_t arrival_;
  uint64_t cache_salt_;
  SequenceStatus status_ = SequenceStatus::kWaiting;
  FinishReason finish_reason_ = FinishReason::kNone;
  int32_t num_computed_tokens_ = 0;
  int32_t num_cached_tokens_ = 0;
  int32_t num_preemptions_ = 0;
};

}  // namespace tern
