// Router: picks the models a request goes to, from rules over what the
// request looks like (prompt length, tags, regex patterns, tool use, a
// classifier score); and the cascade judge, which decides whether a small
// model's answer is good enough or the request escalates to the next model
// (low mean token logprob, invalid JSON or JSON-schema violation, refusal
// patterns).
//
// Pure logic with no I/O, so routing decisions are unit-tested on their own;
// opt/gateway runs the cascades. Thread safety: a built Router and
// EscalationPolicy are immutable and may be shared by any number of threads.
#pragma once

#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "tern/status.h"

namespace tern::opt {

// A compiled PCRE2 pattern (RAII around the code object).
class Pattern {
 public:
  static Result<std::shared_ptr<const Pattern>> compile(const std::string& pattern);
  ~Pattern();
  bool matches(const std::string& text) const;  // anywhere in text
  const std::string& source() const { return source_; }

 private:
  Pattern() = default;
  std::string source_;
  void* code_ = nullptr;  // pcre2_code_8*
};

// What the router sees of a request.
struct RequestFeatures {
  size_t prompt_chars = 0;         // characters of every message (or the prompt)
  std::string text;                // that text, messages joined by '\n'
  std::string last_user;           // the last user message (or the prompt)
  std::vector<std::string> tags;   // from metadata.tags or the x-tern-tags header
  bool has_tools = false;          // tools/functions declared or tool turns present
  int user_turns = 0;
  bool multi_turn = false;         // an assistant message or several user messages
};

// Reads the features of a chat ({"messages"}) or completions ({"prompt"}) body.
RequestFeatures request_features(const nlohmann::json& body, const std::vector<std::string>& header_tags);

// A logistic score over weighted keywords (case-insensitive substring
// counts): score = 1 / (1 + exp(-(bias + sum weight_k * count_k))).
// A cheap stand-in for a learned "is this hard?" classifier; weights come
// from the config.
struct Classifier {
  double bias = 0;
  std::vector<std::pair<std::string, double>> weights;  // keywords lower-cased
  double score(const std::string& text) const;
};

// One rule: every condition given must hold; the first matching rule wins.
struct Rule {
  std::optional<size_t> min_prompt_chars, max_prompt_chars;
  std::vector<std::string> tags_any;              // any of these tags present
  std::shared_ptr<const Pattern> pattern;         // matches the request text
  std::optional<bool> tools;                      // request uses tools (or not)
  std::optional<double> min_score;                // classifier score at least this
  std::vector<std::string> targets;               // models: one, or a cascade small -> large
  bool matches(const RequestFeatures& f, const Classifier& c) const;
};

struct RoutePlan {
  std::vector<std::string> targets;  // cascade stages, first tried first
  int rule = -1;                     // index of the matching rule; -1: the default
};

class Router {
 public:
  Router(std::vector<Rule> rules, std::vector<std::string> default_targets, Classifier classifier = {});
  RoutePlan plan(const RequestFeatures& f) const;
  const std::vector<Rule>& rules() const { return rules_; }
  const std::vector<std::string>& default_targets() const { return default_; }

 private:
  std::vector<Rule> rules_;
  std::vector<std::string> default_;
  Classifier classifier_;
};

// When a cascade stage's answer is not accepted.
struct EscalationPolicy {
  double min_mean_logprob = -INFINITY;  // mean chosen-token logprob below this escalates
  bool require_json = false;            // the answer must be a JSON object or array
  nlohmann::json schema;                // and validate against this (null: none)
  std::vector<std::shared_ptr<const Pattern>> refusals;  // any match escalates
  bool needs_logprobs() const { return std::isfinite(min_mean_logprob); }
};

enum class EscalationReason { kNone, kLowConfidence, kInvalidJson, kSchema, kRefusal, kError };
const char* escalation_reason_name(EscalationReason r);  // "none", "low_confidence", ...

struct Verdict {
  EscalationReason reason = EscalationReason::kNone;
  std::string detail;
  bool accepted() const { return reason == EscalationReason::kNone; }
};

double mean_logprob(const std::vector<float>& logprobs);  // 0 for none

// Judges one stage's complete answer. Answers without logprobs are not
// judged on confidence (the backend did not report them).
Verdict judge(const EscalationPolicy& policy, const std::string& text, const std::vector<float>& logprobs);

// A JSON Schema subset: type (incl. arrays of types and "integer"), enum,
// const, properties, required, additionalProperties (bool or schema), items,
// minItems/maxItems, minLength/maxLength, minimum/maximum, anyOf/oneOf/allOf.
// Returns "" when valid, else the first violation with its JSON path.
std::string validate_json_schema(const nlohmann::json& schema, const nlohmann::json& value);

}  // namespace tern::opt
