// compress/compressor.h — LLMLingua-style prompt compression on a CPU.
//
//   tern::compress::EngineScorer scorer(engine);          // a small local model
//   tern::compress::Compressor c(scorer);
//   tern::compress::CompressOptions o;
//   o.ratio = 3.0;                                         // or o.target_tokens = 800
//   auto r = c.compress({{passages, Role::kContext}, {question, Role::kQuestion}}, o);
//   // r->text: the compressed prompt; r->tokens_before / r->tokens_after
//
// Method (after LLMLingua, Jiang et al. 2023; see docs/compression.md):
//  * Protected spans (compress/spans.h) and instruction/question segments are
//    kept verbatim; their tokens are charged to the budget first.
//  * Coarse level: when there are several context segments (retrieved
//    passages, demonstrations), each is scored alone and whole segments are
//    kept in order of mean self-information (-logprob per token) until their
//    tokens reach coarse_slack x the budget left for context (LLMLingua's
//    budget controller with its granular control coefficient k).
//  * One scoring pass: every context segment that may lose words is scored
//    alone, in windows of window_tokens (each from BOS).
//  * Fine level: the kept context is cut into windows; each window's words
//    are kept in order of mean self-information until the window's
//    allowance is spent. The scores are those of the scoring pass; with
//    `iterative`, each window is scored again conditioned on the tail of the
//    prompt *as compressed so far* (LLMLingua's iterative token-level
//    compression), which costs a second pass. The BudgetController sets allowances in
//    proportion to each window's compressible tokens and carries over- and
//    under-spend forward, so the whole prompt lands on the target.
//  * The unit of pruning is a word (a run of non-space bytes with its
//    trailing space), not a sub-word token: the output stays readable and a
//    protected span is never split. A word's score is the mean self-
//    information of its tokens.
// Token counts are the scoring model's.
//
// Thread safety: compress() is const and keeps no state between calls; it is
// as thread-safe as the scorer (EngineScorer: any number of threads).
// Errors: InvalidArgument for bad options; the scorer's errors pass through.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "compress/scorer.h"
#include "compress/spans.h"

namespace tern::compress {

enum class Role {
  kContext,      // compressible: passages, demonstrations, tool output, chat history
  kInstruction,  // kept verbatim
  kQuestion,     // kept verbatim
};
const char* role_name(Role role);  // "context", "instruction", "question"

struct Segment {
  std::string text;
  Role role = Role::kContext;
};

struct CompressOptions {
  double ratio = 2.0;              // target tokens_before / tokens_after, >= 1
  int64_t target_tokens = 0;       // > 0: token budget of the output (overrides ratio)
  bool coarse = true;              // drop whole low-information context segments first
  bool fine = true;                // word-level pruning inside the kept segments
  double coarse_slack = 1.3;       // coarse keeps up to this x the budget when fine follows (LLMLingua's k), >= 1
  bool iterative = false;          // fine level re-scores each window conditioned on the compressed prefix
                                   // (LLMLingua's iterative compression; about 1.5x the model work)
  int32_t condition_tokens = 64;   // iterative: compressed-prefix tokens each fine window is conditioned on, >= 0
  int32_t window_tokens = 512;     // tokens per scoring call and fine window; 0: as many as the model takes
  SpanOptions protect;             // which spans are protected, plus force strings
  std::string separator = "\n\n";  // joins the kept segments in `text`
};

struct SegmentResult {
  std::string text;               // compressed ("" when dropped)
  Role role = Role::kContext;
  int64_t tokens_before = 0, tokens_after = 0;
  bool dropped = false;           // dropped whole by the coarse level
  double self_information = 0;    // mean -logprob per token (coarse score; 0 when not scored)
};

struct CompressResult {
  std::string text;
  std::vector<SegmentResult> segments;
  int64_t tokens_before = 0;      // tokens of the segments joined by `separator` (the uncompressed prompt)
  int64_t tokens_after = 0;       // tokens of `text`; never above tokens_before
  bool unchanged = false;         // compressing saved nothing: `text` is the input, joined
  int64_t budget = 0;             // the target in tokens
  int64_t protected_tokens = 0;   // tokens in protected spans and kept-verbatim segments
  std::vector<std::string> protected_spans;  // the text of every protected span found (kept verbatim)
  int64_t scored_tokens = 0;      // tokens run through the scoring model (incl. conditioning)
  int32_t model_calls = 0;        // sequences scored (windows; a batch counts each)
  double ms = 0;                  // wall time of compress()
  double ratio() const { return tokens_after > 0 ? static_cast<double>(tokens_before) / tokens_after : 0.0; }
};

// Splits plain text into segments: paragraphs (blank-line separated) with
// fenced code blocks kept whole; every segment is context.
std::vector<Segment> split_segments(std::string_view text);

// LLMLingua's budget controller at the window level: a budget of
// compressible tokens spread over a stream of windows in proportion to their
// compressible tokens, with over- and under-spend carried forward.
class BudgetController {
 public:
  BudgetController(int64_t budget, int64_t compressible_tokens);
  // How many compressible tokens the next window (holding `window_tokens` of
  // them) may keep. Never negative, never above window_tokens.
  int64_t allowance(int64_t window_tokens) const;
  void spend(int64_t window_tokens, int64_t kept);
  int64_t remaining_budget() const { return budget_; }
  int64_t remaining_tokens() const { return tokens_; }

 private:
  int64_t budget_, tokens_;
};

// Coarse selection: keeps segments in order of decreasing `score` while
// their token total stays within `budget`; with may_exceed the segment that
// crosses the budget is kept too (the fine level trims it). Returns a keep
// flag per segment; ties keep the earlier segment.
std::vector<bool> select_segments(const std::vector<double>& score, const std::vector<int64_t>& tokens, int64_t budget,
                                  bool may_exceed);

// Word selection within a window: protected units always; the others in
// order of decreasing `score` (ties: earlier first) while they fit in
// `allowance` tokens. Returns a keep flag per unit.
std::vector<bool> select_units(const std::vector<double>& score, const std::vector<int64_t>& tokens,
                               const std::vector<bool>& is_protected, int64_t allowance);

class Compressor {
 public:
  explicit Compressor(TokenScorer& scorer) : scorer_(scorer) {}
  Result<CompressResult> compress(const std::vector<Segment>& segments, const CompressOptions& options) const;
  // Plain text: split_segments(text), all context.
  Result<CompressResult> compress(std::string_view text, const CompressOptions& options) const;

 private:
  TokenScorer& scorer_;
};

}  // namespace tern::compress
