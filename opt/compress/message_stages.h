// compress/message_stages.h — tern's stages on an OpenAI messages array:
// TOON rewriting of JSON in tool/user messages, then prompt compression of
// the conversation (system/developer messages are the instruction, the last
// user message the question, both verbatim; every other message is context).
// Used by the local server ("tern" field of chat requests, /v1/compress) and
// the gateway (per route and per request), scored by any TokenScorer.
//
// Thread safety: as the scorer's (EngineScorer: any number of threads).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "compress/scorer.h"
#include "compress/stages.h"
#include "toon/toon.h"
#include "tern/status.h"

namespace tern::compress {

struct StageReport {
  int64_t tokens_before = 0, tokens_after = 0;  // of the message contents, under the scorer's tokenizer
  int32_t toon_rewrites = 0;
  double compress_ms = 0;
};

// Rewrites the string contents of `messages` (an OpenAI messages array) in
// place. InvalidArgument when `messages` is not an array; scorer errors pass
// through (messages are then unchanged). toon::Json keeps key order.
Status apply_message_stages(TokenScorer& scorer, const MessageStages& stages, toon::Json& messages,
                            StageReport* report = nullptr);

// Reads a "tern" object ({"toon": bool, "compress": true | false | {"ratio",
// "target_tokens", "force_tokens"}}) over `stages` (fields it names replace
// those in `stages`). Returns "" or an error naming the field
// ("'tern.compress.ratio' must be between 1 and 1000").
std::string parse_message_stages(const nlohmann::json& tern, MessageStages& stages);

}  // namespace tern::compress
