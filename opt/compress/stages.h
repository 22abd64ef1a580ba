// compress/stages.h — which of tern's message stages a request or a gateway
// route asks for (applied by compress/message_stages.h). Plain data, no
// dependencies, so that configuration code can hold it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tern::compress {

struct MessageStages {
  bool toon = false;                // JSON in tool/user/function messages -> TOON when it saves tokens
  bool compress = false;            // prompt compression of the context messages
  double ratio = 2.0;               // compress.ratio (>= 1)
  int64_t target_tokens = 0;        // compress.target_tokens (> 0 overrides ratio)
  std::vector<std::string> force;   // compress.force_tokens: strings never dropped
  bool coarse = true, fine = true;  // the compressor's two levels (/v1/compress "coarse", "fine")
  bool iterative = false;           // compress.iterative: windows conditioned on the compressed prefix
  // Context compaction (compact/compactor.h), before the other stages.
  bool compact = false;
  int64_t context_tokens = 0;       // compact.context_tokens; 0: the caller's default (the model's context)
  double trigger = 0.75;            // compact.trigger: compact past this share of context_tokens
  double target = 0.40;             // compact.target: down to about this share
  int32_t keep_recent = 6;          // compact.keep_recent: last messages kept verbatim
  int64_t tool_output_tokens = 256; // compact.tool_output_tokens: old tool outputs cut to about this
  std::string compact_model;        // gateway routes: the model that writes summaries ("": the route's first)
  bool any() const { return toon || compress || compact; }
};

}  // namespace tern::compress
