#include "backend/openai_wire.h"

namespace tern::opt {

const char* api_path(ApiKind k) { return k == ApiKind::kChat ? "/v1/chat/completions" : "/v1/completions"; }

void SseParser::feed(std::string_view bytes, const std::function<void(std::string&&)>& on_data) {
  for (char c : bytes) {
    if (c != '\n') {
      line_ += c;
      continue;
    }
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (line_.empty()) {  // blank line: dispatch
      if (has_data_) on_data(std::move(data_));
      data_.clear();
      has_data_ = false;
    } else if (line_.rfind("data:", 0) == 0) {
      std::string_view v(line_);
      v.remove_prefix(5);
      if (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      if (has_data_) data_ += '\n';
      data_.append(v);
      has_data_ = true;
    }
    line_.clear();
  }
}

TokenUsage parse_usage(const json& u) {
  TokenUsage t;
  if (!u.is_object()) return t;
  t.prompt_tokens = u.value("prompt_tokens", int64_t{0});
  t.completion_tokens = u.value("completion_tokens", int64_t{0});
  if (auto d = u.find("prompt_tokens_details"); d != u.end() && d->is_object())
    t.cached_tokens = d->value("cached_tokens", int64_t{0});
  return t;
}

namespace {

json bytes_json(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

}  // namespace

json chat_logprobs_json(const TokenLogprobs& lp, int top_n, const TokenTextFn& text) {
  json content = json::array();
  for (size_t i = 0; i < lp.tokens.size(); ++i) {
    std::string t = text(lp.tokens[i]);
    json top = json::array();
    if (i < lp.top.size()) {
      for (size_t k = 0; k < lp.top[i].size() && static_cast<int>(k) < top_n; ++k) {
        std::string a = text(lp.top[i][k].token);
        top.push_back({{"token", a}, {"logprob", lp.top[i][k].logprob}, {"bytes", bytes_json(a)}});
      }
    }
    float l = i < lp.logprobs.size() ? lp.logprobs[i] : 0.0f;
    content.push_back({{"token", t}, {"logprob", l}, {"bytes", bytes_json(t)}, {"top_logprobs", top}});
  }
  return {{"content", content}};
}

json completion_logprobs_json(const TokenLogprobs& lp, int top_n, const TokenTextFn& text, size_t text_offset0) {
  json tokens = json::array(), token_lps = json::array(), tops = json::array(), offsets = json::array();
  size_t offset = text_offset0;
  for (size_t i = 0; i < lp.tokens.size(); ++i) {
    std::string t = text(lp.tokens[i]);
    tokens.push_back(t);
    token_lps.push_back(i < lp.logprobs.size() ? lp.logprobs[i] : 0.0f);
    offsets.push_back(offset);
    offset += t.size();
    json top = json::object();
    if (i < lp.top.size())
      for (size_t k = 0; k < lp.top[i].size() && static_cast<int>(k) < top_n; ++k)
        top[text(lp.top[i][k].token)] = lp.top[i][k].logprob;
    tops.push_back(top_n > 0 ? top : json(nullptr));
  }
  return {{"tokens", tokens}, {"token_logprobs", token_lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

void append_logprobs(json& into, const json& delta) {
  if (!delta.is_object()) return;
  if (!into.is_object()) {
    into = delta;
    return;
  }
  for (const auto& [k, v] : delta.items()) {
    if (!v.is_array()) continue;
    json& dst = into[k];
    if (!dst.is_array()) dst = json::array();
    for (const auto& x : v) dst.push_back(x);
  }
}

namespace {

void read_logprobs(ApiKind kind, const json& lp, std::vector<float>& out) {
  if (!lp.is_object()) return;
  if (kind == ApiKind::kChat) {
    auto c = lp.find("content");
    if (c == lp.end() || !c->is_array()) return;
    for (const auto& t : *c)
      if (t.is_object() && t.contains("logprob") && t["logprob"].is_number()) out.push_back(t["logprob"].get<float>());
  } else {
    auto c = lp.find("token_logprobs");
    if (c == lp.end() || !c->is_array()) return;
    for (const auto& v : *c)
      if (v.is_number()) out.push_back(v.get<float>());
  }
}

WireDelta parse_choice(ApiKind kind, const json& body, const char* message_field) {
  WireDelta d;
  if (!body.is_object()) return d;
  if (auto u = body.find("usage"); u != body.end() && u->is_object()) {
    d.has_usage = true;
    d.usage = parse_usage(*u);
  }
  auto cs = body.find("choices");
  if (cs == body.end() || !cs->is_array() || cs->empty()) return d;
  const json& c = (*cs)[0];
  if (!c.is_object()) return d;
  if (kind == ApiKind::kChat) {
    auto m = c.find(message_field);
    if (m != c.end() && m->is_object()) {
      if (auto t = m->find("content"); t != m->end() && t->is_string()) d.text = t->get<std::string>();
      if (auto t = m->find("tool_calls"); t != m->end() && t->is_array() && !t->empty()) d.tool_calls = *t;
    }
  } else if (auto t = c.find("text"); t != c.end() && t->is_string()) {
    d.text = t->get<std::string>();
  }
  if (auto f = c.find("finish_reason"); f != c.end() && f->is_string()) d.finish_reason = f->get<std::string>();
  if (auto lp = c.find("logprobs"); lp != c.end()) {
    read_logprobs(kind, *lp, d.logprobs);
    if (lp->is_object()) d.logprobs_json = *lp;
  }
  return d;
}

}  // namespace

WireDelta parse_chunk(ApiKind kind, const json& chunk) { return parse_choice(kind, chunk, "delta"); }
WireDelta parse_response(ApiKind kind, const json& response) { return parse_choice(kind, response, "message"); }

std::string error_message_of(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_object()) {
    auto e = j.find("error");
    if (e != j.end() && e->is_object() && e->contains("message") && (*e)["message"].is_string())
      return (*e)["message"].get<std::string>();
    if (e != j.end() && e->is_string()) return e->get<std::string>();
  }
  return body.size() > 200 ? body.substr(0, 200) : body;
}

}  // namespace tern::opt
