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
  bool any() const { return toon || compress; }
};

}  // namespace tern::compress
