#include "bench/response.h"

namespace tern::bench {

using nlohmann::json;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

ResponseReader::ResponseReader(bool stream, Clock::time_point sent)
    : stream_(stream), sent_(sent), now_(sent), last_(sent), sse_([this](const SseEvent& e) { on_event(e); }) {}

void ResponseReader::on_data(std::string_view bytes, Clock::time_point t) {
  now_ = t;
  if (stream_) {
    sse_.feed(bytes);
    // An error answer is JSON, not SSE: keep a copy to report its message.
    if (body_.size() < 65536) body_.append(bytes.substr(0, 65536 - body_.size()));
  } else {
    body_.append(bytes);
  }
}

std::string ResponseReader::output_of(const json& c) {
  std::string out;
  if (auto d = c.find("delta"); d != c.end() && d->is_object()) {  // chat stream
    for (const char* k : {"content", "reasoning_content", "reasoning"})
      if (auto it = d->find(k); it != d->end() && it->is_string()) out += it->get<std::string>();
    if (auto it = d->find("tool_calls"); it != d->end() && it->is_array() && !it->empty() && out.empty())
      out = it->dump();
  } else if (auto m = c.find("message"); m != c.end() && m->is_object()) {  // chat, not streamed
    if (auto it = m->find("content"); it != m->end() && it->is_string()) out = *it;
  } else if (auto it = c.find("text"); it != c.end() && it->is_string()) {  // completions
    out = *it;
  }
  return out;
}

void ResponseReader::take_usage(const json& j) {
  auto u = j.find("usage");
  if (u != j.end() && u->is_object()) {
    rec_.usage_reported = true;
    rec_.prompt_tokens = u->value("prompt_tokens", int64_t{0});
    rec_.output_tokens = u->value("completion_tokens", int64_t{0});
    if (auto d = u->find("prompt_tokens_details"); d != u->end() && d->is_object())
      rec_.cached_tokens = d->value("cached_tokens", int64_t{0});
  }
  // llama.cpp: "timings": {"cache_n": cached prompt tokens, "prompt_n": computed ones}
  if (auto t = j.find("timings"); t != j.end() && t->is_object() && rec_.cached_tokens == 0) {
    if (auto c = t->find("cache_n"); c != t->end() && c->is_number_integer()) rec_.cached_tokens = *c;
  }
}

void ResponseReader::on_event(const SseEvent& e) {
  if (!e.error.empty()) {
    stream_error_ = e.error;
    return;
  }
  if (e.data == "[DONE]") {
    done_ = true;
    return;
  }
  json j = json::parse(e.data, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    if (stream_error_.empty()) stream_error_ = "unparseable event: " + e.data.substr(0, 200);
    return;
  }
  if (auto err = j.find("error"); err != j.end() && !err->is_null()) {
    stream_error_ = err->dump();
    return;
  }
  if (auto ch = j.find("choices"); ch != j.end() && ch->is_array()) {
    for (const json& c : *ch) {
      if (c.value("index", 0) != 0) continue;  // time the first choice only
      std::string out = output_of(c);
      if (out.empty()) continue;
      if (rec_.chunks == 0) rec_.ttft_ms = ms_between(sent_, now_);
      else rec_.itl_ms.push_back(ms_between(last_, now_));
      last_ = now_;
      ++rec_.chunks;
      text_ += out;
    }
  }
  take_usage(j);
}

void ResponseReader::finish(const HttpResult& http, Clock::time_point end, RequestRecord* rec) {
  if (stream_ && http.error.empty() && http.status == 200) {
    // A 200 that is not an event stream (a server ignoring "stream") is read as JSON.
    if (http.content_type.find("application/json") != std::string::npos && rec_.chunks == 0)
      stream_ = false;
    else
      sse_.finish();
  }
  RequestRecord r = std::move(rec_);
  rec_ = RequestRecord{};
  r.e2e_ms = ms_between(sent_, end);
  if (!http.error.empty()) {
    r.error = http.error;
    r.error_detail = http.detail;
  } else if (http.status != 200) {
    r.error = "http_" + std::to_string(http.status);
    r.error_detail = body_.substr(0, 300);
  } else if (stream_) {
    if (!stream_error_.empty()) r.error = "stream_error", r.error_detail = stream_error_;
  } else {
    json j = json::parse(body_, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      r.error = "bad_json";
      r.error_detail = body_.substr(0, 300);
    } else if (auto err = j.find("error"); err != j.end() && !err->is_null()) {
      r.error = "api_error";
      r.error_detail = err->dump();
    } else {
      if (auto ch = j.find("choices"); ch != j.end() && ch->is_array() && !ch->empty())
        text_ = output_of((*ch)[0]);
      r.chunks = text_.empty() ? 0 : 1;
      r.ttft_ms = r.e2e_ms;  // not streamed: the first token arrives with the last
      take_usage(j);
      r.usage_reported = rec_.usage_reported;
      r.prompt_tokens = rec_.prompt_tokens;
      r.output_tokens = rec_.output_tokens;
      r.cached_tokens = rec_.cached_tokens;
    }
  }
  if (!r.usage_reported) r.output_tokens = r.chunks;
  *rec = std::move(r);
}

}  // namespace tern::bench
