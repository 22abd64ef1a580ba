// compact/compactor.h — context compaction for long agent conversations
// (an OpenAI `messages` array).
//
//   tern::compact::CompactOptions o;
//   o.context_tokens = 32768;                      // the target model's window (or a token budget)
//   tern::compact::Compactor c(o, count_tokens, [&](const std::string& prompt) {
//     return backend.complete(prompt);             // any model: Result<std::string>
//   });
//   tern::compact::CompactionState state;          // one per conversation (optional)
//   auto r = c.compact(messages, &state);          // r->messages goes to the model
//
// Policy. Nothing changes while the conversation fits in `trigger` x
// context_tokens. Past it, one large step brings it down to about `target` x
// context_tokens:
//  1. leading system/developer messages and the last `keep_recent` messages
//     stay verbatim (the recent part never starts inside a tool-call
//     exchange: a `tool` message stays with the assistant message calling it);
//  2. tool outputs in between that are longer than tool_output_tokens are cut
//     to their head and tail with a marker saying how much was left out;
//  3. if that is not enough, every message between the pinned and the recent
//     ones is replaced by one summary message written by the summariser
//     (a previous summary is part of its input, so summaries accumulate);
//  4. if the result is still past the trigger, the recent tool outputs are
//     shortened as well (a huge fresh tool result would otherwise make every
//     later turn step again).
// Because each step goes well below the trigger, the following turns only
// append: the compacted prefix stays byte-identical until the next trigger,
// so prefix caches (tern's and providers') keep hitting between steps.
//
// Clients may send back the compacted history (it stays below the trigger
// and passes through unchanged), or keep sending the full history together
// with a CompactionState: when the state's messages are a prefix of the new
// call's, the stored compaction is reused without calling the summariser.
//
// Thread safety: compact() is const; a CompactionState belongs to one
// conversation and must not be shared between concurrent calls.
// Errors: InvalidArgument for a malformed messages array or options; the
// summariser's Status passes through.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "tern/status.h"

namespace tern::compact {

using Json = nlohmann::ordered_json;
using TokenCounter = std::function<size_t(std::string_view)>;
// Returns the summary of a conversation transcript (the prompt includes the
// instruction) in at most about max_tokens tokens: the room the step's target
// leaves for it (a longer answer is cut to that). Called at most once per
// compact().
using Summarizer = std::function<Result<std::string>(const std::string& prompt, int64_t max_tokens)>;

struct CompactOptions {
  int64_t context_tokens = 8192;     // the window (or budget) the conversation must fit
  double trigger = 0.75;             // compact past this share of context_tokens
  double target = 0.40;              // and bring it down to about this share (< trigger)
  int32_t keep_recent = 6;           // most recent messages kept verbatim (>= 1)
  int64_t tool_output_tokens = 256;  // longer old tool outputs are shortened to about this
  std::string summary_role = "user"; // role of the summary message
  std::string summary_prefix = "[Summary of the earlier conversation]\n";
  std::string instruction =          // what the summariser is asked
      "Summarise the following conversation between a user, an assistant and its tools. Keep every fact, "
      "number, identifier, file name, decision and open task; drop pleasantries. Write plain prose.";
};

struct CompactionState {
  Json messages_in = Json::array();   // the history the last result was computed from
  Json messages_out = Json::array();  // what it was compacted to
};

struct CompactResult {
  Json messages = Json::array();
  bool compacted = false;             // a new step happened in this call
  bool reused = false;                // the state's stored compaction was applied
  int64_t tokens_before = 0;          // of the input messages
  int64_t tokens_after = 0;           // of `messages`
  int32_t shortened_tool_outputs = 0;
  int32_t summarized_messages = 0;    // messages replaced by the summary (0: no summary this step)
};

class Compactor {
 public:
  Compactor(CompactOptions options, TokenCounter count_tokens, Summarizer summarize);
  Status validate() const;  // options in range, callables set

  Result<CompactResult> compact(const Json& messages, CompactionState* state = nullptr) const;

  // Tokens of a messages array as compaction counts them: the text of every
  // content part and tool call plus 4 per message (role and framing).
  int64_t count(const Json& messages) const;

  // The summariser's prompt for `messages` (instruction + transcript).
  std::string summary_prompt(const Json& messages) const;

 private:
  Result<Json> step(const Json& messages, CompactResult& r) const;
  std::string shorten(const std::string& text) const;
  std::string cut_to(const std::string& text, int64_t tokens) const;
  void shorten_recent_if_over(Json& messages, size_t from, CompactResult& r) const;

  CompactOptions o_;
  TokenCounter count_tokens_;
  Summarizer summarize_;
};

}  // namespace tern::compact
