// Backend: one model behind the gateway, local or remote, seen through one
// interface. A request goes in as an OpenAI request body (chat or
// completions); events come out: text deltas with their token log-probabilities,
// then one final event with the finish reason and the usage (or an error).
//
// Threads: start() and cancel() may be called from any thread. Events arrive
// on a backend thread (the engine thread for LocalBackend, an I/O thread for
// RemoteBackend), in order, one at a time per request; after the event with
// finished == true the callback is never called again. Callbacks must be
// quick (post work elsewhere) and may call cancel().
//
// Errors: a request that cannot be served ends with a final event whose
// `error` is set; `before_output` says whether any text had been delivered,
// so the caller knows whether falling back to another backend is safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tern/status.h"

namespace tern::opt {

using json = nlohmann::json;

enum class ApiKind { kChat, kCompletion };
const char* api_path(ApiKind k);  // "/v1/chat/completions" or "/v1/completions"

struct BackendRequest {
  ApiKind kind = ApiKind::kChat;
  // The client's OpenAI body. The backend replaces "model" with its own
  // upstream model name and "stream" with `stream` below.
  json body;
  bool stream = false;       // deliver deltas as they come (else one event)
  bool want_logprobs = false;  // ask for token logprobs (cascade confidence)
};

struct TokenUsage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;  // prompt tokens the upstream served from its prefix cache
};

struct BackendEvent {
  std::string text;            // content (chat) or text (completions) since the last event
  json tool_calls;             // chat: delta.tool_calls as the upstream sent them, or null
  std::vector<float> logprobs; // chosen-token logprobs of this delta
  json logprobs_json;          // this delta's choice.logprobs in the OpenAI shape of the request's
                               // kind (chat or completions), when the client asked for logprobs; else null
  bool finished = false;
  std::string finish_reason;   // "stop", "length", "tool_calls", ... (finished only)
  TokenUsage usage;            // finished only
  Status error;                // finished only: not ok when the request failed
  int http_status = 0;         // upstream HTTP status of a failure (0: none / transport)
  bool before_output = true;   // error events: no text had been delivered yet
  double upstream_ms = 0;      // finished only: request written -> response complete (the model's
                               // share of the latency; the gateway reports the rest as its overhead)
};

using EventFn = std::function<void(BackendEvent)>;

class Backend {
 public:
  virtual ~Backend() = default;
  // The configured name ("small", "gpt-4o", ...).
  virtual const std::string& name() const = 0;
  // Starts one request; returns its handle for cancel(). Events follow
  // (see the contract above), also when start fails at once.
  virtual uint64_t start(BackendRequest request, EventFn on_event) = 0;
  // Stops a request; its final event (error "cancelled") still arrives.
  // Unknown or finished handles are ignored.
  virtual void cancel(uint64_t handle) = 0;
};

}  // namespace tern::opt
