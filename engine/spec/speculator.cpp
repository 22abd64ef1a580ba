#include "spec/speculator.h"

#include <algorithm>
#include <cassert>
#include <numeric>

#include "model/model_runner.h"
#include "spec/model_drafter.h"
#include "spec/ngram_drafter.h"

namespace tern {

const char* spec_method_name(SpecMethod m) {
  switch (m) {
    case SpecMethod::kDefault: return "default";
    case SpecMethod::kOff: return "off";
    case SpecMethod::kNgram: return "ngram";
    case SpecMethod::kDraftModel: return "draft-model";
    case SpecMethod::kSelfSpec: return "self-spec";
  }
  return "?";
}

bool parse_spec_method(const std::string& name, SpecMethod* out) {
  static const std::pair<const char*, SpecMethod> kNames[] = {
      {"default", SpecMethod::kDefault}, {"off", SpecMethod::kOff},         {"none", SpecMethod::kOff},
      {"ngram", SpecMethod::kNgram},     {"draft-model", SpecMethod::kDraftModel}, {"draft", SpecMethod::kDraftModel},
      {"self-spec", SpecMethod::kSelfSpec}};
  for (const auto& [n, m] : kNames)
    if (name == n) {
      *out = m;
      return true;
    }
  return false;
}

}  // namespace tern

namespace tern::spec {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
constexpr int32_t kMaxDraftTokens = 32;
}  // namespace

Result<std::unique_ptr<Speculator>> Speculator::create(const SpeculativeOptions& o, const Model& target,
                                                       KvPool& target_kv, ThreadPool& pool, int64_t max_kv_tokens) {
  if (o.max_draft_tokens < 1 || o.max_draft_tokens > kMaxDraftTokens)
    return InvalidArgument("max draft tokens must be between 1 and " + std::to_string(kMaxDraftTokens));
  if (o.ngram_min < 1 || o.ngram_max < o.ngram_min || o.ngram_max > 64)
    return InvalidArgument("n-gram lengths must satisfy 1 <= min <= max <= 64");
  if (o.method == SpecMethod::kDraftModel && o.draft_model_path.empty())
    return InvalidArgument("speculative method draft-model needs a draft model (--draft-model FILE)");
  const int32_t n_layers = target.config().n_layers;
  for (int32_t l : o.self_spec_skip_layers)
    if (l < 0 || l >= n_layers)
      return InvalidArgument("self-speculative skip layer " + std::to_string(l) + " is outside 0.." +
                             std::to_string(n_layers - 1));
  if (static_cast<int32_t>(o.self_spec_skip_layers.size()) >= n_layers)
    return InvalidArgument("self-speculation must keep at least one layer");
  auto s = std::unique_ptr<Speculator>(new Speculator());
  s->opt_ = o;
  s->target_ = &target;
  s->pool_ = &pool;
  s->ngram_ = std::make_unique<NgramDrafter>(o.ngram_min, o.ngram_max);
  s->self_spec_ = std::make_unique<SelfSpecDrafter>(target, target_kv, pool, o.self_spec_skip_layers);
  if (!o.draft_model_path.empty()) {
    TERN_ASSIGN_OR_RETURN(s->draft_model_, DraftModelDrafter::create(o.draft_model_path, target, pool,
                                                                     target_kv.block_size(), max_kv_tokens));
  }
  s->cost_ = StepCost(4096);
  s->stats_.accepted_per_pos.assign(static_cast<size_t>(o.max_draft_tokens), 0);
  return s;
}

Drafter* Speculator::drafter_for(SpecMethod m) const {
  if (m == SpecMethod::kDefault) m = opt_.method;
  switch (m) {
    case SpecMethod::kNgram: return ngram_.get();
    case SpecMethod::kDraftModel: return draft_model_.get();
    case SpecMethod::kSelfSpec: return self_spec_.get();
    default: return nullptr;
  }
}

Status Speculator::validate(const SpeculativeParams& p) const {
  if (p.max_draft_tokens < 0) return InvalidArgument("speculative max_draft_tokens must be >= 0");
  const SpecMethod m = p.method == SpecMethod::kDefault ? opt_.method : p.method;
  if (m == SpecMethod::kDraftModel && !draft_model_)
    return InvalidArgument("speculative method draft-model: the server was started without a draft model");
  return Status::Ok();
}

void Speculator::add(SeqId seq, const SpeculativeParams& p, const SamplingParams& sampling) {
  Drafter* d = drafter_for(p.method);
  if (!d) return;
  SeqState st;
  st.drafter = d;
  st.max_k = p.max_draft_tokens > 0 ? std::min(p.max_draft_tokens, opt_.max_draft_tokens) : opt_.max_draft_tokens;
  st.greedy = sampling.temperature <= 0.0f;
  // A new sequence starts from its drafter's recent acceptance (over the
  // sequences before it), not from a fixed prior: short requests would
  // otherwise spend their few steps re-learning what the last ones showed.
  st.acc = Acceptance(drafter_acc_[static_cast<int>(d->kind())].rate());
  if (!st.greedy && d->runs_model()) {
    SamplingParams q = sampling;
    if (q.seed != 0xFFFFFFFFFFFFFFFFull) q.seed ^= 0x5DEECE66Dull;  // its own stream, reproducible per seed
    st.draft_sampler = std::make_unique<Sampler>(q, target_->config().n_vocab);
  }
  seqs_[seq] = std::move(st);
}

void Speculator::remove(SeqId seq) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return;
  it->second.drafter->release(seq);
  seqs_.erase(it);
}

void Speculator::calibrate() {
  calibrated_ = true;
  const auto t_start = Clock::now();
  struct Exclude {  // however calibration returns, the step's outcome check must not count it
    Speculator* s;
    Clock::time_point t;
    ~Exclude() { s->excluded_s_ += seconds_since(t); }
  } exclude{this, t_start};
  const ModelConfig& c = target_->config();
  // Passes over n = 1..16 tokens at positions 0.. give M(n); 16 tokens at
  // positions 240..255 (after a prefill that writes the K/V they read) give
  // the attention cost per attended position.
  constexpr int32_t kMaxN = 16, kCtx = 256;
  KvPool kv(c.n_layers, c.kv_dim(), kMaxN, kCtx / kMaxN, KvType::kF16);
  ModelRunner runner(*target_, kv, *pool_);
  std::vector<int32_t> table(kCtx / kMaxN);
  std::iota(table.begin(), table.end(), 0);
  std::vector<float> logits(static_cast<size_t>(kMaxN) * static_cast<size_t>(c.n_vocab));
  auto run = [&](int32_t n, int32_t start, int reps, bool all_logits) -> double {
    std::vector<TokenId> toks(static_cast<size_t>(n), std::min<TokenId>(3, c.n_vocab - 1));
    std::vector<int32_t> pos(static_cast<size_t>(n)), sidx(static_cast<size_t>(n), 0);
    std::iota(pos.begin(), pos.end(), start);
    std::vector<int32_t> rows(all_logits ? static_cast<size_t>(n) : 1);
    std::iota(rows.begin(), rows.end(), all_logits ? 0 : n - 1);
    double best = -1;
    for (int rep = 0; rep < reps; ++rep) {
      const auto t0 = Clock::now();
      if (!runner.forward(ForwardBatch{toks, pos, sidx, {table}, rows}, logits.data()).ok()) return -1;
      const double t = seconds_since(t0);
      if (best < 0 || t < best) best = t;
    }
    return best;
  };
  double near = 0;
  for (int32_t n : {1, 2, 4, 8, 16}) {
    const double t = run(n, 0, 3, true);
    if (t < 0) return;
    cost_.observe(n, t);
    if (n == kMaxN) near = t;
  }
  if (run(kCtx - kMaxN, 0, 1, false) < 0) return;  // K/V of positions 0..239
  const double far = run(kMaxN, kCtx - kMaxN, 3, true);
  // Attended positions: 16 tokens at 240..255 vs at 0..15.
  const double extra = kMaxN * static_cast<double>(kCtx - kMaxN);
  if (far > near) cost_.set_attention_cost((far - near) / extra);
  const double t1 = cost_.seconds(1);
  draft_step_s_[static_cast<int>(DrafterKind::kSelfSpec)] =
      t1 * static_cast<const SelfSpecDrafter*>(self_spec_.get())->active_fraction();
  if (draft_model_) {
    const auto* dm = static_cast<const DraftModelDrafter*>(draft_model_.get());
    draft_step_s_[static_cast<int>(DrafterKind::kDraftModel)] =
        t1 * static_cast<double>(dm->model().weight_bytes_per_token()) /
        static_cast<double>(std::max<uint64_t>(1, target_->weight_bytes_per_token()));
  }
}

std::vector<DraftSlots> Speculator::plan(const Scheduler& sched) {
  std::vector<DraftSlots> slots;
  drafted_kinds_ = 0;
  if (seqs_.empty()) return slots;
  const SchedulerConfig& sc = sched.config();
  int32_t decodes = 0, prefill = 0;
  double base_attended = 0;
  std::vector<PlanInput> inputs;
  std::vector<SeqId> ids;
  // A step that would draft (a registered sequence decodes) counts for the
  // outcome check (one per drafter kind, so that a drafter that does not pay
  // cannot veto one that does); vetoed and probe steps skip even the n-gram
  // lookups.
  bool candidate = false;
  for (const Sequence* s : sched.running()) candidate = candidate || (s->is_decode() && seqs_.count(s->id()));
  if (!candidate) return slots;
  ++steps_;
  for (const Sequence* s : sched.running()) {
    if (!s->is_decode()) {
      const int32_t n = s->num_uncomputed_tokens();
      prefill += n;
      base_attended += static_cast<double>(n) * (s->num_computed_tokens() + (n + 1) / 2.0);
      continue;
    }
    ++decodes;
    base_attended += s->num_tokens();
    auto it = seqs_.find(s->id());
    if (it == seqs_.end()) continue;
    SeqState& st = it->second;
    st.draft = Draft{};
    st.slots = 0;
    if (opt_.adaptive && !outcome_[static_cast<int>(st.drafter->kind())].may_draft(steps_)) continue;
    int32_t cap = st.max_k;
    if (s->stop().max_tokens > 0) cap = std::min(cap, s->stop().max_tokens - s->num_output_tokens() - 1);
    if (cap <= 0) continue;
    if (st.drafter->kind() == DrafterKind::kNgram) {
      // Free: propose now, so the plan knows how long the proposal is.
      DraftRequest r;
      r.key = s->id();
      r.tokens = s->tokens();
      r.k = cap;
      std::vector<Draft> out;
      (void)st.drafter->propose(std::span<const DraftRequest>(&r, 1), &out);
      st.draft = std::move(out[0]);
      cap = static_cast<int32_t>(st.draft.tokens.size());
      if (cap == 0) continue;
    }
    inputs.push_back({st.acc.rate(), cap, st.drafter->runs_model(), s->num_tokens()});
    ids.push_back(s->id());
  }
  if (inputs.empty()) return slots;  // vetoed, a plain probe step, or nothing to propose
  std::vector<int32_t> k(inputs.size());
  if (!opt_.adaptive) {
    for (size_t i = 0; i < inputs.size(); ++i) k[i] = inputs[i].max_draft;
  } else {
    if (!calibrated_) calibrate();
    PlanConfig pc;
    pc.base_tokens = decodes + std::min(prefill, std::max(0, sc.max_batch_tokens - decodes));
    pc.base_attended = base_attended;
    pc.max_extra = sc.max_batch_tokens - pc.base_tokens;
    double step = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i].model_drafter) continue;
      step = std::max(step, draft_step_s_[static_cast<int>(seqs_[ids[i]].drafter->kind())]);
    }
    pc.draft_step_seconds = step;
    k = plan_draft_lengths(inputs, cost_, pc);
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    SeqState& st = seqs_[ids[i]];
    // Exploration: a drafter with (almost) no evidence yet gets a short
    // draft every 8th step, so that a pessimistic prior cannot keep it from
    // ever being measured (the outcome check still guards the cost).
    if (opt_.adaptive && k[i] == 0 && steps_ % 8 == 1 &&
        drafter_acc_[static_cast<int>(st.drafter->kind())].evidence() < 4)
      k[i] = std::min(2, inputs[i].max_draft);
    if (k[i] > 0) {
      slots.push_back({ids[i], k[i]});
      drafted_kinds_ |= 1u << static_cast<int>(st.drafter->kind());
    } else {
      st.acc.idle();
      st.draft = Draft{};
    }
  }
  return slots;
}

Status Speculator::draft(const ScheduledBatch& batch, const Scheduler& sched) {
  // Group the model drafters' requests; n-gram drafts exist already.
  std::vector<DraftRequest> reqs[kDrafterKinds];
  std::vector<SeqState*> owners[kDrafterKinds];
  for (const ScheduledSeq& e : batch.seqs) {
    auto it = seqs_.find(e.seq_id);
    if (it == seqs_.end()) continue;
    SeqState& st = it->second;
    st.slots = e.num_draft;
    if (e.num_draft == 0) {
      st.draft = Draft{};
      continue;
    }
    if (st.drafter->kind() == DrafterKind::kNgram) {
      if (static_cast<int32_t>(st.draft.tokens.size()) > e.num_draft) st.draft.tokens.resize(static_cast<size_t>(e.num_draft));
      continue;
    }
    const int kind = static_cast<int>(st.drafter->kind());
    DraftRequest r;
    r.key = e.seq_id;
    r.tokens = sched.find(e.seq_id)->tokens();
    r.k = e.num_draft;
    r.sampler = st.greedy ? nullptr : st.draft_sampler.get();
    r.block_table = sched.block_table(e.seq_id).blocks;
    reqs[kind].push_back(r);
    owners[kind].push_back(&st);
  }
  for (int kind = 0; kind < kDrafterKinds; ++kind) {
    if (reqs[kind].empty()) continue;
    Drafter* d = owners[kind][0]->drafter;
    std::vector<Draft> out;
    int32_t depth = 0;
    for (const DraftRequest& r : reqs[kind]) depth = std::max(depth, r.k);
    const auto t0 = Clock::now();
    TERN_RETURN_IF_ERROR(d->propose(reqs[kind], &out));
    const double per_pos = seconds_since(t0) / std::max(1, depth);
    double& ema = draft_step_s_[kind];
    ema = ema == 0 ? per_pos : 0.8 * ema + 0.2 * per_pos;
    for (size_t i = 0; i < out.size(); ++i) owners[kind][i]->draft = std::move(out[i]);
  }
  return Status::Ok();
}

std::span<const TokenId> Speculator::drafts(SeqId seq) const {
  auto it = seqs_.find(seq);
  if (it == seqs_.end() || it->second.slots == 0) return {};
  const auto& t = it->second.draft.tokens;
  return std::span<const TokenId>(t.data(), std::min<size_t>(t.size(), static_cast<size_t>(it->second.slots)));
}

VerifyResult Speculator::verify(SeqId seq, Sampler& sampler, std::span<const float> rows,
                                std::span<const TokenId> history) {
  const std::span<const TokenId> d = drafts(seq);
  const size_t vocab = static_cast<size_t>(target_->config().n_vocab);
  assert(rows.size() == (d.size() + 1) * vocab);
  auto row = [&](size_t j) { return rows.subspan(j * vocab, vocab); };
  hist_.assign(history.begin(), history.end());
  const SeqState& st = seqs_.at(seq);
  if (st.greedy) {
    // Targets one position at a time, until the first mismatch.
    std::vector<TokenId> targets;
    for (size_t j = 0; j <= d.size(); ++j) {
      targets.push_back(sampler.sample(row(j), hist_));
      if (j == d.size() || targets.back() != d[j]) break;
      hist_.push_back(d[j]);
    }
    return verify_greedy(d.first(targets.size() - 1), targets);
  }
  p_.resize(vocab);
  int32_t built = -1;
  auto p = [&](int32_t j) -> std::span<const float> {
    // Positions are reached in order; history grows by the kept drafts.
    assert(j == built + 1);
    if (j > 0) hist_.push_back(d[static_cast<size_t>(j - 1)]);
    sampler.probs(row(static_cast<size_t>(j)), hist_, p_);
    built = j;
    return p_;
  };
  const std::vector<float>& qs = st.draft.probs;
  auto q = [&](int32_t j) -> std::span<const float> {
    if (qs.empty()) return {};
    return std::span<const float>(qs).subspan(static_cast<size_t>(j) * vocab, vocab);
  };
  auto bonus = [&]() -> TokenId {
    if (!d.empty()) hist_.push_back(d.back());
    return sampler.sample(row(d.size()), hist_);
  };
  return verify_sampled(d, p, q, [&] { return sampler.uniform(); },
                        [&](std::span<const float> w) { return sampler.draw(w); }, bonus);
}

void Speculator::record_step(bool drafted, double seconds, int32_t tokens) {
  seconds -= excluded_s_;  // the one-off calibration ran inside this step
  excluded_s_ = 0;
  for (int kind = 0; kind < kDrafterKinds; ++kind)
    outcome_[kind].record(steps_, drafted && (drafted_kinds_ >> kind & 1u), seconds, tokens);
}

void Speculator::finish_seq(SeqId seq, int32_t num_final_tokens, int32_t drafted, int32_t accepted) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return;
  SeqState& st = it->second;
  st.drafter->rollback(seq, num_final_tokens);
  if (drafted <= 0) return;
  st.acc.update(drafted, accepted);
  drafter_acc_[static_cast<int>(st.drafter->kind())].update(drafted, accepted);
  st.drafter->feedback(drafted, accepted);
  ++stats_.drafts;
  stats_.draft_tokens += drafted;
  stats_.accepted_tokens += accepted;
  for (int32_t j = 0; j < accepted && j < static_cast<int32_t>(stats_.accepted_per_pos.size()); ++j)
    ++stats_.accepted_per_pos[static_cast<size_t>(j)];
}

}  // namespace tern::spec
