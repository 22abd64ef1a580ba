// Speculator: speculative decoding inside the engine's continuous batching.
// Owns the drafters, the step-cost model and each sequence's speculation
// state; the engine loop calls it around every step:
//
//   auto slots = spec.plan(sched);             // draft lengths (adaptive), n-gram proposals
//   ScheduledBatch batch = sched.schedule(slots);
//   /* copy-on-write copies */
//   spec.draft(batch, sched);                  // model drafters run (batched)
//   /* forward: per sequence [last, drafts...] with logits for every row */
//   tokens = spec.verify(seq, sampler, rows, history);   // kept drafts + one
//   sched.postprocess(batch, tokens);          // rolls rejected slots back
//   spec.finish_step(...)                      // acceptance, drafter rollback, stats
//
// Thread safety: none; the engine thread only.
#pragma once

#include <chrono>
#include <memory>
#include <unordered_map>

#include "core/thread_pool.h"
#include "model/kv_pool.h"
#include "model/model.h"
#include "sample/sampler.h"
#include "sched/scheduler.h"
#include "spec/controller.h"
#include "spec/drafter.h"
#include "spec/verify.h"

namespace tern::spec {

struct SpecStats {
  int64_t drafts = 0;            // verification chunks with >= 1 draft token
  int64_t draft_tokens = 0;
  int64_t accepted_tokens = 0;
  std::vector<int64_t> accepted_per_pos;  // [max_draft_tokens]
};

class Speculator {
 public:
  // Validates the options (k range, n-gram lengths, skip layers); loads the
  // draft model when a path is given.
  static Result<std::unique_ptr<Speculator>> create(const SpeculativeOptions& options, const Model& target,
                                                    KvPool& target_kv, ThreadPool& pool, int64_t max_kv_tokens);

  // Checks a request's parameters: unknown drafter, draft model not loaded, k < 0.
  Status validate(const SpeculativeParams& p) const;

  // Registers an admitted sequence; plain decoding when its method resolves to off.
  void add(SeqId seq, const SpeculativeParams& p, const SamplingParams& sampling);
  void remove(SeqId seq);

  // Draft lengths for this step's decoding sequences.
  std::vector<DraftSlots> plan(const Scheduler& sched);
  // Runs the drafters for the scheduled sequences that got draft slots.
  Status draft(const ScheduledBatch& batch, const Scheduler& sched);
  // The drafts sequence `seq` verifies this step (at most its slots).
  std::span<const TokenId> drafts(SeqId seq) const;
  // Verifies one sequence's drafts: rows = target logits [1 + drafts, n_vocab]
  // of [last, d_1 .. d_k]; history = its tokens before the drafts.
  VerifyResult verify(SeqId seq, Sampler& sampler, std::span<const float> rows, std::span<const TokenId> history);
  // After postprocess: the sequence's tokens now final (its drafter rolls
  // back past them) and how many drafts it kept.
  void finish_seq(SeqId seq, int32_t num_final_tokens, int32_t drafted, int32_t accepted);
  // Step time of the verification pass (forward + sampling) over n tokens,
  // for the cost model; only decode-only steps are representative.
  void observe_step(int32_t n_tokens, double attended, double seconds) { cost_.observe(n_tokens, seconds, attended); }

  // The outcome check (adaptive mode, OutcomeCheck): a step took `seconds`
  // for `tokens` (tokens produced plus prompt tokens computed); `drafted`
  // when it verified drafts.
  void record_step(bool drafted, double seconds, int32_t tokens);

  const SpecStats& stats() const { return stats_; }
  const StepCost& cost() const { return cost_; }
  bool has_draft_model() const { return draft_model_ != nullptr; }
  const Drafter* self_spec() const { return self_spec_.get(); }

 private:
  struct SeqState {
    Drafter* drafter = nullptr;
    int32_t max_k = 0;
    bool greedy = true;
    Acceptance acc{0.6};
    std::unique_ptr<Sampler> draft_sampler;  // sampled requests with a model drafter
    Draft draft;                             // this step's
    int32_t slots = 0;                       // granted by the scheduler this step
  };
  Speculator() = default;
  Drafter* drafter_for(SpecMethod m) const;
  void calibrate();  // first StepCost points: a few forward passes on a scratch cache

  SpeculativeOptions opt_;
  const Model* target_ = nullptr;
  ThreadPool* pool_ = nullptr;
  std::unique_ptr<Drafter> ngram_, draft_model_, self_spec_;
  std::unordered_map<SeqId, SeqState> seqs_;
  StepCost cost_;
  double draft_step_s_[kDrafterKinds] = {};  // per DrafterKind: EMA seconds per batched draft position
  bool calibrated_ = false;
  OutcomeCheck outcome_[kDrafterKinds];  // per DrafterKind, so one drafter cannot veto another
  uint32_t drafted_kinds_ = 0;  // bit per DrafterKind that drafted in this step
  // Per DrafterKind over all sequences: a new sequence's starting estimate.
  Acceptance drafter_acc_[kDrafterKinds] = {Acceptance(0.6), Acceptance(0.6), Acceptance(0.6)};
  double excluded_s_ = 0;  // time inside the current step not to count (calibration)
  int64_t steps_ = 0;  // steps that would draft
  SpecStats stats_;
  std::vector<float> p_, scratch_;
  std::vector<TokenId> hist_;
};

}  // namespace tern::spec
