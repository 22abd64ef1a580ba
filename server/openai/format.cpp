#include "openai/format.h"

#include <cstring>
#include <random>

namespace tern::server {

std::string dump_json(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string sse_data(const json& j) { return "data: " + dump_json(j) + "\n\n"; }

json finish_reason_json(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "abort";
    case FinishReason::kError: return "error";
    case FinishReason::kNone: break;
  }
  return nullptr;
}

json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

json chat_completion_json(const ResponseMeta& m, const std::vector<ChoiceResult>& choices, const Usage& usage) {
  json cs = json::array();
  for (const auto& c : choices) {
    cs.push_back({{"index", c.index},
                  {"message", {{"role", "assistant"}, {"content", c.text}}},
                  {"logprobs", c.logprobs},
                  {"finish_reason", finish_reason_json(c.finish)}});
  }
  return {{"id", m.id},   {"object", "chat.completion"}, {"created", m.created}, {"model", m.model},
          {"choices", cs}, {"usage", usage_json(usage)},  {"system_fingerprint", "tern"}};
}

json completion_json(const ResponseMeta& m, const std::vector<ChoiceResult>& choices, const Usage& usage) {
  json cs = json::array();
  for (const auto& c : choices) {
    cs.push_back({{"index", c.index}, {"text", c.text}, {"logprobs", c.logprobs},
                  {"finish_reason", finish_reason_json(c.finish)}});
  }
  return {{"id", m.id},   {"object", "text_completion"}, {"created", m.created}, {"model", m.model},
          {"choices", cs}, {"usage", usage_json(usage)},  {"system_fingerprint", "tern"}};
}

json chat_chunk_json(const ResponseMeta& m, int index, const json& delta, const json& logprobs,
                     const json& finish_reason, bool include_usage) {
  json j = {{"id", m.id},
            {"object", "chat.completion.chunk"},
            {"created", m.created},
            {"model", m.model},
            {"system_fingerprint", "tern"},
            {"choices", json::array({{{"index", index}, {"delta", delta}, {"logprobs", logprobs},
                                      {"finish_reason", finish_reason}}})}};
  if (include_usage) j["usage"] = nullptr;
  return j;
}

json completion_chunk_json(const ResponseMeta& m, int index, const std::string& text, const json& logprobs,
                           const json& finish_reason, bool include_usage) {
  json j = {{"id", m.id},
            {"object", "text_completion"},
            {"created", m.created},
            {"model", m.model},
            {"system_fingerprint", "tern"},
            {"choices", json::array({{{"index", index}, {"text", text}, {"logprobs", logprobs},
                                      {"finish_reason", finish_reason}}})}};
  if (include_usage) j["usage"] = nullptr;
  return j;
}

json usage_chunk_json(const ResponseMeta& m, const char* object, const Usage& usage) {
  return {{"id", m.id},           {"object", object},  {"created", m.created},          {"model", m.model},
          {"system_fingerprint", "tern"}, {"choices", json::array()}, {"usage", usage_json(usage)}};
}

json models_json(const std::string& id, int64_t created, int32_t max_model_len) {
  return {{"object", "list"},
          {"data", json::array({{{"id", id},
                                 {"object", "model"},
                                 {"created", created},
                                 {"owned_by", "tern"},
                                 {"max_model_len", max_model_len}}})}};
}

std::string base64_floats(const std::vector<float>& v) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes(v.size() * 4, '\0');
  for (size_t i = 0; i < v.size(); ++i) {  // little-endian float32, as numpy's frombuffer reads it
    uint32_t u;
    std::memcpy(&u, &v[i], 4);
    for (int b = 0; b < 4; ++b) bytes[i * 4 + b] = static_cast<char>((u >> (8 * b)) & 0xFF);
  }
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

json embeddings_json(const std::string& model, const std::vector<std::vector<float>>& embeddings, bool base64,
                     int32_t prompt_tokens) {
  json data = json::array();
  for (size_t i = 0; i < embeddings.size(); ++i) {
    json e = base64 ? json(base64_floats(embeddings[i])) : json(embeddings[i]);
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", e}});
  }
  return {{"object", "list"},
          {"data", data},
          {"model", model},
          {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}};
}

std::string random_id(const char* prefix) {
  static const char* kChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id = prefix;
  for (int i = 0; i < 24; ++i) id += kChars[rng() % 62];
  return id;
}

}  // namespace tern::server
