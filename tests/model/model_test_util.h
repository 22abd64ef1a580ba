// Helpers for model tests: run a whole prompt or single tokens through a
// ModelRunner over a contiguous run of KV blocks.
#pragma once

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "model/model_runner.h"

namespace tern::test {

// A single sequence whose blocks are 0, 1, 2, ... of the pool.
struct ContiguousSequence {
  std::vector<int32_t> table;
  explicit ContiguousSequence(const KvPool& kv) : table(static_cast<size_t>(kv.n_blocks())) {
    std::iota(table.begin(), table.end(), 0);
  }
};

// Forward tokens at positions start.. in one batch; returns logits of every
// token ([n, vocab]) when all_logits, else of the last only.
inline std::vector<float> run_tokens(ModelRunner& runner, const ContiguousSequence& seq,
                                     const std::vector<TokenId>& tokens, int32_t start, bool all_logits) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  std::vector<int32_t> pos(tokens.size()), sidx(tokens.size(), 0), rows;
  std::iota(pos.begin(), pos.end(), start);
  if (all_logits) {
    rows.resize(tokens.size());
    std::iota(rows.begin(), rows.end(), 0);
  } else {
    rows.push_back(static_cast<int32_t>(n - 1));
  }
  ForwardBatch b{tokens, pos, sidx, {seq.table}, rows};
  std::vector<float> logits(rows.size() * static_cast<size_t>(runner.model().config().n_vocab));
  Status st = runner.forward(b, logits.data());
  EXPECT_TRUE(st.ok()) << st.message();
  return logits;
}

// log-softmax of a logits row at `token`, in double (the oracle for scoring).
inline double direct_logprob(const float* logits, int n, TokenId token) {
  double mx = logits[0];
  for (int i = 1; i < n; ++i) mx = std::max(mx, static_cast<double>(logits[i]));
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(logits[i] - mx);
  return logits[token] - mx - std::log(sum);
}

inline TokenId argmax(const float* x, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

}  // namespace tern::test
