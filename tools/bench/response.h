// Turns one HTTP response of an OpenAI-compatible server into a
// RequestRecord: SSE events (tern, llama.cpp, vLLM) or a plain JSON body,
// output-carrying chunks timed as they arrive, usage (prompt, completion and
// cached tokens: `prompt_tokens_details.cached_tokens`, or llama.cpp's
// `timings.cache_n`), errors sent inside the stream. Pure: time comes in with
// the bytes, so recorded streams replay in tests.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "bench/client.h"
#include "bench/sse.h"
#include "bench/stats.h"

namespace tern::bench {

class ResponseReader {
 public:
  // `sent`: when the request was written (TTFT and E2E start there).
  ResponseReader(bool stream, Clock::time_point sent);

  void on_data(std::string_view bytes, Clock::time_point t);
  // Completes `rec` (tokens, usage, errors, E2E up to `end`) from the
  // response and transport result.
  void finish(const HttpResult& http, Clock::time_point end, RequestRecord* rec);

  const std::string& text() const { return text_; }  // generated text (first choice)
  bool done_seen() const { return done_; }

 private:
  void on_event(const SseEvent& e);
  void take_usage(const nlohmann::json& j);
  static std::string output_of(const nlohmann::json& choice);

  bool stream_;
  Clock::time_point sent_, now_, last_;
  SseParser sse_;
  std::string body_;  // non-streamed or error body
  std::string text_;
  RequestRecord rec_;
  bool done_ = false;
  std::string stream_error_;
};

double ms_between(Clock::time_point a, Clock::time_point b);

}  // namespace tern::bench
