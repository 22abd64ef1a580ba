#include "sample/stop.h"

#include <algorithm>
#include <utility>

namespace tern {
namespace {

// Length of the longest prefix of s that does not end inside a UTF-8
// sequence: s minus a trailing lead byte whose continuation bytes have not
// all arrived. Stray continuation bytes (invalid input) are not held.
size_t complete_utf8_prefix(std::string_view s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= std::min<size_t>(n, 4); ++back) {
    const auto b = static_cast<unsigned char>(s[n - back]);
    if ((b & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    size_t len = 1;
    if ((b & 0xE0) == 0xC0) {
      len = 2;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4;
    }
    return back < len ? n - back : n;
  }
  return n;
}

}  // namespace

StopMatcher::StopMatcher(std::vector<std::string> stop_strings) {
  for (size_t i = 0; i < stop_strings.size(); ++i) {
    if (!stop_strings[i].empty()) stops_.push_back({std::move(stop_strings[i]), static_cast<int>(i)});
  }
}

StopMatcher::Output StopMatcher::push(std::string_view new_text) {
  if (stopped()) return {"", true};
  held_.append(new_text);

  // A complete stop string anywhere in the held text; the earliest wins.
  size_t stop_pos = std::string::npos;
  for (const Stop& s : stops_) {
    const size_t pos = held_.find(s.text);
    if (pos < stop_pos) {
      stop_pos = pos;
      matched_ = s.index;
    }
  }
  if (stop_pos != std::string::npos) {
    std::string out = held_.substr(0, stop_pos);
    held_.clear();
    return {std::move(out), true};
  }

  // Hold the longest tail that a later chunk could complete into a stop.
  size_t hold = 0;
  for (const Stop& s : stops_) {
    for (size_t len = std::min(s.text.size() - 1, held_.size()); len > hold; --len) {
      if (held_.compare(held_.size() - len, len, s.text, 0, len) == 0) {
        hold = len;
        break;
      }
    }
  }
  const size_t cut = std::min(held_.size() - hold, complete_utf8_prefix(held_));
  std::string out = held_.substr(0, cut);
  held_.erase(0, cut);
  return {std::move(out), false};
}

std::string StopMatcher::flush() {
  if (stopped()) return {};
  return std::exchange(held_, {});
}

}  // namespace tern
