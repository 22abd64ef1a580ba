// Response bodies of the OpenAI API and SSE framing. Pure functions of their
// inputs (no engine, no I/O), so unit tests pin the exact shapes.
//
// Strings produced by the model may hold invalid UTF-8 (a token's raw bytes
// in logprobs): every JSON text here replaces such bytes with U+FFFD.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend/openai_wire.h"
#include "tern/engine.h"

namespace tern::server {

using json = nlohmann::json;
using opt::TokenTextFn;

// "data: <json>\n\n" and the stream's terminator.
std::string sse_data(const json& j);
inline const char* sse_done() { return "data: [DONE]\n\n"; }
std::string dump_json(const json& j);  // compact; invalid UTF-8 replaced

// "stop", "length", or "abort" (cancelled); null (json) for kNone.
json finish_reason_json(FinishReason r);

// {"prompt_tokens","completion_tokens","total_tokens","prompt_tokens_details":{"cached_tokens"}}
json usage_json(const Usage& u);

// Identity shared by every chunk of one response.
struct ResponseMeta {
  std::string id;       // "chatcmpl-…" / "cmpl-…"
  std::string model;
  int64_t created = 0;  // unix seconds
};

// Logprobs shapes (TokenLogprobs, chat_logprobs_json, completion_logprobs_json)
// live in opt/backend/openai_wire.h, shared with the gateway's backends.
using opt::TokenLogprobs;
using opt::chat_logprobs_json;
using opt::completion_logprobs_json;

struct ChoiceResult {
  int index = 0;
  std::string text;
  FinishReason finish = FinishReason::kStop;
  json logprobs;  // null or one of the shapes above
};

json chat_completion_json(const ResponseMeta& m, const std::vector<ChoiceResult>& choices, const Usage& usage);
json completion_json(const ResponseMeta& m, const std::vector<ChoiceResult>& choices, const Usage& usage);

// Streaming chunks. include_usage adds "usage": null to every chunk, as OpenAI does.
json chat_chunk_json(const ResponseMeta& m, int index, const json& delta, const json& logprobs,
                     const json& finish_reason, bool include_usage);
json completion_chunk_json(const ResponseMeta& m, int index, const std::string& text, const json& logprobs,
                           const json& finish_reason, bool include_usage);
// The final usage chunk: "choices": [] and the totals.
json usage_chunk_json(const ResponseMeta& m, const char* object, const Usage& usage);

json models_json(const std::string& id, int64_t created, int32_t max_model_len);

// One embedding per input; base64: the float32 little-endian bytes, base64.
json embeddings_json(const std::string& model, const std::vector<std::vector<float>>& embeddings, bool base64,
                     int32_t prompt_tokens);
std::string base64_floats(const std::vector<float>& v);

// A random id with the given prefix ("chatcmpl-" + 24 alphanumerics).
std::string random_id(const char* prefix);

}  // namespace tern::server
