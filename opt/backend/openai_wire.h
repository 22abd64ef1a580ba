// The OpenAI wire format as the backends read it: SSE framing and the
// fields of chat/completions responses and chunks that the gateway needs.
// Pure functions (no I/O), unit-tested on their own.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/backend.h"
#include "tern/engine.h"

namespace tern::opt {

// Incremental Server-Sent-Events parser: feed() bytes as they arrive; each
// complete event's data (its "data:" lines joined by '\n') goes to on_data.
// Comments (":") and other fields are skipped; CRLF and LF both end lines.
class SseParser {
 public:
  void feed(std::string_view bytes, const std::function<void(std::string&&)>& on_data);

 private:
  std::string line_;
  std::string data_;
  bool has_data_ = false;
};

// Logprobs of a run of tokens. `top` per token (may be shorter than tokens
// when alternatives were not requested); only the first top_n are kept.
using TokenTextFn = std::function<std::string(TokenId)>;
struct TokenLogprobs {
  std::vector<TokenId> tokens;
  std::vector<float> logprobs;
  std::vector<std::vector<TokenLogprob>> top;
};

// chat: {"content":[{"token","logprob","bytes","top_logprobs":[...]}]}
json chat_logprobs_json(const TokenLogprobs& lp, int top_n, const TokenTextFn& text);
// completions: {"tokens","token_logprobs","top_logprobs":[{tok:lp}],"text_offset"}
json completion_logprobs_json(const TokenLogprobs& lp, int top_n, const TokenTextFn& text, size_t text_offset0);
// Appends one delta's logprobs object (either shape above, as an upstream
// sent it) to `into` (null: becomes a copy). Chat: the content arrays are
// concatenated; completions: each array field is.
void append_logprobs(json& into, const json& delta);

// What one response or chunk says about choice 0.
struct WireDelta {
  std::string text;
  json tool_calls;              // null when absent
  std::vector<float> logprobs;  // chosen-token logprobs
  json logprobs_json;           // choice.logprobs as sent (an object), or null
  std::string finish_reason;    // "" while not finished
  bool has_usage = false;
  TokenUsage usage;
};

// A streamed chunk (chat.completion.chunk or text_completion).
WireDelta parse_chunk(ApiKind kind, const json& chunk);
// A complete (non-streamed) response.
WireDelta parse_response(ApiKind kind, const json& response);
// OpenAI "usage" object → TokenUsage (prompt_tokens_details.cached_tokens too).
TokenUsage parse_usage(const json& usage);

// The message of an OpenAI error body ({"error":{"message"}}), else the body
// itself cut to 200 bytes.
std::string error_message_of(const std::string& body);

}  // namespace tern::opt
