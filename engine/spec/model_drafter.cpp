#include "spec/model_drafter.h"

#include <algorithm>
#include <cassert>
#include <set>

#include "sample/sampler.h"

namespace tern::spec {

namespace {

TokenId argmax(std::span<const float> x) {
  size_t best = 0;
  for (size_t i = 1; i < x.size(); ++i)
    if (x[i] > x[best]) best = i;
  return static_cast<TokenId>(best);
}

}  // namespace

Status draft_autoregressive(ModelRunner& runner, std::span<const DraftRequest> reqs, std::span<const int32_t> from,
                            std::span<const std::span<const int32_t>> tables, std::vector<Draft>* out) {
  const size_t vocab = static_cast<size_t>(runner.model().config().n_vocab);
  out->assign(reqs.size(), Draft{});
  std::vector<std::vector<TokenId>> history(reqs.size());
  std::vector<TokenId> tokens;
  std::vector<int32_t> positions, seq_index, rows;
  std::vector<size_t> who;  // request of each logit row
  std::vector<float> logits;
  int32_t depth = 0;
  for (const DraftRequest& r : reqs) depth = std::max(depth, r.k);
  for (int32_t step = 0; step < depth; ++step) {
    tokens.clear();
    positions.clear();
    seq_index.clear();
    rows.clear();
    who.clear();
    std::vector<std::span<const int32_t>> used_tables;
    for (size_t i = 0; i < reqs.size(); ++i) {
      const DraftRequest& r = reqs[i];
      // Stop early for a request whose previous draft could not be made.
      if (r.k <= step || static_cast<int32_t>((*out)[i].tokens.size()) != step) continue;
      const int32_t len = static_cast<int32_t>(r.tokens.size());
      const int32_t s = static_cast<int32_t>(used_tables.size());
      used_tables.push_back(tables[i]);
      if (step == 0) {
        for (int32_t p = from[i]; p < len; ++p) {
          tokens.push_back(r.tokens[static_cast<size_t>(p)]);
          positions.push_back(p);
          seq_index.push_back(s);
        }
      } else {
        tokens.push_back((*out)[i].tokens.back());
        positions.push_back(len - 1 + step);
        seq_index.push_back(s);
      }
      rows.push_back(static_cast<int32_t>(tokens.size()) - 1);
      who.push_back(i);
    }
    if (tokens.empty()) break;
    logits.resize(rows.size() * vocab);
    TERN_RETURN_IF_ERROR(runner.forward(ForwardBatch{tokens, positions, seq_index, used_tables, rows}, logits.data()));
    for (size_t row = 0; row < who.size(); ++row) {
      const size_t i = who[row];
      const DraftRequest& r = reqs[i];
      Draft& d = (*out)[i];
      const std::span<const float> l(&logits[row * vocab], vocab);
      if (!r.sampler) {
        d.tokens.push_back(argmax(l));
        continue;
      }
      std::vector<TokenId>& h = history[i];
      if (h.empty()) h.assign(r.tokens.begin(), r.tokens.end());
      const size_t off = d.probs.size();
      d.probs.resize(off + vocab);
      const std::span<float> q(&d.probs[off], vocab);
      r.sampler->probs(l, h, q);
      const TokenId t = r.sampler->draw(q);
      d.tokens.push_back(t);
      h.push_back(t);
    }
  }
  return Status::Ok();
}

// ------------------------------------------------------------------ draft model

Result<std::unique_ptr<DraftModelDrafter>> DraftModelDrafter::create(const std::string& path, const Model& target,
                                                                     ThreadPool& pool, int32_t block_size,
                                                                     int64_t max_tokens) {
  auto d = std::unique_ptr<DraftModelDrafter>(new DraftModelDrafter());
  TERN_ASSIGN_OR_RETURN(d->model_, Model::load(path));
  const ModelConfig& dc = d->model_->config();
  const ModelConfig& tc = target.config();
  if (dc.n_vocab != tc.n_vocab)
    return InvalidArgument("draft model " + path + " has a vocabulary of " + std::to_string(dc.n_vocab) +
                           " tokens; the target's has " + std::to_string(tc.n_vocab));
  for (TokenId t = 0; t < tc.n_vocab; ++t) {
    if (d->model_->tokenizer().token_text(t) != target.tokenizer().token_text(t))
      return InvalidArgument("draft model " + path + " has a different vocabulary (token " + std::to_string(t) +
                             " differs)");
  }
  const int32_t n_blocks = static_cast<int32_t>(std::max<int64_t>(4, (max_tokens + block_size - 1) / block_size));
  d->kv_ = std::make_unique<KvPool>(dc.n_layers, dc.kv_dim(), block_size, n_blocks, KvType::kF16);
  d->runner_ = std::make_unique<ModelRunner>(*d->model_, *d->kv_, pool);
  d->free_blocks_.resize(static_cast<size_t>(n_blocks));
  for (int32_t b = 0; b < n_blocks; ++b) d->free_blocks_[static_cast<size_t>(b)] = n_blocks - 1 - b;
  return d;
}

bool DraftModelDrafter::reserve(SeqState& s, int32_t positions) {
  const int32_t bs = kv_->block_size();
  const size_t need = static_cast<size_t>((positions + bs - 1) / bs);
  if (need > s.blocks.size() + free_blocks_.size()) return false;
  while (s.blocks.size() < need) {
    s.blocks.push_back(free_blocks_.back());
    free_blocks_.pop_back();
  }
  return true;
}

Status DraftModelDrafter::propose(std::span<const DraftRequest> reqs, std::vector<Draft>* out) {
  std::vector<DraftRequest> run(reqs.begin(), reqs.end());
  std::vector<int32_t> from(reqs.size(), 0);
  std::vector<std::span<const int32_t>> tables(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    SeqState& s = seqs_[reqs[i].key];
    const int32_t len = static_cast<int32_t>(reqs[i].tokens.size());
    s.computed = std::min(s.computed, len - 1);  // the newest token is always computed here
    // Positions up to len - 2 + k get K/V (the last draft's are never needed).
    if (!reserve(s, len - 1 + reqs[i].k)) run[i].k = 0;  // draft cache full: no draft this step
    from[i] = s.computed;
    tables[i] = s.blocks;
  }
  TERN_RETURN_IF_ERROR(draft_autoregressive(*runner_, run, from, tables, out));
  for (size_t i = 0; i < reqs.size(); ++i) {
    if (run[i].k == 0) continue;
    SeqState& s = seqs_[reqs[i].key];
    const int32_t made = static_cast<int32_t>((*out)[i].tokens.size());
    // The first pass computed up to the newest token, each later one a draft.
    if (made > 0) s.computed = static_cast<int32_t>(reqs[i].tokens.size()) + made - 1;
  }
  return Status::Ok();
}

void DraftModelDrafter::rollback(int64_t key, int32_t num_final) {
  auto it = seqs_.find(key);
  if (it == seqs_.end()) return;
  it->second.computed = std::min(it->second.computed, num_final);
}

void DraftModelDrafter::release(int64_t key) {
  auto it = seqs_.find(key);
  if (it == seqs_.end()) return;
  free_blocks_.insert(free_blocks_.end(), it->second.blocks.begin(), it->second.blocks.end());
  seqs_.erase(it);
}

// ------------------------------------------------------------------ self-speculation

std::vector<std::vector<int32_t>> skip_layer_candidates(int32_t n_layers) {
  std::vector<int32_t> inner;
  for (int32_t l = 1; l + 1 < n_layers; ++l) inner.push_back(l);
  const int32_t m = static_cast<int32_t>(inner.size());
  std::vector<std::vector<int32_t>> sets;
  auto every = [&](int32_t step) {
    std::vector<int32_t> s;
    for (int32_t i = 0; i < m; i += step) s.push_back(inner[static_cast<size_t>(i)]);
    return s;
  };
  auto middle = [&](int32_t size) {
    std::vector<int32_t> s;
    const int32_t begin = (m - size) / 2;
    for (int32_t i = begin; i < begin + size; ++i) s.push_back(inner[static_cast<size_t>(i)]);
    return s;
  };
  if (m > 0) {
    sets.push_back(every(2));
    sets.push_back(every(3));
    sets.push_back(middle((m + 1) / 2));
    sets.push_back(middle(std::max(1, m / 4)));
    std::vector<int32_t> upper(inner.begin() + m / 2, inner.end());
    sets.push_back(upper);
  }
  std::vector<std::vector<int32_t>> out;
  std::set<std::vector<int32_t>> seen;
  for (auto& s : sets)
    if (!s.empty() && seen.insert(s).second) out.push_back(std::move(s));
  return out;
}

SelfSpecDrafter::SelfSpecDrafter(const Model& target, KvPool& target_kv, ThreadPool& pool, std::vector<int32_t> fixed)
    : model_(target), runner_(target, target_kv, pool) {
  if (!fixed.empty()) {
    candidates_.push_back(Candidate{std::move(fixed)});
  } else {
    for (auto& s : skip_layer_candidates(target.config().n_layers)) candidates_.push_back(Candidate{std::move(s)});
    if (candidates_.empty()) candidates_.push_back(Candidate{});  // 1-2 layers: nothing to skip
  }
  apply();
}

void SelfSpecDrafter::apply() {
  std::vector<uint8_t> skip(static_cast<size_t>(model_.config().n_layers), 0);
  for (int32_t l : candidates_[current_].layers) skip[static_cast<size_t>(l)] = 1;
  runner_.set_skip_layers(std::move(skip));
}

double SelfSpecDrafter::active_fraction() const {
  const double n = model_.config().n_layers;
  return (n - static_cast<double>(candidates_[current_].layers.size())) / n;
}

// Expected tokens per unit of time with the best draft length, counting a
// draft position as the active share of a full pass and verification as one.
double SelfSpecDrafter::score(const Candidate& c) const {
  const double n = model_.config().n_layers;
  const double frac = (n - static_cast<double>(c.layers.size())) / n;
  double best = 0;
  for (int32_t k = 1; k <= 8; ++k) best = std::max(best, expected_tokens(c.acc.rate(), k) / (1.0 + k * frac));
  return best;
}

void SelfSpecDrafter::feedback(int32_t drafted, int32_t accepted) {
  if (drafted <= 0) return;
  Candidate& c = candidates_[current_];
  c.acc.update(drafted, accepted);
  c.drafted += drafted;
  window_drafted_ += drafted;
  if (candidates_.size() == 1 || window_drafted_ < 64) return;
  window_drafted_ = 0;
  ++windows_;
  // First try every candidate once; then the best, re-trying the least tried
  // one every 8th window (acceptance depends on the text being generated).
  size_t next = current_;
  auto untried = std::find_if(candidates_.begin(), candidates_.end(), [](const Candidate& x) { return x.drafted == 0; });
  if (untried != candidates_.end()) {
    next = static_cast<size_t>(untried - candidates_.begin());
  } else if (windows_ % 8 == 0) {
    next = static_cast<size_t>(std::min_element(candidates_.begin(), candidates_.end(), [](const Candidate& a, const Candidate& b) {
                                 return a.drafted < b.drafted;
                               }) - candidates_.begin());
  } else {
    for (size_t i = 0; i < candidates_.size(); ++i)
      if (score(candidates_[i]) > score(candidates_[next])) next = i;
  }
  if (next != current_) {
    current_ = next;
    apply();
  }
}

Status SelfSpecDrafter::propose(std::span<const DraftRequest> reqs, std::vector<Draft>* out) {
  // Drafts attend over the target's own K/V of the context and write theirs
  // to the slots the verification pass overwrites next.
  std::vector<int32_t> from(reqs.size());
  std::vector<std::span<const int32_t>> tables(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    from[i] = static_cast<int32_t>(reqs[i].tokens.size()) - 1;
    tables[i] = reqs[i].block_table;
  }
  return draft_autoregressive(runner_, reqs, from, tables, out);
}

}  // namespace tern::spec
