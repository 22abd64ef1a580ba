// The adaptive draft-length controller: how many draft tokens each decoding
// sequence gets this step, from each sequence's running acceptance and the
// measured cost of a forward pass. Plain code, no model (tests script it).
//
// Model. A sequence whose drafts are each kept with probability a (its running
// estimate) gains a^j expected tokens from its j-th draft token (the j-th is
// useful only if the j - 1 before it were kept). A step that computes n
// tokens costs T(n) (StepCost, measured) plus the drafting: nothing for
// n-gram lookup, depth x t_draft for drafters that run a model once per draft
// position (depth = the longest draft among them, since they run batched).
// The plan picks the draft tokens that maximize expected tokens per second
// of the whole step,
//
//     R(m) = (B + sum of the m largest gains) / (T(n0 + m) + draft_cost),
//
// over m = 0..M (gains sorted; a sequence's gains decrease with j, so every
// prefix of the sorted list is a valid set of per-sequence lengths). m = 0 is
// plain decoding; speculation is used only when R(m) beats R(0) by `margin`.
// So it switches itself off where it cannot pay: at large batches T(n) grows
// about linearly in n (compute-bound) and each extra token costs what a whole
// decoded token is worth; with low acceptance the gains are too small.
//
// Exploration: a sequence that got no drafts has its estimate drift back to
// the prior (Acceptance::idle), so it is retried once in a while.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace tern::spec {

// Running per-token acceptance probability of one sequence: exponentially
// decayed counts of kept and rejected drafts, with a prior worth `prior_weight`
// observations.
class Acceptance {
 public:
  explicit Acceptance(double prior = 0.5, double prior_weight = 2.0, double decay = 0.9)
      : prior_(prior), prior_weight_(prior_weight), decay_(decay) {}
  // After verifying `drafted` tokens of which the first `accepted` were kept.
  void update(int32_t drafted, int32_t accepted);
  // A step without drafts: the evidence fades a little towards the prior.
  void idle() { kept_ *= 0.97; rejected_ *= 0.97; }
  double rate() const { return (kept_ + prior_ * prior_weight_) / (kept_ + rejected_ + prior_weight_); }
  double evidence() const { return kept_ + rejected_; }  // decayed observations behind rate()

 private:
  double prior_, prior_weight_, decay_;
  double kept_ = 0, rejected_ = 0;
};

// Step time of a forward pass over n tokens (each with logits) that attend
// to `attended` positions in total (sum of position + 1 over the tokens):
// T = M(n) + c * attended. M is learned from measurements, an exponential
// moving average per n (exact up to 64, then per 8), interpolated linearly
// between measured points and extrapolated from the last two beyond them; c
// (seconds per attended position) is measured once (set_attention_cost).
// The attention term matters for small models at long contexts, where extra
// tokens are not nearly free even at batch 1.
class StepCost {
 public:
  explicit StepCost(int32_t max_tokens = 4096, double alpha = 0.2);
  void observe(int32_t n, double seconds, double attended = 0);
  void set_attention_cost(double seconds_per_position) { attn_ = seconds_per_position; }
  double attention_cost() const { return attn_; }
  bool known() const;                 // at least two distinct n measured
  double seconds(int32_t n, double attended = 0) const;  // estimate; 0 when nothing is known

 private:
  int32_t bucket(int32_t n) const { return n <= 64 ? n : 64 + (n - 64 + 7) / 8; }
  int32_t bucket_n(int32_t b) const { return b <= 64 ? b : 64 + (b - 64) * 8; }
  double matmul_seconds(int32_t n) const;
  double alpha_;
  double attn_ = 0;
  std::vector<double> t_;   // M per bucket; 0: not measured
};

struct PlanInput {
  double acceptance = 0;   // Acceptance::rate()
  int32_t max_draft = 0;   // cap: request/engine k, proposal length, room left
  bool model_drafter = false;  // drafting runs a model per position (cost depth x draft_step)
  int32_t context = 0;     // tokens so far: the j-th draft attends to context + j positions
};

struct PlanConfig {
  int32_t base_tokens = 0;      // tokens the step computes without drafts (decodes + prefill chunks)
  double base_attended = 0;     // positions those tokens attend to, summed
  int32_t max_extra = 1 << 20;  // token budget left for drafts
  double draft_step_seconds = 0;  // one batched drafting position of the model drafters
  double margin = 0.05;         // required relative gain over plain decoding (timing noise)
};

// The outcome check: wall time per produced token of whole decode-only
// steps (drafting, forward, verification), with and without drafts. Every
// `probe_every`-th step that would draft runs plain instead, as a probe; when
// drafting steps cost more per token than plain ones (by more than 5%, over
// at least 4 drafting steps since the last veto: one slow step is noise),
// drafting is vetoed for a while. The veto length doubles with each veto in
// a row (64, 128, ... up to 4096 steps), so a workload where drafting never
// pays spends ever fewer steps finding that out again; it falls back to 64
// once drafting steps are clearly cheaper (10%) than plain ones. This catches
// costs the
// plan's model misses (per-step overheads that dominate tiny models, a
// loaded machine). Plain code: tests script it.
class OutcomeCheck {
 public:
  static constexpr int64_t kMinVeto = 64, kMaxVeto = 4096, kProbeEvery = 16, kMinEvidence = 4;
  static constexpr double kTolerance = 0.05;
  // Whether step `step` (counted over steps that would draft) may draft.
  bool may_draft(int64_t step) const { return step >= veto_until_ && step % kProbeEvery != 0; }
  void record(int64_t step, bool drafted, double seconds, int32_t tokens);
  int64_t veto_until() const { return veto_until_; }
  int64_t veto_length() const { return veto_len_; }

 private:
  double plain_tpt_ = 0, spec_tpt_ = 0;  // EMA seconds per token
  int64_t spec_steps_ = 0;                // drafting steps measured since the last veto
  int64_t veto_until_ = 0, veto_len_ = kMinVeto;
};

// Draft length per sequence (same order as `seqs`). All zero when
// speculation does not pay or the cost model knows nothing yet.
std::vector<int32_t> plan_draft_lengths(std::span<const PlanInput> seqs, const StepCost& cost, const PlanConfig& cfg);

// Expected tokens per step of one sequence with draft length k and per-token
// acceptance a: 1 + a + ... + a^k.
double expected_tokens(double a, int32_t k);

}  // namespace tern::spec
