// tern's per-request stages on a chat request's messages (docs/compression.md):
// TOON rewriting of JSON and prompt compression, both scored with the served
// engine's tokenizer/model. Used by /v1/chat/completions ("tern" field) and
// /v1/compress.
#pragma once

#include <string>

#include "openai/types.h"
#include "tern/engine.h"
#include "tern/status.h"

namespace tern::server {

struct StageReport {
  int64_t tokens_before = 0, tokens_after = 0;  // of the message contents
  int32_t toon_rewrites = 0;
  double compress_ms = 0;
};

// Rewrites `messages_json` (an OpenAI messages array whose contents are
// strings) in place. Compression treats system/developer messages as the
// instruction and the last user message as the question (both verbatim),
// every other message as context. Runs on the calling thread; fails with
// InvalidArgument on malformed messages.
Status apply_stages(Engine& engine, const TernStages& stages, std::string& messages_json, StageReport* report = nullptr);

}  // namespace tern::server
