#include "bench/sse.h"

namespace tern::bench {

void SseParser::feed(std::string_view b) {
  size_t i = 0;
  if (skip_lf_ && !b.empty()) {
    if (b[0] == '\n') i = 1;
    skip_lf_ = false;
  }
  while (i < b.size()) {
    size_t j = b.find_first_of("\r\n", i);
    if (j == std::string_view::npos) {
      partial_.append(b.substr(i));
      break;
    }
    if (partial_.empty()) {
      line(b.substr(i, j - i));
    } else {
      partial_.append(b.substr(i, j - i));
      line(partial_);
      partial_.clear();
    }
    if (b[j] == '\r') {
      if (j + 1 < b.size()) {
        i = j + (b[j + 1] == '\n' ? 2 : 1);
      } else {
        skip_lf_ = true;
        i = j + 1;
      }
    } else {
      i = j + 1;
    }
  }
}

void SseParser::finish() {
  if (!partial_.empty()) {
    std::string l;
    l.swap(partial_);
    line(l);
  }
  dispatch();
}

void SseParser::line(std::string_view l) {
  if (!bom_checked_) {
    bom_checked_ = true;
    if (l.substr(0, 3) == "\xEF\xBB\xBF") l.remove_prefix(3);
  }
  if (l.empty()) {
    dispatch();
    return;
  }
  if (l[0] == ':') return;  // comment / keep-alive
  std::string_view field = l, value;
  if (size_t c = l.find(':'); c != std::string_view::npos) {
    field = l.substr(0, c);
    value = l.substr(c + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) cur_.data.push_back('\n');
    cur_.data.append(value);
    has_data_ = true;
  } else if (field == "event") {
    cur_.event.assign(value);
  } else if (field == "id") {
    cur_.id.assign(value);
  } else if (field == "error") {
    if (!cur_.error.empty()) cur_.error.push_back('\n');
    cur_.error.append(value);
  }  // "retry" and unknown fields are ignored
}

void SseParser::dispatch() {
  if (has_data_ || !cur_.error.empty()) {
    ++events_;
    on_event_(cur_);
  }
  cur_ = SseEvent{};
  has_data_ = false;
}

}  // namespace tern::bench
