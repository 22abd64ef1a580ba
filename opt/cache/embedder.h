// cache/embedder.h — text -> unit vector, for the semantic cache.
//
// Three implementations:
//   LexicalEmbedder  no model: hashed word unigrams/bigrams and character
//                    n-grams with sublinear tf and a fixed stop-word damping,
//                    L2-normalised. Fast (microseconds), catches reworded
//                    and reordered queries, blind to meaning (see
//                    docs/caching.md for its measured precision).
//   EngineEmbedder   a local GGUF model through tern::Engine (want_embedding);
//                    cache/engine_embedder.h, library tern_cache_engine.
//   RemoteEmbedder   an OpenAI-compatible POST {base_url}/embeddings, through
//                    an HTTP function the caller supplies (the gateway's client).
//
// Thread safety: embed() may be called from any number of threads.
// Errors: embed() returns a Status (never throws); vectors always have dim()
// entries and unit L2 norm (or are all zero for empty/unembeddable text).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tern/status.h"

namespace tern::cache {

class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual Result<std::vector<float>> embed(std::string_view text) = 0;
  virtual int dim() const = 0;
  // Identifies the vector space: entries embedded under another name are
  // never compared with this embedder's vectors.
  virtual std::string name() const = 0;
};

struct LexicalOptions {
  int dim = 1024;               // hashed feature space
  int char_ngram_min = 3;       // character n-grams of each word (with boundary marks)
  int char_ngram_max = 5;
  float word_weight = 1.0f;     // weight of word unigrams
  float bigram_weight = 0.7f;   // weight of word bigrams (order-sensitive signal)
  float char_weight = 0.35f;    // weight of character n-grams (typo/inflection tolerance)
  float stop_weight = 0.1f;     // factor for function words ("the", "how", "can", ...)
};

class LexicalEmbedder : public Embedder {
 public:
  explicit LexicalEmbedder(LexicalOptions options = {});
  Result<std::vector<float>> embed(std::string_view text) override;
  int dim() const override { return options_.dim; }
  std::string name() const override;   // "lexical-<dim>-<n-gram settings>"

 private:
  LexicalOptions options_;
};

// POST url with headers and body; returns the response body for a 2xx
// status, an error Status otherwise (timeouts included).
using HttpPost = std::function<Result<std::string>(
    const std::string& url, const std::vector<std::pair<std::string, std::string>>& headers,
    const std::string& body, int timeout_ms)>;

struct RemoteEmbedderOptions {
  std::string base_url;         // e.g. "http://127.0.0.1:8000/v1"; "/embeddings" is appended
  std::string api_key;          // sent as "Authorization: Bearer ..." when not empty
  std::string model;
  int dim = 0;                  // expected dimension; 0: learnt from the first answer
  int timeout_ms = 2000;
};

class RemoteEmbedder : public Embedder {
 public:
  RemoteEmbedder(RemoteEmbedderOptions options, HttpPost post);
  Result<std::vector<float>> embed(std::string_view text) override;
  int dim() const override;
  std::string name() const override;   // "remote:<model>"

 private:
  RemoteEmbedderOptions options_;
  HttpPost post_;
  std::atomic<int> dim_;
};

// Cosine similarity of two unit vectors (their dot product); 0 on size mismatch.
float cosine(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace tern::cache
