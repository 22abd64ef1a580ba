// Parsing and validation of OpenAI request bodies. Every failure is an
// ApiError with status 400, a message that names the field, and `param` set
// to it, so a client sees what to fix. Unknown fields are ignored (clients
// send many); null counts as absent.
//
// Limits: n 1..128; temperature 0..2; top_p (0, 1]; min_p 0..1; top_k -1 or
// >= 0; presence/frequency_penalty -2..2; repetition_penalty (0, 2];
// max_tokens >= 1; stop at most 16 strings; top_logprobs 0..20 (chat),
// logprobs 0..20 (completions); logit_bias values -100..100.
#pragma once

#include <string>
#include <variant>

#include "openai/errors.h"
#include "openai/types.h"

namespace tern::server {

template <typename T>
using Parsed = std::variant<T, ApiError>;

Parsed<ChatRequest> parse_chat_request(const std::string& body);
Parsed<CompletionRequest> parse_completion_request(const std::string& body);
Parsed<EmbeddingRequest> parse_embedding_request(const std::string& body);

}  // namespace tern::server
