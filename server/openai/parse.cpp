#include "openai/parse.h"

#include <cmath>
#include <limits>
#include <optional>

#include <nlohmann/json.hpp>

#include "compress/message_stages.h"

namespace tern::server {

using json = nlohmann::json;

namespace {

// Reads optional fields of one JSON object; the first failure is kept and
// every later read is a no-op, so parsers read straight through and check once.
class Fields {
 public:
  explicit Fields(const json& obj) : obj_(obj) {}

  const json* get(const char* key) const {
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  bool failed() const { return error_.has_value(); }
  const ApiError& error() const { return *error_; }
  void fail(std::string message, const char* param) {
    if (!error_) error_ = bad_request(std::move(message), param);
  }

  // A number in [lo, hi] (a JSON int or float).
  template <typename T>
  void number(const char* key, T& out, double lo, double hi) {
    const json* v = failed() ? nullptr : get(key);
    if (!v) return;
    if (!v->is_number()) return fail(std::string("'") + key + "' must be a number", key);
    double d = v->get<double>();
    if (!std::isfinite(d) || d < lo || d > hi)
      return fail(std::string("'") + key + "' must be between " + fmt(lo) + " and " + fmt(hi) + ", got " + fmt(d), key);
    out = static_cast<T>(d);
  }
  // An integer in [lo, hi].
  template <typename T>
  void integer(const char* key, T& out, double lo, double hi) {
    const json* v = failed() ? nullptr : get(key);
    if (!v) return;
    if (!v->is_number_integer() && !(v->is_number_float() && std::floor(v->get<double>()) == v->get<double>()))
      return fail(std::string("'") + key + "' must be an integer", key);
    double d = v->get<double>();
    if (d < lo || d > hi)
      return fail(std::string("'") + key + "' must be between " + fmt(lo) + " and " + fmt(hi) + ", got " + fmt(d), key);
    out = static_cast<T>(v->is_number_integer() ? v->get<int64_t>() : static_cast<int64_t>(d));
  }
  void boolean(const char* key, bool& out) {
    const json* v = failed() ? nullptr : get(key);
    if (!v) return;
    if (!v->is_boolean()) return fail(std::string("'") + key + "' must be a boolean", key);
    out = v->get<bool>();
  }
  void string(const char* key, std::string& out) {
    const json* v = failed() ? nullptr : get(key);
    if (!v) return;
    if (!v->is_string()) return fail(std::string("'") + key + "' must be a string", key);
    out = v->get<std::string>();
  }

  static std::string fmt(double d) {
    if (d == std::floor(d) && std::fabs(d) < 1e15) return std::to_string(static_cast<int64_t>(d));
    std::string s = std::to_string(d);
    while (s.size() > 1 && s.back() == '0') s.pop_back();
    return s;
  }

 private:
  const json& obj_;
  std::optional<ApiError> error_;
};

std::optional<ApiError> parse_object(const std::string& body, json& out) {
  out = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded()) return invalid_json(body.empty() ? "the body is empty" : "syntax error");
  if (!out.is_object()) return bad_request("request body must be a JSON object");
  return std::nullopt;
}

// stop: a string or an array of strings.
void parse_stop(Fields& f, std::vector<std::string>& out) {
  const json* v = f.failed() ? nullptr : f.get("stop");
  if (!v) return;
  if (v->is_string()) {
    if (!v->get<std::string>().empty()) out.push_back(v->get<std::string>());
    return;
  }
  if (!v->is_array()) return f.fail("'stop' must be a string or an array of strings", "stop");
  if (v->size() > 16) return f.fail("'stop' may hold at most 16 strings", "stop");
  for (const auto& s : *v) {
    if (!s.is_string()) return f.fail("'stop' must be a string or an array of strings", "stop");
    if (!s.get<std::string>().empty()) out.push_back(s.get<std::string>());
  }
}

// logit_bias: {"token id": bias}.
void parse_logit_bias(Fields& f, std::vector<std::pair<TokenId, float>>& out) {
  const json* v = f.failed() ? nullptr : f.get("logit_bias");
  if (!v) return;
  if (!v->is_object()) return f.fail("'logit_bias' must be an object of token id -> bias", "logit_bias");
  for (const auto& [k, b] : v->items()) {
    char* end = nullptr;
    long id = std::strtol(k.c_str(), &end, 10);
    if (k.empty() || *end || id < 0 || id > std::numeric_limits<TokenId>::max())
      return f.fail("'logit_bias' keys must be token ids, got '" + k + "'", "logit_bias");
    if (!b.is_number() || b.get<double>() < -100 || b.get<double>() > 100)
      return f.fail("'logit_bias' values must be numbers between -100 and 100", "logit_bias");
    out.emplace_back(static_cast<TokenId>(id), b.get<float>());
  }
}

// tern extension: "speculative" is a method name or {"method", "max_draft_tokens"}.
void parse_speculative(Fields& f, SpeculativeParams& out) {
  const json* v = f.failed() ? nullptr : f.get("speculative");
  if (!v) return;
  const char* kWhat = "'speculative' must be a method name (off, ngram, draft-model, self-spec) or an object "
                      "{\"method\": ..., \"max_draft_tokens\": N}";
  const json* method = v->is_string() ? v : nullptr;
  if (v->is_object()) {
    for (const auto& [k, x] : v->items())
      if (k != "method" && k != "max_draft_tokens")
        return f.fail("'speculative." + k + "' is not a known field (method, max_draft_tokens)", "speculative");
    if (auto it = v->find("method"); it != v->end() && !it->is_null()) method = &*it;
    if (auto it = v->find("max_draft_tokens"); it != v->end() && !it->is_null()) {
      if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > 32)
        return f.fail("'speculative.max_draft_tokens' must be an integer between 0 and 32", "speculative");
      out.max_draft_tokens = it->get<int32_t>();
    }
  } else if (!method) {
    return f.fail(kWhat, "speculative");
  }
  if (method && (!method->is_string() || !parse_spec_method(method->get<std::string>(), &out.method)))
    return f.fail(kWhat, "speculative");
}

// The fields chat and completions share. max_tokens_default: -1 for chat
// (until EOS or the context is full), 16 for completions (OpenAI's).
void parse_generation(Fields& f, GenerationParams& g, int32_t max_tokens_default) {
  f.string("model", g.model);
  SamplingParams& s = g.sampling;
  s.temperature = 1.0f;  // OpenAI's defaults
  s.top_p = 1.0f;
  f.number("temperature", s.temperature, 0, 2);
  f.number("top_p", s.top_p, 0, 1);
  if (!f.failed() && f.get("top_p") && s.top_p <= 0) f.fail("'top_p' must be greater than 0", "top_p");
  f.integer("top_k", s.top_k, -1, 1 << 30);
  f.number("min_p", s.min_p, 0, 1);
  f.number("presence_penalty", s.presence_penalty, -2, 2);
  f.number("frequency_penalty", s.frequency_penalty, -2, 2);
  f.number("repetition_penalty", s.repetition_penalty, 0, 2);
  if (!f.failed() && f.get("repetition_penalty") && s.repetition_penalty <= 0)
    f.fail("'repetition_penalty' must be greater than 0", "repetition_penalty");
  int64_t seed = -1;
  bool has_seed = f.get("seed") != nullptr;
  f.integer("seed", seed, -9.2e18, 9.2e18);
  if (has_seed) s.seed = static_cast<uint64_t>(seed) & 0x7FFFFFFFFFFFFFFFull;  // never the "random" sentinel
  parse_logit_bias(f, s.logit_bias);

  g.stop.max_tokens = max_tokens_default;
  f.integer("max_tokens", g.stop.max_tokens, 1, 1 << 30);
  f.integer("max_completion_tokens", g.stop.max_tokens, 1, 1 << 30);
  f.boolean("ignore_eos", g.stop.ignore_eos);
  parse_stop(f, g.stop.stop_strings);

  parse_speculative(f, g.speculative);
  f.integer("n", g.n, 1, 128);
  f.boolean("stream", g.stream);
  if (const json* so = f.failed() ? nullptr : f.get("stream_options")) {
    if (!so->is_object()) return f.fail("'stream_options' must be an object", "stream_options");
    auto it = so->find("include_usage");
    if (it != so->end() && !it->is_null()) {
      if (!it->is_boolean()) return f.fail("'stream_options.include_usage' must be a boolean", "stream_options");
      g.include_usage = it->get<bool>();
    }
  }
}

// Text of a message's content: a string, or an array of {"type":"text"} parts.
std::optional<std::string> flatten_content(const json& content, std::string& why) {
  if (content.is_null()) return std::string();
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) {
    why = "must be a string or an array of content parts";
    return std::nullopt;
  }
  std::string text;
  for (const auto& part : content) {
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
      why = "content parts must be objects with a 'type'";
      return std::nullopt;
    }
    if (part["type"] != "text") {
      why = "content part type '" + part["type"].get<std::string>() + "' is not supported (text only)";
      return std::nullopt;
    }
    if (!part.contains("text") || !part["text"].is_string()) {
      why = "a text content part needs a string 'text'";
      return std::nullopt;
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

// A prompt: a string, an array of token ids, or (when batch) an array of
// either. Used by completions' prompt and embeddings' input.
void parse_prompts(Fields& f, const char* key, std::vector<PromptInput>& out) {
  const json* v = f.failed() ? nullptr : f.get(key);
  if (!v) return f.fail(std::string("'") + key + "' is required", key);
  auto one = [&](const json& p) -> bool {
    PromptInput in;
    if (p.is_string()) {
      in.text = p.get<std::string>();
    } else if (p.is_array()) {
      in.is_tokens = true;
      for (const auto& t : p) {
        if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > std::numeric_limits<TokenId>::max())
          return false;
        in.tokens.push_back(t.get<TokenId>());
      }
    } else {
      return false;
    }
    out.push_back(std::move(in));
    return true;
  };
  const char* shape = "must be a string, an array of strings, an array of token ids or an array of those arrays";
  if (v->is_string()) {
    one(*v);
  } else if (v->is_array() && !v->empty() && v->front().is_number()) {
    if (!one(*v)) return f.fail(std::string("'") + key + "' " + shape, key);
  } else if (v->is_array()) {
    if (v->empty()) return f.fail(std::string("'") + key + "' must not be empty", key);
    if (v->size() > 2048) return f.fail(std::string("'") + key + "' may hold at most 2048 prompts", key);
    for (const auto& p : *v)
      if (!one(p)) return f.fail(std::string("'") + key + "' " + shape, key);
  } else {
    return f.fail(std::string("'") + key + "' " + shape, key);
  }
}

// "tern": {"toon", "compress", "compact"} — tern's per-request stages
// (docs/compression.md), read as the gateway reads them.
void parse_tern_stages(Fields& f, TernStages& st) {
  const json* v = f.failed() ? nullptr : f.get("tern");
  if (!v) return;
  if (const std::string err = compress::parse_message_stages(*v, st); !err.empty()) return f.fail(err, "tern");
}

}  // namespace

Parsed<ChatRequest> parse_chat_request(const std::string& body) {
  json j;
  if (auto e = parse_object(body, j)) return *e;
  Fields f(j);
  ChatRequest r;
  parse_generation(f, r.gen, -1);
  f.boolean("logprobs", r.gen.logprobs);
  f.integer("top_logprobs", r.gen.top_logprobs, 0, 20);
  parse_tern_stages(f, r.stages);
  if (!f.failed() && r.gen.top_logprobs > 0 && !r.gen.logprobs)
    f.fail("'top_logprobs' requires 'logprobs': true", "top_logprobs");

  const json* msgs = f.failed() ? nullptr : f.get("messages");
  if (!f.failed() && !msgs) f.fail("'messages' is required", "messages");
  if (!f.failed() && (!msgs->is_array() || msgs->empty())) f.fail("'messages' must be a non-empty array", "messages");
  if (f.failed()) return f.error();
  json flat = json::array();
  for (size_t i = 0; i < msgs->size(); ++i) {
    const json& m = (*msgs)[i];
    std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return bad_request(where + " must be an object", "messages");
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) return bad_request(where + ".role must be a string", "messages");
    static const char* kRoles[] = {"system", "developer", "user", "assistant", "tool", "function"};
    bool known = false;
    for (const char* k : kRoles) known |= *role == k;
    if (!known) return bad_request(where + ".role '" + role->get<std::string>() + "' is not a known role", "messages");
    json out = m;
    auto content = m.find("content");
    if (content == m.end() && !m.contains("tool_calls"))
      return bad_request(where + ".content is required", "messages");
    if (content != m.end()) {
      std::string why;
      auto text = flatten_content(*content, why);
      if (!text) return bad_request(where + ".content " + why, "messages");
      out["content"] = *text;
    }
    flat.push_back(std::move(out));
  }
  r.messages_json = flat.dump(-1, ' ', false, json::error_handler_t::replace);
  if (const json* tools = f.get("tools")) {
    if (!tools->is_array()) return bad_request("'tools' must be an array", "tools");
    if (!tools->empty()) r.tools_json = tools->dump(-1, ' ', false, json::error_handler_t::replace);
  }
  if (f.failed()) return f.error();
  return r;
}

Parsed<CompletionRequest> parse_completion_request(const std::string& body) {
  json j;
  if (auto e = parse_object(body, j)) return *e;
  Fields f(j);
  CompletionRequest r;
  parse_generation(f, r.gen, 16);
  int32_t logprobs = -1;
  f.integer("logprobs", logprobs, 0, 20);
  if (logprobs >= 0) {
    r.gen.logprobs = true;
    r.gen.top_logprobs = logprobs;
  }
  f.boolean("echo", r.echo);
  int32_t best_of = r.gen.n;
  f.integer("best_of", best_of, 1, 128);
  if (!f.failed() && best_of != r.gen.n) f.fail("'best_of' other than 'n' is not supported", "best_of");
  const json* suffix = f.failed() ? nullptr : f.get("suffix");
  if (suffix && !(suffix->is_string() && suffix->get<std::string>().empty()))
    f.fail("'suffix' is not supported", "suffix");
  parse_prompts(f, "prompt", r.prompts);
  if (f.failed()) return f.error();
  if (r.prompts.size() * static_cast<size_t>(r.gen.n) > 2048)
    return bad_request("at most 2048 choices (prompts x n) per request", "n");
  return r;
}

Parsed<EmbeddingRequest> parse_embedding_request(const std::string& body) {
  json j;
  if (auto e = parse_object(body, j)) return *e;
  Fields f(j);
  EmbeddingRequest r;
  f.string("model", r.model);
  std::string format = "float";
  f.string("encoding_format", format);
  if (!f.failed() && format != "float" && format != "base64")
    f.fail("'encoding_format' must be 'float' or 'base64'", "encoding_format");
  r.base64 = format == "base64";
  if (!f.failed() && f.get("dimensions")) f.fail("'dimensions' is not supported", "dimensions");
  parse_prompts(f, "input", r.inputs);
  if (f.failed()) return f.error();
  for (const auto& in : r.inputs)
    if ((in.is_tokens && in.tokens.empty()) || (!in.is_tokens && in.text.empty()))
      return bad_request("'input' must not contain empty strings or empty token arrays", "input");
  return r;
}

}  // namespace tern::server
