// NgramDrafter: prompt lookup decoding. For n from max_n down to min_n, find
// the latest earlier occurrence of the context's last n tokens and propose
// the up to k tokens that followed it. Free (no model), so it suits
// input-grounded generation (rewriting, summarizing, code edits) where the
// output copies spans of the prompt.
//
// Cost: O(context x max_n) per sequence and step, a plain backwards scan.
#pragma once

#include "spec/drafter.h"

namespace tern::spec {

// The lookup itself, for tests: up to k tokens following the latest earlier
// match of tokens' last n-gram (n = max_n .. min_n).
std::vector<TokenId> ngram_lookup(std::span<const TokenId> tokens, int32_t k, int32_t min_n, int32_t max_n);

class NgramDrafter final : public Drafter {
 public:
  NgramDrafter(int32_t min_n = 1, int32_t max_n = 4) : min_n_(min_n), max_n_(max_n) {}
  DrafterKind kind() const override { return DrafterKind::kNgram; }
  bool runs_model() const override { return false; }
  Status propose(std::span<const DraftRequest> reqs, std::vector<Draft>* out) override;

 private:
  int32_t min_n_, max_n_;
};

}  // namespace tern::spec
