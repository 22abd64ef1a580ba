#include "spec/verify.h"

#include <algorithm>
#include <cassert>

namespace tern::spec {

VerifyResult verify_greedy(std::span<const TokenId> draft, std::span<const TokenId> targets) {
  assert(targets.size() == draft.size() + 1);
  VerifyResult r;
  size_t j = 0;
  while (j < draft.size() && draft[j] == targets[j]) r.tokens.push_back(draft[j++]);
  r.num_accepted = static_cast<int32_t>(j);
  r.tokens.push_back(targets[j]);
  return r;
}

bool accept_or_resample(std::span<const float> p, std::span<const float> q, TokenId token, const UniformFn& uniform,
                        const DrawFn& draw, std::vector<float>* scratch, TokenId* replacement) {
  assert(token >= 0 && static_cast<size_t>(token) < p.size());
  const double pt = p[static_cast<size_t>(token)];
  const double qt = q.empty() ? 1.0 : q[static_cast<size_t>(token)];
  // Keep with probability min(1, p/q): u < p/q  <=>  u * q < p (q > 0).
  if (qt > 0.0 && uniform() * qt < pt) return true;
  // Residual max(0, p - q), drawn unnormalized.
  scratch->assign(p.begin(), p.end());
  if (q.empty()) {
    (*scratch)[static_cast<size_t>(token)] = 0.0f;
  } else {
    for (size_t i = 0; i < p.size(); ++i) (*scratch)[i] = std::max(0.0f, p[i] - q[i]);
  }
  bool any = false;
  for (float w : *scratch) any |= w > 0.0f;
  // Rejection has probability 1 - sum(min(p, q)) = sum(max(0, p - q)); an
  // all-zero residual (p == q up to rounding) can only be reached by rounding,
  // and then p itself is the right law.
  *replacement = any ? draw(*scratch) : draw(p);
  return false;
}

VerifyResult verify_sampled(std::span<const TokenId> draft, const std::function<std::span<const float>(int32_t)>& p,
                            const std::function<std::span<const float>(int32_t)>& q, const UniformFn& uniform,
                            const DrawFn& draw, const std::function<TokenId()>& bonus) {
  VerifyResult r;
  std::vector<float> scratch;
  for (size_t j = 0; j < draft.size(); ++j) {
    TokenId repl = -1;
    if (accept_or_resample(p(static_cast<int32_t>(j)), q(static_cast<int32_t>(j)), draft[j], uniform, draw, &scratch,
                           &repl)) {
      r.tokens.push_back(draft[j]);
      ++r.num_accepted;
      continue;
    }
    r.tokens.push_back(repl);
    return r;
  }
  r.tokens.push_back(bonus());
  return r;
}

int32_t draw_index(std::span<const float> weights, double u) {
  double total = 0.0;
  for (float w : weights) total += w;
  if (!(total > 0.0)) return 0;
  const double target = u * total;
  double acc = 0.0;
  int32_t last = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] <= 0.0f) continue;
    acc += weights[i];
    last = static_cast<int32_t>(i);
    if (target < acc) return last;
  }
  return last;
}

}  // namespace tern::spec
