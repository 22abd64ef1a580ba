#include "spec/ngram_drafter.h"

#include <algorithm>

namespace tern::spec {

const char* drafter_kind_name(DrafterKind k) {
  switch (k) {
    case DrafterKind::kNgram: return "ngram";
    case DrafterKind::kDraftModel: return "draft-model";
    case DrafterKind::kSelfSpec: return "self-spec";
  }
  return "?";
}

std::vector<TokenId> ngram_lookup(std::span<const TokenId> tokens, int32_t k, int32_t min_n, int32_t max_n) {
  const int64_t len = static_cast<int64_t>(tokens.size());
  if (k <= 0) return {};
  for (int32_t n = std::min<int64_t>(max_n, len - 1); n >= std::max(1, min_n); --n) {
    const auto tail = tokens.subspan(static_cast<size_t>(len - n));
    // Latest start s < len - n with tokens[s, s+n) == tail.
    for (int64_t s = len - n - 1; s >= 0; --s) {
      if (!std::equal(tail.begin(), tail.end(), tokens.begin() + s)) continue;
      const int64_t from = s + n;
      const int64_t count = std::min<int64_t>(k, len - from);
      if (count <= 0) continue;
      return std::vector<TokenId>(tokens.begin() + from, tokens.begin() + from + count);
    }
  }
  return {};
}

Status NgramDrafter::propose(std::span<const DraftRequest> reqs, std::vector<Draft>* out) {
  out->assign(reqs.size(), Draft{});
  for (size_t i = 0; i < reqs.size(); ++i) (*out)[i].tokens = ngram_lookup(reqs[i].tokens, reqs[i].k, min_n_, max_n_);
  return Status::Ok();
}

}  // namespace tern::spec
