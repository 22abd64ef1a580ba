// Incremental parser for server-sent events (the WHATWG "event stream"
// grammar) as OpenAI-compatible servers send them: tern, llama.cpp, vLLM.
//
// Feed it bytes as they arrive, split anywhere (inside a line, between CR and
// LF, inside a UTF-8 sequence); it calls back once per complete event.
//   - lines end in LF, CRLF or a lone CR;
//   - a line starting with ':' is a comment (keep-alives) and is ignored;
//   - "field: value" strips one space after the colon; "data" lines of one
//     event are joined with '\n' (multi-line events);
//   - a blank line dispatches the event; an event with no data and no error
//     field is dropped, as the spec says;
//   - llama.cpp reports some failures as an "error: {...}" field rather than a
//     data line; it is kept in SseEvent::error instead of being dropped.
// Not thread-safe; one parser per response stream.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace tern::bench {

struct SseEvent {
  std::string event;  // "event:" field, empty when absent ("message")
  std::string data;   // data lines joined by '\n'
  std::string id;
  std::string error;  // llama.cpp's "error:" field, if any
};

class SseParser {
 public:
  using Callback = std::function<void(const SseEvent&)>;
  explicit SseParser(Callback on_event) : on_event_(std::move(on_event)) {}

  void feed(std::string_view bytes);
  // End of stream: dispatches a final event whose blank line never came
  // (lenient; the spec would drop it). Returns the bytes of an unfinished line.
  void finish();

  size_t events() const { return events_; }

 private:
  void line(std::string_view l);
  void dispatch();

  Callback on_event_;
  std::string partial_;      // bytes of the current unfinished line
  bool skip_lf_ = false;     // last byte was CR: a following LF belongs to it
  bool bom_checked_ = false;
  bool has_data_ = false;
  SseEvent cur_;
  size_t events_ = 0;
};

}  // namespace tern::bench
