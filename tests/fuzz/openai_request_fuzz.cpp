// libFuzzer target for the OpenAI request parsers (server/openai/parse): any
// body must give a request or an ApiError, never crash, for chat
// completions, completions and embeddings alike.
#include <cstddef>
#include <cstdint>
#include <string>

#include "openai/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  (void)tern::server::parse_chat_request(body);
  (void)tern::server::parse_completion_request(body);
  (void)tern::server::parse_embedding_request(body);
  return 0;
}
