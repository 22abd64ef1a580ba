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
#include "compact/compactor.h"
#include "compact/state_store.h"
#include "compress/stages.h"
#include "toon/toon.h"
#include "tern/status.h"

namespace tern::compress {

struct StageReport {
  int64_t tokens_before = 0, tokens_after = 0;  // of the message contents, under the scorer's tokenizer
  int32_t toon_rewrites = 0;
  double compress_ms = 0;
  bool compacted = false;             // compaction stepped (compact stage)
  int32_t summarized_messages = 0;    // messages replaced by its summary
  int32_t shortened_tool_outputs = 0;
};

// Rewrites the string contents of `messages` (an OpenAI messages array) in
// place: compaction first (stages.compact: `summarize` writes the summaries,
// `states` — optional — remembers each conversation's compaction so that a
// client resending its whole history gets the same compacted prefix without
// a new summary), then TOON, then compression. context_tokens 0 means the
// scorer's context. InvalidArgument when `messages` is not an array or
// compaction has no summariser; scorer and summariser errors pass through
// (messages are then unchanged). toon::Json keeps key order.
Status apply_message_stages(TokenScorer& scorer, const MessageStages& stages, toon::Json& messages,
                            StageReport* report = nullptr, const compact::Summarizer& summarize = {},
                            compact::StateStore* states = nullptr);

// Reads a "tern" object ({"toon": bool, "compress": true | false | {"ratio",
// "target_tokens", "force_tokens"}, "compact": true | false | {"context_tokens",
// "trigger", "target", "keep_recent", "tool_output_tokens"}}) over `stages`
// (fields it names replace those in `stages`). Returns "" or an error naming
// the field ("'tern.compress.ratio' must be between 1 and 1000").
std::string parse_message_stages(const nlohmann::json& tern, MessageStages& stages);

}  // namespace tern::compress
