// StopMatcher: stop strings matched on streamed, decoded text.
//
//   StopMatcher stop({"\n\n", "User:"});
//   for each decoded chunk:
//     auto [text, stopped] = stop.push(chunk);
//     send(text);
//     if (stopped) break;          // finish_reason "stop"
//   send(stop.flush());            // generation ended for another reason
//
// Contract:
//   - push() returns the text that can no longer become part of a stop
//     string. It holds back the longest tail that is a proper prefix of some
//     stop string, so a stop split across chunks (tokens) is still found.
//   - On a stop it returns the text before the stop string (never the stop
//     string itself) and stopped = true; everything after is discarded, and
//     later pushes return {"", true}. When several stop strings are complete
//     in one push, the one that starts first wins.
//   - Matching is on bytes; for valid UTF-8 that equals matching on code
//     points. push() also holds back an incomplete UTF-8 sequence at the end
//     (a token may end inside a character), so each emitted piece of valid
//     UTF-8 input is itself valid UTF-8.
//   - flush() returns whatever is held back (possibly invalid UTF-8 if the
//     input ended mid-character) and resets the hold.
// Empty stop strings are ignored. Held text is at most the longest stop
// string plus 3 bytes. Not thread-safe; one per sequence.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tern {

class StopMatcher {
 public:
  struct Output {
    std::string text;  // safe to emit now
    bool stopped = false;
  };

  explicit StopMatcher(std::vector<std::string> stop_strings);

  Output push(std::string_view new_text);
  std::string flush();

  bool stopped() const { return matched_ >= 0; }
  // Index into the constructor's list of the stop string that matched, or -1.
  int matched() const { return matched_; }
  // True when there are no (non-empty) stop strings: push() then passes text
  // through, holding back only incomplete UTF-8.
  bool empty() const { return stops_.empty(); }

 private:
  struct Stop {
    std::string text;
    int index;  // in the constructor's list
  };
  std::vector<Stop> stops_;
  std::string held_;
  int matched_ = -1;
};

}  // namespace tern
