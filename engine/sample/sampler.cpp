#include "sample/sampler.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <limits>

#include "sample/exp.h"

namespace tern {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr uint64_t kRandomSeed = 0xFFFFFFFFFFFFFFFFull;

// The ranking every stage uses: larger logit first, then lower id. A strict
// total order (NaN logits are turned into -inf on entry), so "the k best" and
// "the smallest nucleus" are unique sets.
template <typename C>
bool better(const C& a, const C& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// Partitions c[lo, hi) (hi - lo >= 2) around a median-of-three pivot: on
// return c[lo, i) rank above c[i] and c[i+1, hi) below it. *mass_above gets
// the summed weight of c[lo, i). Deterministic: no library selection, so the
// resulting order is the same with every standard library.
template <typename C>
size_t partition(C* c, size_t lo, size_t hi, double* mass_above) {
  const size_t mid = lo + (hi - lo) / 2, last = hi - 1;
  if (better(c[mid], c[lo])) std::swap(c[mid], c[lo]);
  if (better(c[last], c[lo])) std::swap(c[last], c[lo]);
  if (better(c[last], c[mid])) std::swap(c[last], c[mid]);
  std::swap(c[mid], c[last]);  // median to the end as the pivot
  const C pivot = c[last];
  double mass = 0.0;
  size_t i = lo;
  for (size_t j = lo; j < last; ++j) {
    if (better(c[j], pivot)) {
      mass += c[j].weight;
      std::swap(c[i++], c[j]);
    }
  }
  std::swap(c[i], c[last]);
  *mass_above = mass;
  return i;
}

// Quickselect rounds before falling back to a sort of what is left. The
// comparator is a total order, so the sorted result is unique too.
int select_budget(size_t n) { return 2 * static_cast<int>(std::bit_width(n)) + 4; }

}  // namespace

Status Sampler::validate(const SamplingParams& p, int32_t n_vocab) {
  if (n_vocab <= 0) return InvalidArgument("sampler: vocabulary is empty");
  if (!std::isfinite(p.temperature)) return InvalidArgument("temperature must be a finite number");
  if (!std::isfinite(p.top_p) || p.top_p < 0.0f) return InvalidArgument("top_p must be >= 0");
  if (!std::isfinite(p.min_p) || p.min_p > 1.0f) return InvalidArgument("min_p must be <= 1");
  if (!std::isfinite(p.repetition_penalty) || p.repetition_penalty <= 0.0f) {
    return InvalidArgument("repetition_penalty must be > 0");
  }
  if (!std::isfinite(p.presence_penalty)) return InvalidArgument("presence_penalty must be finite");
  if (!std::isfinite(p.frequency_penalty)) return InvalidArgument("frequency_penalty must be finite");
  if (p.penalty_last_n < -1) return InvalidArgument("penalty_last_n must be >= -1");
  if (p.n_probs < 0) return InvalidArgument("n_probs must be >= 0");
  for (const auto& [token, bias] : p.logit_bias) {
    if (token < 0 || token >= n_vocab) {
      return InvalidArgument("logit_bias: token " + std::to_string(token) + " is outside the vocabulary");
    }
    if (std::isnan(bias) || bias == std::numeric_limits<float>::infinity()) {
      return InvalidArgument("logit_bias: bias must be a number or -infinity");
    }
  }
  return Status::Ok();
}

Sampler::Sampler(const SamplingParams& params, int32_t n_vocab)
    : params_(params),
      n_vocab_(n_vocab),
      seed_(params.seed),
      work_(n_vocab),
      weight_(n_vocab),
      cand_(n_vocab),
      counts_(n_vocab, 0) {
  assert(validate(params, n_vocab).ok());
  if (seed_ == kRandomSeed) {
    std::random_device rd;
    seed_ = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }
  rng_.seed(seed_);
}

double Sampler::uniform() {
  // The top 53 bits as a multiple of 2^-53: exactly representable, in [0, 1).
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

int32_t Sampler::draw(std::span<const float> weights) {
  double total = 0.0;
  for (float w : weights) total += w;
  if (!(total > 0.0)) return 0;
  const double target = uniform() * total;
  double acc = 0.0;
  int32_t last_positive = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] <= 0.0f) continue;
    acc += weights[i];
    last_positive = static_cast<int32_t>(i);
    if (target < acc) return last_positive;
  }
  return last_positive;  // target rounded up to the total
}

void Sampler::apply_penalties(std::span<const TokenId> history) {
  const SamplingParams& p = params_;
  const bool active = p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f;
  if (!active || p.penalty_last_n == 0 || history.empty()) return;
  if (p.penalty_last_n > 0 && history.size() > static_cast<size_t>(p.penalty_last_n)) {
    history = history.last(static_cast<size_t>(p.penalty_last_n));
  }
  auto in_vocab = [&](TokenId t) {
    assert(t >= 0 && t < n_vocab_);
    return t >= 0 && t < n_vocab_;
  };
  for (TokenId t : history) {
    if (in_vocab(t)) ++counts_[t];
  }
  // Second pass: penalize each distinct token once, zeroing its count so that
  // counts_ is all zero again for the next call (O(window), not O(V)).
  for (TokenId t : history) {
    if (!in_vocab(t) || counts_[t] == 0) continue;
    const int32_t count = counts_[t];
    counts_[t] = 0;
    float& logit = work_[t];
    if (p.repetition_penalty != 1.0f) {
      logit = logit > 0.0f ? logit / p.repetition_penalty : logit * p.repetition_penalty;
    }
    logit -= p.presence_penalty + p.frequency_penalty * static_cast<float>(count);
  }
}

size_t Sampler::top_k(size_t k) {
  // One pass over the vocabulary with a heap of the k best, worst on top:
  // most tokens cost one well-predicted comparison. Scanning in id order, an
  // equal logit never displaces an earlier (lower) id.
  Candidate* c = cand_.data();
  const float* w = work_.data();
  size_t size = 0;
  for (size_t i = 0; i < work_.size(); ++i) {
    if (size < k) {
      c[size++] = {w[i], 0.0f, static_cast<TokenId>(i)};
      std::push_heap(c, c + size, better<Candidate>);
    } else if (w[i] > c[0].logit) {
      std::pop_heap(c, c + size, better<Candidate>);
      c[size - 1] = {w[i], 0.0f, static_cast<TokenId>(i)};
      std::push_heap(c, c + size, better<Candidate>);
    }
  }
  // The heap's layout is the library's choice; a sort by the total order is
  // not, so the draw sees the same candidate order everywhere.
  std::sort(c, c + size, better<Candidate>);
  return size;
}

size_t Sampler::select_best(size_t n) {
  Candidate* c = cand_.data();
  size_t best = 0;
  for (size_t j = 1; j < n; ++j) {
    if (better(c[j], c[best])) best = j;
  }
  c[0] = c[best];
  return 1;
}

size_t Sampler::top_p(size_t n, double p, double total) {
  Candidate* c = cand_.data();
  double need = p * total;  // mass the kept set must reach
  size_t lo = 0, hi = n;
  int budget = select_budget(n);
  // Invariant: c[0, lo) are kept and rank above c[lo, n); c[hi, n) are not
  // needed; the cut lies in (lo, hi]; need > 0 is the mass still missing.
  while (hi - lo > 1) {
    if (budget-- == 0) {
      std::sort(c + lo, c + hi, better<Candidate>);
      for (size_t j = lo; j < hi; ++j) {
        need -= c[j].weight;
        if (need <= 0.0) return j + 1;
      }
      return hi;
    }
    double above;
    const size_t i = partition(c, lo, hi, &above);
    if (above >= need) {
      hi = i;  // above > 0, so i > lo
    } else if (above + c[i].weight >= need) {
      return i + 1;
    } else {
      need -= above + c[i].weight;
      lo = i + 1;
    }
  }
  return std::max<size_t>(hi, 1);
}

size_t Sampler::min_p(size_t n, float min_p) {
  // prob_i >= min_p * prob_max  <=>  weight_i >= min_p, since the best
  // candidate's weight is exp(0) == 1. Stable, so the order stays the same.
  size_t kept = 0;
  for (size_t j = 0; j < n; ++j) {
    if (cand_[j].weight >= min_p) cand_[kept++] = cand_[j];
  }
  return kept;
}

namespace {

// Sum in double with eight independent accumulators: exact enough for 152k
// terms, not latency-bound, and the same order (so the same bits) every time.
double sum_weights(const float* w, size_t n) {
  double acc[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += w[i + j];
  }
  for (; i < n; ++i) acc[0] += w[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Summed weight of c[0, n), four chains for throughput, fixed order.
template <typename C>
double candidate_mass(const C* c, size_t n) {
  double acc[4] = {};
  size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    for (int k = 0; k < 4; ++k) acc[k] += c[j + k].weight;
  }
  for (; j < n; ++j) acc[0] += c[j].weight;
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

// max(w[0, n)) with eight independent chains (a float max reduction is not
// vectorized without -ffast-math, and one chain waits on every compare).
float max_of(const float* w, size_t n) {
  float m[8];
  std::fill(m, m + 8, kNegInf);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) m[j] = w[i + j] > m[j] ? w[i + j] : m[j];
  }
  for (; i < n; ++i) m[0] = w[i] > m[0] ? w[i] : m[0];
  return *std::max_element(m, m + 8);
}

// A power of two tau such that the weights >= tau carry at least `need`:
// the top-p nucleus, a prefix of the ranking, then lies inside {w >= tau},
// so only those tokens need to be copied and partitioned. One pass counting
// weights (all in (0, 1]) per binary exponent; a weight in bucket e is at
// least 2^(e - 127), which makes the running sum a lower bound on the mass.
float nucleus_floor(const float* w, size_t n, double need) {
  uint32_t count[256] = {};
  for (size_t i = 0; i < n; ++i) ++count[std::bit_cast<uint32_t>(w[i]) >> 23];
  double mass = 0.0;
  for (uint32_t e = 127; e >= 1; --e) {
    mass += std::ldexp(static_cast<double>(count[e]), static_cast<int>(e) - 127);
    if (mass >= need) return std::bit_cast<float>(e << 23);
  }
  return 0.0f;
}

}  // namespace

size_t Sampler::prepare(std::span<const float> logits, std::span<const TokenId> history) {
  assert(logits.size() == static_cast<size_t>(n_vocab_));
  const size_t v = static_cast<size_t>(n_vocab_);
  float* work = work_.data();
  for (size_t i = 0; i < v; ++i) work[i] = std::isnan(logits[i]) ? kNegInf : logits[i];
  for (const auto& [token, bias] : params_.logit_bias) work[token] += bias;
  apply_penalties(history);

  Candidate* c = cand_.data();
  if (params_.temperature <= 0.0f) {  // greedy: the first maximum in id order
    const float best = max_of(work, v);
    const size_t id = static_cast<size_t>(std::find(work, work + v, best) - work);
    c[0] = {best, 1.0f, static_cast<TokenId>(id == v ? 0 : id)};
    return 1;
  }

  // Top-k, then weights exp(logit - max) and their total for top-p.
  size_t n;
  float max_logit;
  double total;
  const float min_p = std::min(params_.min_p, 1.0f);
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < v) {
    n = top_k(static_cast<size_t>(params_.top_k));
    max_logit = c[0].logit;  // sorted best first
    total = 0.0;
    for (size_t j = 0; j < n; ++j) total += c[j].weight = sample::exp_weight(c[j].logit - max_logit);
  } else {
    // The whole vocabulary. Min-p and top-p each keep a prefix of the
    // ranking, so filtering by min-p first and then cutting top-p with the
    // total of the whole vocabulary gives the same set as top-p then min-p,
    // while only the survivors are copied and partitioned.
    max_logit = max_of(work, v);
    float* w = weight_.data();
    for (size_t i = 0; i < v; ++i) w[i] = sample::exp_weight(work[i] - max_logit);  // vectorizes
    total = sum_weights(w, v);
    float floor = min_p > 0.0f ? min_p : std::numeric_limits<float>::min();
    if (params_.top_p > 0.0f && params_.top_p < 1.0f) {
      floor = std::max(floor, nucleus_floor(w, v, params_.top_p * total));
    }
    n = 0;
    for (size_t i = 0; i < v; ++i) {
      if (w[i] >= floor) c[n++] = {work[i], w[i], static_cast<TokenId>(i)};
    }
  }
  if (max_logit == kNegInf) {  // everything banned: fall back to token 0
    c[0] = {kNegInf, 1.0f, 0};
    return 1;
  }

  if (params_.top_p < 1.0f) n = params_.top_p <= 0.0f ? select_best(n) : top_p(n, params_.top_p, total);
  if (min_p > 0.0f) n = this->min_p(n, min_p);

  if (params_.temperature != 1.0f) {
    const float inv_t = 1.0f / params_.temperature;
    for (size_t j = 0; j < n; ++j) c[j].weight = sample::exp_weight((c[j].logit - max_logit) * inv_t);
  }
  return n;
}

TokenId Sampler::sample(std::span<const float> logits, std::span<const TokenId> history) {
  const size_t n = prepare(logits, history);
  if (params_.temperature <= 0.0f) return cand_[0].id;
  const double total = candidate_mass(cand_.data(), n);
  const double target = uniform() * total;  // one uniform per sampled token
  double acc = 0.0;
  size_t last_positive = 0;
  for (size_t j = 0; j < n; ++j) {
    if (cand_[j].weight <= 0.0f) continue;
    acc += cand_[j].weight;
    last_positive = j;
    if (target < acc) break;
  }
  return cand_[last_positive].id;
}

void Sampler::probs(std::span<const float> logits, std::span<const TokenId> history, std::span<float> out) {
  assert(out.size() == static_cast<size_t>(n_vocab_));
  const size_t n = prepare(logits, history);
  std::fill(out.begin(), out.end(), 0.0f);
  const double total = candidate_mass(cand_.data(), n);
  for (size_t j = 0; j < n; ++j) out[cand_[j].id] = static_cast<float>(cand_[j].weight / total);
}

std::vector<float> Sampler::probs(std::span<const float> logits, std::span<const TokenId> history) {
  std::vector<float> out(n_vocab_);
  probs(logits, history, out);
  return out;
}

namespace {

// log(sum(exp(logits))), accumulated in double.
double log_sum_exp(std::span<const float> logits) {
  float max_logit = kNegInf;
  for (float l : logits) max_logit = std::max(max_logit, l);
  if (max_logit == kNegInf) return kNegInf;
  double sum = 0.0;
  for (float l : logits) {
    if (!std::isnan(l)) sum += std::exp(static_cast<double>(l) - max_logit);
  }
  return max_logit + std::log(sum);
}

}  // namespace

std::vector<std::pair<TokenId, float>> Sampler::top_logprobs(std::span<const float> logits, int n) {
  n = std::clamp<int>(n, 0, static_cast<int>(logits.size()));
  if (n == 0) return {};
  struct Entry {
    float logit;
    TokenId id;
  };
  // Heap of the n best so far, worst on top: O(V log n).
  std::vector<Entry> heap;
  heap.reserve(n);
  for (size_t i = 0; i < logits.size(); ++i) {
    const Entry e{std::isnan(logits[i]) ? kNegInf : logits[i], static_cast<TokenId>(i)};
    if (heap.size() < static_cast<size_t>(n)) {
      heap.push_back(e);
      std::push_heap(heap.begin(), heap.end(), better<Entry>);
    } else if (better(e, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), better<Entry>);
      heap.back() = e;
      std::push_heap(heap.begin(), heap.end(), better<Entry>);
    }
  }
  std::sort_heap(heap.begin(), heap.end(), better<Entry>);  // best first
  const double lse = log_sum_exp(logits);
  std::vector<std::pair<TokenId, float>> out;
  out.reserve(n);
  for (const Entry& e : heap) out.emplace_back(e.id, static_cast<float>(e.logit - lse));
  return out;
}

float Sampler::logprob(std::span<const float> logits, TokenId token) {
  assert(token >= 0 && static_cast<size_t>(token) < logits.size());
  return static_cast<float>(logits[token] - log_sum_exp(logits));
}

}  // namespace tern
