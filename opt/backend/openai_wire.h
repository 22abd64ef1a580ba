// The OpenAI wire format as the backends read it: SSE framing and the
// fields of chat/completions responses and chunks that the gateway needs.
// Pure functions (no I/O), unit-tested on their own.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/backend.h"

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

// What one response or chunk says about choice 0.
struct WireDelta {
  std::string text;
  json tool_calls;              // null when absent
  std::vector<float> logprobs;  // chosen-token logprobs
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
