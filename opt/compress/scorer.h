// compress/scorer.h — the model interface prompt compression needs: a
// tokenizer and per-token log-probabilities of a token sequence under a small
// language model (self-information = -logprob, as in LLMLingua).
//
// EngineScorer implements it over a local tern::Engine (prompt scoring
// requests, GenerationRequest::want_prompt_logprobs). Tests implement it with
// scripted scores.
//
// Thread safety: EngineScorer may be used from several threads at once (the
// engine serialises the work); other implementations say their own.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tern/engine.h"
#include "tern/status.h"

namespace tern::compress {

class TokenScorer {
 public:
  virtual ~TokenScorer() = default;
  // Tokens of `text` without BOS/EOS.
  virtual std::vector<TokenId> tokenize(std::string_view text) const = 0;
  // The bytes one token stands for (SentencePiece's '▁' as a space).
  virtual std::string piece(TokenId token) const = 0;
  // The most tokens one logprobs() call may take.
  virtual int32_t max_tokens() const = 0;
  // The token a scored sequence starts with (BOS), or -1 for none.
  virtual TokenId bos() const = 0;
  // Entry i: log P(tokens[i] | tokens[0..i-1]); entry 0 is 0. Fails on an
  // empty or over-long sequence or when the model fails.
  virtual Result<std::vector<float>> logprobs(const std::vector<TokenId>& tokens) = 0;
  // logprobs() of several sequences, which may run side by side (the engine
  // scores a batch with each sequence on one thread). Fails if any fails.
  virtual Result<std::vector<std::vector<float>>> logprobs_many(const std::vector<std::vector<TokenId>>& seqs) {
    std::vector<std::vector<float>> out;
    for (const std::vector<TokenId>& s : seqs) {
      TERN_ASSIGN_OR_RETURN(std::vector<float> lp, logprobs(s));
      out.push_back(std::move(lp));
    }
    return out;
  }
};

// A TokenScorer over a loaded engine (not owned; it must outlive the scorer).
class EngineScorer final : public TokenScorer {
 public:
  explicit EngineScorer(Engine& engine);
  std::vector<TokenId> tokenize(std::string_view text) const override;
  std::string piece(TokenId token) const override;
  int32_t max_tokens() const override;
  TokenId bos() const override { return bos_; }
  Result<std::vector<float>> logprobs(const std::vector<TokenId>& tokens) override;
  Result<std::vector<std::vector<float>>> logprobs_many(const std::vector<std::vector<TokenId>>& seqs) override;

 private:
  Engine& engine_;
  TokenId bos_ = -1;
};

}  // namespace tern::compress
