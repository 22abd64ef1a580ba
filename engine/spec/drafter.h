// Drafter: proposes draft tokens for speculative decoding. Three kinds
// (docs/speculative.md):
//
//   NgramDrafter       prompt lookup: continues the latest earlier occurrence
//                      of the context's last n tokens (no model, no state)
//   DraftModelDrafter  a second, smaller GGUF with the target's vocabulary,
//                      with its own paged KV cache per sequence
//   SelfSpecDrafter    the target itself with some layers skipped (SWIFT-style),
//                      writing into the target's KV cache, which the
//                      verification pass then overwrites
//
// The engine calls propose() once per step with every sequence that drafts
// this step (batched: model drafters run one forward pass per draft position
// for all of them), then verifies, then tells the drafter how many of each
// sequence's tokens are final (rollback()). Thread safety: none; the engine
// thread only.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tern/status.h"
#include "tern/types.h"

namespace tern {
class Sampler;
}

namespace tern::spec {

enum class DrafterKind { kNgram, kDraftModel, kSelfSpec };
constexpr int kDrafterKinds = 3;  // for arrays indexed by DrafterKind
const char* drafter_kind_name(DrafterKind k);  // "ngram", "draft-model", "self-spec"

struct DraftRequest {
  int64_t key = 0;                     // the sequence (drafter-private state is keyed by it)
  std::span<const TokenId> tokens;     // prompt + output so far; the last one is not in the target's cache yet
  int32_t k = 0;                       // draft tokens wanted
  Sampler* sampler = nullptr;          // draws the drafts from q (sampled requests); null: greedy drafts
  std::span<const int32_t> block_table;  // the target's blocks, covering positions up to tokens.size() - 1 + k
};

struct Draft {
  std::vector<TokenId> tokens;         // at most k
  std::vector<float> probs;            // [tokens.size(), n_vocab] draft distributions, or empty (one-hot)
};

class Drafter {
 public:
  virtual ~Drafter() = default;
  virtual DrafterKind kind() const = 0;
  // True when drafting runs a model once per draft position (its cost grows
  // with the draft length); false for free lookups.
  virtual bool runs_model() const = 0;
  // One Draft per request, in order. Errors are internal failures; a
  // sequence the drafter cannot serve gets an empty draft.
  virtual Status propose(std::span<const DraftRequest> reqs, std::vector<Draft>* out) = 0;
  // Tokens [0, num_final) of sequence `key` are final (the target kept them);
  // state past that is discarded.
  virtual void rollback(int64_t key, int32_t num_final) {}
  virtual void release(int64_t key) {}
  // Measured acceptance feedback (self-speculation picks its layer set from it).
  virtual void feedback(int32_t drafted, int32_t accepted) {}
};

}  // namespace tern::spec
