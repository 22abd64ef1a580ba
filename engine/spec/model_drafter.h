// The two drafters that run a model: a separate draft GGUF
// (DraftModelDrafter) and the target with layers skipped (SelfSpecDrafter).
// Both draft autoregressively, batched over sequences: one forward pass for
// the first position of every sequence (for the draft model: every token it
// has not seen yet), then one pass per further draft position.
#pragma once

#include <memory>
#include <unordered_map>

#include "core/thread_pool.h"
#include "model/kv_pool.h"
#include "model/model.h"
#include "model/model_runner.h"
#include "spec/controller.h"
#include "spec/drafter.h"

namespace tern::spec {

// Runs the draft positions: for request i, tokens [from[i], L_i) at their
// positions in one chunk, then k_i - 1 single-token steps; each step's logits
// give the next draft (argmax, or a draw from the request's sampler with q
// recorded). tables[i] is the block table the runner reads and writes for i.
Status draft_autoregressive(ModelRunner& runner, std::span<const DraftRequest> reqs, std::span<const int32_t> from,
                            std::span<const std::span<const int32_t>> tables, std::vector<Draft>* out);

class DraftModelDrafter final : public Drafter {
 public:
  // Loads `path`; fails unless its vocabulary matches the target's (same
  // size, same token texts). The draft cache holds `max_tokens` tokens over
  // all sequences in blocks of `block_size`.
  static Result<std::unique_ptr<DraftModelDrafter>> create(const std::string& path, const Model& target,
                                                           ThreadPool& pool, int32_t block_size, int64_t max_tokens);
  DrafterKind kind() const override { return DrafterKind::kDraftModel; }
  bool runs_model() const override { return true; }
  Status propose(std::span<const DraftRequest> reqs, std::vector<Draft>* out) override;
  void rollback(int64_t key, int32_t num_final) override;
  void release(int64_t key) override;
  const Model& model() const { return *model_; }

 private:
  struct SeqState {
    std::vector<int32_t> blocks;
    int32_t computed = 0;  // positions [0, computed) have draft K/V
  };
  DraftModelDrafter() = default;
  bool reserve(SeqState& s, int32_t positions);  // blocks for positions [0, positions)

  std::unique_ptr<Model> model_;
  std::unique_ptr<KvPool> kv_;
  std::unique_ptr<ModelRunner> runner_;
  std::vector<int32_t> free_blocks_;
  std::unordered_map<int64_t, SeqState> seqs_;
};

// Candidate sets of skipped layers for an n-layer model: the first and last
// layers always run; the sets skip every 2nd / 3rd interior layer, a middle
// block of half / a quarter of them, or their upper half. Distinct, non-empty.
std::vector<std::vector<int32_t>> skip_layer_candidates(int32_t n_layers);

class SelfSpecDrafter final : public Drafter {
 public:
  // `fixed`: always skip these layers; empty: choose among
  // skip_layer_candidates() from measured acceptance (each candidate is tried
  // for a window of verified drafts, then the best expected speedup wins,
  // with a periodic re-try of the others).
  SelfSpecDrafter(const Model& target, KvPool& target_kv, ThreadPool& pool, std::vector<int32_t> fixed);
  DrafterKind kind() const override { return DrafterKind::kSelfSpec; }
  bool runs_model() const override { return true; }
  Status propose(std::span<const DraftRequest> reqs, std::vector<Draft>* out) override;
  void feedback(int32_t drafted, int32_t accepted) override;
  // The layers skipped now, and the share of layers that still run.
  const std::vector<int32_t>& skipped() const { return candidates_[current_].layers; }
  double active_fraction() const;

 private:
  struct Candidate {
    std::vector<int32_t> layers;
    Acceptance acc{0.5, 2.0, 0.98};
    int64_t drafted = 0;
  };
  void apply();
  double score(const Candidate& c) const;

  const Model& model_;
  ModelRunner runner_;
  std::vector<Candidate> candidates_;
  size_t current_ = 0;
  int64_t window_drafted_ = 0;
  int64_t windows_ = 0;
};

}  // namespace tern::spec
