#include "spec/controller.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace tern::spec {

void Acceptance::update(int32_t drafted, int32_t accepted) {
  if (drafted <= 0) return;
  assert(accepted >= 0 && accepted <= drafted);
  kept_ = kept_ * decay_ + accepted;
  rejected_ = rejected_ * decay_ + (accepted < drafted ? 1.0 : 0.0);
}

StepCost::StepCost(int32_t max_tokens, double alpha)
    : alpha_(alpha), t_(static_cast<size_t>(64 + (std::max(max_tokens, 64) - 64 + 7) / 8 + 2), 0.0) {}

void StepCost::observe(int32_t n, double seconds, double attended) {
  seconds -= attn_ * attended;
  if (n <= 0 || !(seconds > 0)) return;
  const size_t b = static_cast<size_t>(std::min<int32_t>(bucket(n), static_cast<int32_t>(t_.size()) - 1));
  t_[b] = t_[b] == 0 ? seconds : (1 - alpha_) * t_[b] + alpha_ * seconds;
}

bool StepCost::known() const {
  int count = 0;
  for (double t : t_) count += t > 0;
  return count >= 2;
}

double StepCost::seconds(int32_t n, double attended) const {
  const double m = matmul_seconds(n);
  return m > 0 ? m + attn_ * attended : 0;
}

double StepCost::matmul_seconds(int32_t n) const {
  const int32_t b = std::min<int32_t>(bucket(std::max(n, 1)), static_cast<int32_t>(t_.size()) - 1);
  if (t_[static_cast<size_t>(b)] > 0) return t_[static_cast<size_t>(b)];
  // Nearest measured buckets below and above.
  int32_t lo = b - 1, hi = b + 1;
  while (lo >= 1 && t_[static_cast<size_t>(lo)] == 0) --lo;
  while (hi < static_cast<int32_t>(t_.size()) && t_[static_cast<size_t>(hi)] == 0) ++hi;
  const bool has_lo = lo >= 1, has_hi = hi < static_cast<int32_t>(t_.size());
  const double x = n;
  if (has_lo && has_hi) {
    const double x0 = bucket_n(lo), x1 = bucket_n(hi), y0 = t_[static_cast<size_t>(lo)], y1 = t_[static_cast<size_t>(hi)];
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
  }
  // Extrapolate from the two nearest measured points on one side.
  const int dir = has_lo ? -1 : 1;
  int32_t a = has_lo ? lo : hi;
  if (!(has_lo || has_hi)) return 0;
  int32_t c = a + dir;
  while (c >= 1 && c < static_cast<int32_t>(t_.size()) && t_[static_cast<size_t>(c)] == 0) c += dir;
  const double ya = t_[static_cast<size_t>(a)];
  if (c < 1 || c >= static_cast<int32_t>(t_.size())) return ya * x / bucket_n(a);  // one point: proportional
  const double xa = bucket_n(a), xc = bucket_n(c), yc = t_[static_cast<size_t>(c)];
  const double slope = std::max(0.0, (ya - yc) / (xa - xc));
  return std::max(ya * 0.5, ya + slope * (x - xa));
}

void OutcomeCheck::record(int64_t step, bool drafted, double seconds, int32_t tokens) {
  if (tokens <= 0 || !(seconds > 0)) return;
  double& ema = drafted ? spec_tpt_ : plain_tpt_;
  const double tpt = seconds / tokens;
  ema = ema == 0 ? tpt : 0.8 * ema + 0.2 * tpt;
  if (!drafted || plain_tpt_ <= 0) return;
  if (++spec_steps_ < kMinEvidence) return;  // one slow step is noise, not evidence
  if (spec_tpt_ > plain_tpt_ * (1 + kTolerance)) {
    veto_until_ = step + veto_len_;
    veto_len_ = std::min(veto_len_ * 2, kMaxVeto);
    spec_tpt_ = 0;  // after the veto, drafting is measured afresh
    spec_steps_ = 0;
  } else if (spec_tpt_ < 0.9 * plain_tpt_) {
    veto_len_ = kMinVeto;
  }
}

double expected_tokens(double a, int32_t k) {
  double sum = 1, term = 1;
  for (int32_t j = 1; j <= k; ++j) sum += term *= a;
  return sum;
}

std::vector<int32_t> plan_draft_lengths(std::span<const PlanInput> seqs, const StepCost& cost, const PlanConfig& cfg) {
  std::vector<int32_t> k(seqs.size(), 0);
  if (seqs.empty() || !cost.known()) return k;
  struct Cand {
    double gain;
    uint32_t seq;
    int32_t j;
  };
  std::vector<Cand> cands;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const double a = std::clamp(seqs[i].acceptance, 0.0, 1.0);
    double g = 1;
    for (int32_t j = 1; j <= seqs[i].max_draft; ++j) {
      g *= a;
      if (g < 1e-4) break;
      cands.push_back({g, static_cast<uint32_t>(i), j});
    }
  }
  // Gains decrease with j within a sequence; ties keep (seq, j) order so that
  // a sequence's j-th draft never precedes its (j-1)-th.
  std::stable_sort(cands.begin(), cands.end(), [](const Cand& x, const Cand& y) { return x.gain > y.gain; });
  const int32_t m_max = std::min<int32_t>(static_cast<int32_t>(cands.size()), std::max(0, cfg.max_extra));
  const double base_n = static_cast<double>(seqs.size());
  const double t0 = cost.seconds(std::max(1, cfg.base_tokens), cfg.base_attended);
  if (!(t0 > 0)) return k;
  const double r0 = base_n / t0;
  double best_r = r0 * (1 + cfg.margin), gain = 0, attended = cfg.base_attended;
  int32_t best_m = 0, depth = 0;
  for (int32_t m = 1; m <= m_max; ++m) {
    const Cand& c = cands[static_cast<size_t>(m - 1)];
    gain += c.gain;
    if (seqs[c.seq].model_drafter) depth = std::max(depth, c.j);
    attended += seqs[c.seq].context + c.j;
    const double t = cost.seconds(cfg.base_tokens + m, attended) + depth * cfg.draft_step_seconds;
    const double r = (base_n + gain) / t;
    if (r > best_r) {
      best_r = r;
      best_m = m;
    }
  }
  for (int32_t m = 0; m < best_m; ++m) {
    const Cand& c = cands[static_cast<size_t>(m)];
    k[c.seq] = std::max(k[c.seq], c.j);
  }
  return k;
}

}  // namespace tern::spec
