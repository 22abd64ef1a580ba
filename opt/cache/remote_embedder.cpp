// cache/remote_embedder.cpp — OpenAI-compatible /embeddings over a caller's
// HTTP function.
#include <nlohmann/json.hpp>

#include <cmath>

#include "cache/embedder.h"

namespace tern::cache {

RemoteEmbedder::RemoteEmbedder(RemoteEmbedderOptions options, HttpPost post)
    : options_(std::move(options)), post_(std::move(post)), dim_(options_.dim) {
  while (!options_.base_url.empty() && options_.base_url.back() == '/') options_.base_url.pop_back();
}

int RemoteEmbedder::dim() const { return dim_.load(); }

std::string RemoteEmbedder::name() const { return "remote:" + options_.model; }

Result<std::vector<float>> RemoteEmbedder::embed(std::string_view text) {
  if (!post_) return InvalidArgument("remote embedder: no HTTP client");
  nlohmann::json body = {{"model", options_.model}, {"input", std::string(text)}};
  std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", "application/json"}};
  if (!options_.api_key.empty()) headers.emplace_back("Authorization", "Bearer " + options_.api_key);
  const std::string url = options_.base_url + "/embeddings";
  auto reply = post_(url, headers, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                     options_.timeout_ms);
  if (!reply.ok()) return Status(reply.status().code(), "remote embedder " + url + ": " + reply.status().message());
  auto j = nlohmann::json::parse(*reply, nullptr, false);
  if (!j.is_object() || !j.contains("data") || !j["data"].is_array() || j["data"].empty() ||
      !j["data"][0].is_object() || !j["data"][0].contains("embedding") || !j["data"][0]["embedding"].is_array())
    return InvalidArgument("remote embedder " + url + ": the answer has no data[0].embedding array");
  const nlohmann::json& e = j["data"][0]["embedding"];
  std::vector<float> v;
  v.reserve(e.size());
  for (const auto& x : e) {
    if (!x.is_number()) return InvalidArgument("remote embedder " + url + ": a non-number in the embedding");
    v.push_back(x.get<float>());
  }
  if (v.empty()) return InvalidArgument("remote embedder " + url + ": empty embedding");
  int expected = dim_.load();
  if (expected == 0 && dim_.compare_exchange_strong(expected, static_cast<int>(v.size()))) expected = static_cast<int>(v.size());
  if (static_cast<int>(v.size()) != expected)
    return InvalidArgument("remote embedder " + url + ": embedding has " + std::to_string(v.size()) +
                           " dimensions, expected " + std::to_string(expected));
  double norm = 0;
  for (float x : v) norm += static_cast<double>(x) * x;
  if (norm > 0) {
    const float inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (float& x : v) x *= inv;
  }
  return v;
}

}  // namespace tern::cache
