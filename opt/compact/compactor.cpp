#include "compact/compactor.h"

#include <algorithm>
#include <cmath>

namespace tern::compact {

namespace {

constexpr int64_t kPerMessage = 4;  // role and framing, as OpenAI's counting guide estimates

// The text a message carries: a string content, or the text parts of an array.
std::string content_text(const Json& m) {
  if (!m.contains("content")) return {};
  const Json& c = m["content"];
  if (c.is_string()) return c.get<std::string>();
  std::string out;
  if (c.is_array())
    for (const Json& part : c)
      if (part.is_object() && part.contains("text") && part["text"].is_string()) {
        if (!out.empty()) out += '\n';
        out += part["text"].get<std::string>();
      }
  return out;
}

std::string role_of(const Json& m) { return m.value("role", std::string()); }

bool is_pinned(const Json& m) {
  const std::string r = role_of(m);
  return r == "system" || r == "developer";
}

// Back to a UTF-8 character boundary at or before i.
size_t utf8_floor(const std::string& s, size_t i) {
  while (i > 0 && i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

}  // namespace

Compactor::Compactor(CompactOptions options, TokenCounter count_tokens, Summarizer summarize)
    : o_(std::move(options)), count_tokens_(std::move(count_tokens)), summarize_(std::move(summarize)) {}

Status Compactor::validate() const {
  if (!count_tokens_ || !summarize_) return InvalidArgument("compaction needs a token counter and a summariser");
  if (o_.context_tokens <= 0) return InvalidArgument("context_tokens must be positive");
  if (!(o_.trigger > 0 && o_.trigger <= 1)) return InvalidArgument("trigger must be in (0, 1]");
  if (!(o_.target > 0 && o_.target < o_.trigger)) return InvalidArgument("target must be in (0, trigger)");
  if (o_.keep_recent < 1) return InvalidArgument("keep_recent must be at least 1");
  if (o_.tool_output_tokens < 16) return InvalidArgument("tool_output_tokens must be at least 16");
  return Status::Ok();
}

int64_t Compactor::count(const Json& messages) const {
  int64_t n = 0;
  for (const Json& m : messages) {
    n += kPerMessage + static_cast<int64_t>(count_tokens_(content_text(m)));
    if (m.contains("tool_calls")) n += static_cast<int64_t>(count_tokens_(m["tool_calls"].dump()));
  }
  return n;
}

std::string Compactor::summary_prompt(const Json& messages) const {
  std::string p = o_.instruction + "\n\n";
  for (const Json& m : messages) {
    p += role_of(m);
    if (m.contains("name") && m["name"].is_string()) p += " (" + m["name"].get<std::string>() + ")";
    p += ": " + content_text(m);
    if (m.contains("tool_calls")) p += "\n[tool calls] " + m["tool_calls"].dump();
    p += "\n\n";
  }
  p += "Summary:";
  return p;
}

// Head and tail of a long text, cut at line breaks when one is near, with
// the number of characters left out in between.
std::string Compactor::shorten(const std::string& text) const {
  const int64_t tokens = static_cast<int64_t>(count_tokens_(text));
  if (tokens <= o_.tool_output_tokens) return text;
  const double bytes_per_token = static_cast<double>(text.size()) / static_cast<double>(std::max<int64_t>(1, tokens));
  const size_t keep = static_cast<size_t>(std::floor(bytes_per_token * static_cast<double>(o_.tool_output_tokens)));
  size_t head = utf8_floor(text, keep * 2 / 3);
  size_t tail_start = utf8_floor(text, text.size() - keep / 3);
  if (const size_t nl = text.rfind('\n', head); nl != std::string::npos && nl > head / 2) head = nl + 1;
  if (const size_t nl = text.find('\n', tail_start); nl != std::string::npos && nl < tail_start + keep / 6)
    tail_start = nl + 1;
  if (tail_start <= head) return text;
  return text.substr(0, head) + "\n[... " + std::to_string(tail_start - head) + " characters omitted ...]\n" +
         text.substr(tail_start);
}

// The head of `text` in about `tokens` tokens, cut at a word boundary.
std::string Compactor::cut_to(const std::string& text, int64_t tokens) const {
  size_t lo = 0, hi = text.size();
  while (lo < hi) {  // the longest prefix (at a space) that fits
    const size_t mid = utf8_floor(text, lo + (hi - lo + 1) / 2);
    if (mid <= lo) break;
    if (static_cast<int64_t>(count_tokens_(std::string_view(text).substr(0, mid))) <= tokens) lo = mid;
    else hi = mid - 1;
  }
  size_t end = lo;
  if (end < text.size()) {
    const size_t sp = text.rfind(' ', end);
    if (sp != std::string::npos && sp > end / 2) end = sp;
  }
  return text.substr(0, end) + (end < text.size() ? " ..." : "");
}

Result<Json> Compactor::step(const Json& in, CompactResult& r) const {
  const int64_t goal = static_cast<int64_t>(std::floor(o_.target * static_cast<double>(o_.context_tokens)));
  const size_t n = in.size();
  size_t pinned = 0;
  while (pinned < n && is_pinned(in[pinned])) ++pinned;
  size_t recent = n > static_cast<size_t>(o_.keep_recent) ? n - static_cast<size_t>(o_.keep_recent) : 0;
  recent = std::max(recent, pinned);
  // A tool result must follow the assistant message that called it.
  while (recent > pinned && role_of(in[recent]) == "tool") --recent;
  if (recent <= pinned) {  // nothing old enough to compact
    Json out = in;
    shorten_recent_if_over(out, pinned, r);
    return out;
  }

  Json out = Json::array();
  for (size_t i = 0; i < n; ++i) {
    Json m = in[i];
    if (i >= pinned && i < recent && role_of(m) == "tool") {
      const std::string text = content_text(m);
      const std::string s = shorten(text);
      if (s.size() != text.size()) {
        m["content"] = s;
        ++r.shortened_tool_outputs;
      }
    }
    out.push_back(std::move(m));
  }
  if (count(out) <= goal) return out;

  Json middle = Json::array();
  for (size_t i = pinned; i < recent; ++i) middle.push_back(out[i]);
  // The summary gets what the target leaves after the pinned and recent
  // messages (at least 32 tokens); an answer longer than that is cut to it.
  int64_t kept = 0;
  for (size_t i = 0; i < n; ++i)
    if (i < pinned || i >= recent) kept += count(Json::array({out[i]}));
  const int64_t room = std::max<int64_t>(32, goal - kept - count(Json::array({Json{{"role", o_.summary_role},
                                                                             {"content", o_.summary_prefix}}})));
  TERN_ASSIGN_OR_RETURN(std::string summary, summarize_(summary_prompt(middle), room));
  if (static_cast<int64_t>(count_tokens_(summary)) > room) summary = cut_to(summary, room);
  Json result = Json::array();
  for (size_t i = 0; i < pinned; ++i) result.push_back(out[i]);
  result.push_back(Json{{"role", o_.summary_role}, {"content", o_.summary_prefix + summary}});
  for (size_t i = recent; i < n; ++i) result.push_back(out[i]);
  r.summarized_messages = static_cast<int32_t>(recent - pinned);
  shorten_recent_if_over(result, result.size() - (n - recent), r);
  return result;
}

// Still past the trigger with the old part compacted: the recent tool
// outputs are what is too long; they are shortened too, or every later turn
// would step again (a new summary each turn, no stable prefix).
void Compactor::shorten_recent_if_over(Json& msgs, size_t from, CompactResult& r) const {
  const int64_t trigger = static_cast<int64_t>(std::floor(o_.trigger * static_cast<double>(o_.context_tokens)));
  if (count(msgs) <= trigger) return;
  for (size_t i = from; i < msgs.size(); ++i) {
    if (role_of(msgs[i]) != "tool") continue;
    const std::string text = content_text(msgs[i]);
    const std::string s = shorten(text);
    if (s.size() != text.size()) {
      msgs[i]["content"] = s;
      ++r.shortened_tool_outputs;
    }
  }
}

Result<CompactResult> Compactor::compact(const Json& messages, CompactionState* state) const {
  TERN_RETURN_IF_ERROR(validate());
  if (!messages.is_array()) return InvalidArgument("messages must be an array");
  for (const Json& m : messages)
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      return InvalidArgument("every message must be an object with a string role");
  CompactResult r;
  r.tokens_before = count(messages);

  // Apply the stored compaction when the conversation only grew since.
  Json working = messages;
  if (state && !state->messages_in.empty() && state->messages_in.size() <= messages.size() &&
      std::equal(state->messages_in.begin(), state->messages_in.end(), messages.begin())) {
    working = state->messages_out;
    for (size_t i = state->messages_in.size(); i < messages.size(); ++i) working.push_back(messages[i]);
    r.reused = true;
  }
  const int64_t trigger = static_cast<int64_t>(std::floor(o_.trigger * static_cast<double>(o_.context_tokens)));
  if (count(working) > trigger) {
    TERN_ASSIGN_OR_RETURN(Json next, step(working, r));
    r.compacted = next != working;
    working = std::move(next);
  }
  r.tokens_after = count(working);
  r.messages = std::move(working);
  if (state) {
    state->messages_in = messages;
    state->messages_out = r.messages;
  }
  return r;
}

}  // namespace tern::compact
