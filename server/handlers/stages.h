// tern's per-request stages on a chat request's messages (docs/compression.md):
// context compaction, TOON rewriting of JSON and prompt compression, all with
// the served engine's tokenizer/model. Used by /v1/chat/completions ("tern" field) and
// /v1/compress.
#pragma once

#include <string>

#include "compress/message_stages.h"
#include "openai/types.h"
#include "tern/engine.h"
#include "tern/status.h"

namespace tern::server {

using StageReport = compress::StageReport;

// Rewrites `messages_json` (an OpenAI messages array whose contents are
// strings) in place: compaction (summaries by the served model; `states`
// remembers conversations), TOON, compression. Compression treats
// system/developer messages as the instruction and the last user message as
// the question (both verbatim), every other message as context. Blocks on the
// engine: run it on a worker thread (run_blocking). Fails with
// InvalidArgument on malformed messages.
Status apply_stages(Engine& engine, const TernStages& stages, std::string& messages_json, StageReport* report = nullptr,
                    compact::StateStore* states = nullptr);

}  // namespace tern::server
