#include "backend/local_backend.h"

#include <algorithm>
#include <atomic>

#include "backend/openai_wire.h"

namespace tern::opt {

LocalBackend::LocalBackend(std::string name, Engine* engine) : name_(std::move(name)), engine_(engine) {}

Result<std::unique_ptr<LocalBackend>> LocalBackend::open(std::string name, const EngineOptions& options) {
  auto e = Engine::create(options);
  if (!e.ok()) return e.status();
  auto b = std::make_unique<LocalBackend>(std::move(name), e->get());
  b->owned_ = std::move(*e);
  return b;
}

namespace {

// Content given as parts ([{"type":"text","text":...}]) becomes one string.
json flatten_messages(const json& messages) {
  json out = json::array();
  for (const auto& m : messages) {
    json copy = m;
    if (m.is_object() && m.contains("content") && m["content"].is_array()) {
      std::string text;
      for (const auto& p : m["content"])
        if (p.is_object() && p.value("type", "") == "text" && p.contains("text") && p["text"].is_string())
          text += p["text"].get<std::string>();
      copy["content"] = text;
    }
    out.push_back(std::move(copy));
  }
  return out;
}

template <typename T>
bool read_number(const json& b, const char* key, T& out) {
  auto it = b.find(key);
  if (it == b.end() || it->is_null()) return true;
  if (!it->is_number()) return false;
  out = it->get<T>();
  return true;
}

// Alternatives per token the client asked for with its logprobs; -1 when it
// asked for no logprobs. Chat: "logprobs": true and "top_logprobs": n;
// completions: "logprobs": n.
int client_top_logprobs(ApiKind kind, const json& b) {
  auto lp = b.find("logprobs");
  if (lp == b.end() || lp->is_null()) return -1;
  if (kind == ApiKind::kChat) {
    if (!lp->is_boolean() || !lp->get<bool>()) return -1;
    auto t = b.find("top_logprobs");
    return t != b.end() && t->is_number_integer() ? std::clamp(t->get<int>(), 0, 20) : 0;
  }
  if (lp->is_number_integer()) return std::clamp(lp->get<int>(), 0, 20);
  return lp->is_boolean() && lp->get<bool>() ? 0 : -1;
}

}  // namespace

Result<GenerationRequest> LocalBackend::to_generation(const BackendRequest& r) const {
  const json& b = r.body;
  if (!b.is_object()) return InvalidArgument("request body must be a JSON object");
  GenerationRequest g;
  g.sampling.temperature = 1.0f;  // OpenAI's default
  SamplingParams& s = g.sampling;
  int64_t seed = -1;
  bool ok = read_number(b, "temperature", s.temperature) && read_number(b, "top_p", s.top_p) &&
            read_number(b, "top_k", s.top_k) && read_number(b, "min_p", s.min_p) &&
            read_number(b, "presence_penalty", s.presence_penalty) &&
            read_number(b, "frequency_penalty", s.frequency_penalty) &&
            read_number(b, "repetition_penalty", s.repetition_penalty) && read_number(b, "seed", seed) &&
            read_number(b, "max_tokens", g.stop.max_tokens) &&
            read_number(b, "max_completion_tokens", g.stop.max_tokens);
  if (!ok) return InvalidArgument("a sampling field is not a number");
  if (seed >= 0) s.seed = static_cast<uint64_t>(seed);
  if (auto it = b.find("ignore_eos"); it != b.end() && it->is_boolean()) g.stop.ignore_eos = it->get<bool>();
  if (auto it = b.find("stop"); it != b.end()) {
    if (it->is_string()) g.stop.stop_strings.push_back(it->get<std::string>());
    else if (it->is_array())
      for (const auto& x : *it)
        if (x.is_string()) g.stop.stop_strings.push_back(x.get<std::string>());
  }
  const int top = client_top_logprobs(r.kind, b);
  if (r.want_logprobs || top >= 0) s.n_probs = std::max(1, top);

  if (r.kind == ApiKind::kChat) {
    auto m = b.find("messages");
    if (m == b.end() || !m->is_array() || m->empty()) return InvalidArgument("'messages' must be a non-empty array");
    std::string tools;
    if (auto t = b.find("tools"); t != b.end() && t->is_array()) tools = t->dump();
    auto prompt = engine_->apply_chat_template(flatten_messages(*m).dump(), tools, true);
    if (!prompt.ok()) return InvalidArgument("cannot render the chat template: " + prompt.status().message());
    const std::string& bos = engine_->model_info().bos_text;
    g.add_special = bos.empty() || prompt->rfind(bos, 0) != 0;
    g.parse_special = true;
    g.prompt = std::move(*prompt);
  } else {
    auto p = b.find("prompt");
    if (p == b.end()) return InvalidArgument("'prompt' is required");
    if (p->is_string()) g.prompt = p->get<std::string>();
    else if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) g.prompt = (*p)[0].get<std::string>();
    else return InvalidArgument("'prompt' must be one string");
  }
  return g;
}

uint64_t LocalBackend::start(BackendRequest request, EventFn on_event) {
  auto g = to_generation(request);
  auto fn = std::make_shared<EventFn>(std::move(on_event));
  auto fail = [&](const Status& st) {
    BackendEvent ev;
    ev.finished = true;
    ev.finish_reason = "error";
    ev.error = st;
    ev.http_status = st.code() == StatusCode::kResourceExhausted ? 429 : 400;
    (*fn)(std::move(ev));
    return uint64_t{0};
  };
  if (!g.ok()) return fail(g.status());
  bool stream = request.stream;
  // Non-streamed requests collect the text (and the client's logprobs) here
  // and send one event.
  struct Acc {
    BackendEvent ev;
    TokenLogprobs lp;      // the client's logprobs, non-streamed
    size_t text_bytes = 0; // completions' text_offset, streamed
  };
  auto acc = std::make_shared<Acc>();
  const int top = client_top_logprobs(request.kind, request.body);
  const ApiKind kind = request.kind;
  Engine* engine = engine_;
  // The client's logprobs of a run of tokens, in the OpenAI shape of its API.
  auto shape = [kind, top, engine](const TokenLogprobs& lp, size_t offset0) -> json {
    auto text = [engine](TokenId t) { return engine->token_text(t); };
    return kind == ApiKind::kChat ? chat_logprobs_json(lp, top, text) : completion_logprobs_json(lp, top, text, offset0);
  };
  auto r = engine_->submit(std::move(*g), [stream, acc, fn, top, shape](const GenerationEvent& e) {
    BackendEvent ev;
    ev.text = e.text;
    for (const auto& l : e.logprobs) ev.logprobs.push_back(l.logprob);
    if (top >= 0 && !e.tokens.empty()) {
      if (stream) {
        TokenLogprobs lp{e.tokens, ev.logprobs, e.top_logprobs};
        ev.logprobs_json = shape(lp, acc->text_bytes);
        acc->text_bytes += e.text.size();
      } else {
        acc->lp.tokens.insert(acc->lp.tokens.end(), e.tokens.begin(), e.tokens.end());
        acc->lp.logprobs.insert(acc->lp.logprobs.end(), ev.logprobs.begin(), ev.logprobs.end());
        acc->lp.top.insert(acc->lp.top.end(), e.top_logprobs.begin(), e.top_logprobs.end());
      }
    }
    if (!e.finished) {
      if (!stream) {
        acc->ev.text += ev.text;
        acc->ev.logprobs.insert(acc->ev.logprobs.end(), ev.logprobs.begin(), ev.logprobs.end());
      } else if (!ev.text.empty() || !ev.logprobs.empty()) {
        (*fn)(std::move(ev));
      }
      return;
    }
    if (!stream) {
      acc->ev.text += ev.text;
      acc->ev.logprobs.insert(acc->ev.logprobs.end(), ev.logprobs.begin(), ev.logprobs.end());
      ev.text = std::move(acc->ev.text);
      ev.logprobs = std::move(acc->ev.logprobs);
      if (top >= 0) ev.logprobs_json = shape(acc->lp, 0);
    }
    ev.finished = true;
    ev.usage.prompt_tokens = e.usage.prompt_tokens;
    ev.usage.completion_tokens = e.usage.completion_tokens;
    ev.usage.cached_tokens = e.usage.cached_tokens;
    switch (e.finish_reason) {
      case FinishReason::kLength: ev.finish_reason = "length"; break;
      case FinishReason::kCancelled:
        ev.finish_reason = "error";
        ev.error = Status(StatusCode::kCancelled, "cancelled");
        break;
      case FinishReason::kError:
        ev.finish_reason = "error";
        ev.error = e.error;
        ev.http_status = 500;
        break;
      default: ev.finish_reason = "stop";
    }
    ev.before_output = ev.error.ok() ? false : e.usage.completion_tokens == 0;
    (*fn)(std::move(ev));
  });
  if (!r.ok()) return fail(r.status());
  return *r;
}

void LocalBackend::cancel(uint64_t handle) {
  if (handle != 0) engine_->cancel(handle);
}

}  // namespace tern::opt
