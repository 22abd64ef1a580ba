// cache/semantic_cache.h — answers a query with the cached response of a
// similar earlier query (cosine similarity of embeddings >= a threshold).
//
//   auto emb = std::make_shared<tern::cache::LexicalEmbedder>();
//   tern::cache::SemanticCache sem(*store, emb, {});
//   auto q = sem.prepare("acme", request_json);          // guards, text, partition
//   if (q.ok() && q->eligibility.cacheable) {
//     auto hit = sem.lookup(*q, route_threshold);        // embeds, searches, fetches
//     if (hit.ok() && *hit) { /* replay (*hit)->response; (*hit)->similarity */ }
//     ... call the model ...
//     sem.insert(*q, response, {});                      // reuses q's vector
//   }
//
// What is compared: only the text of the LAST user message (for completions:
// the prompt). Everything else — namespace, model, system prompt, earlier
// turns, tools, sampling parameters, response_format — must match exactly:
// it forms the entry's partition (a SHA-256 of the canonical request with the
// last user text blanked, plus the embedder's name), and a query only searches
// its own partition.
//
// Guards (SemanticOptions): requests that carry tools or tool turns
// (tools/functions, role "tool"/"function", assistant tool_calls) and
// multi-turn contexts (any assistant message or more than one user message)
// are not eligible unless allow_tools / allow_multi_turn; nor are requests
// whose last user message has non-text parts (images, audio) or is empty.
//
// Sharing across instances: entries (vector + response) live in the Store
// under key_prefix + "<ns>/<model>/<digest>". The HNSW index is per-process
// memory: built from the store at construction (sync()), refreshed by
// lookup() at most every sync_interval_ms, so instance B finds instance A's
// entries within that interval. A candidate found in the index is always
// re-read from the store before it is served, so TTL expiry and invalidation
// (by any instance) take effect at once.
//
// Thread safety: all methods may be called concurrently; embedding runs
// outside the index lock. Errors: Status (never throws; hnswlib exceptions
// are caught and reported as kInternal).
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cache/embedder.h"
#include "cache/exact_cache.h"
#include "store/store.h"

namespace tern::cache {

struct SemanticOptions {
  float threshold = 0.90f;           // default similarity threshold (routes may pass their own)
  bool allow_tools = false;          // guard: tool definitions / tool-call turns
  bool allow_multi_turn = false;     // guard: conversations beyond one user message
  int64_t default_ttl_ms = 3600 * 1000;   // InsertOptions::ttl_ms == 0; < 0: no expiry
  int64_t sync_interval_ms = 1000;   // lookup() pulls other instances' entries at most this often; < 0: never
  size_t max_entry_bytes = 4 << 20;
  std::string key_prefix = "semantic:";
  int hnsw_m = 16;                   // HNSW graph degree
  int hnsw_ef_construction = 100;
  int hnsw_ef_search = 64;
};

// A request prepared for the semantic cache (no embedding yet).
struct SemanticQuery {
  Eligibility eligibility;           // cacheable == false: do not look up or insert
  std::string ns, model;
  std::string partition;             // hex digest: everything but the last user text
  std::string text;                  // the compared text
  std::vector<float> vector;         // filled by lookup() (and reused by insert())
};

struct SemanticHit {
  CachedResponse response;
  float similarity = 0;
  std::string matched_text;          // the earlier query that produced the response
  std::string entry_key;             // store key of the entry (for invalidate_key)
};

struct SemanticStats {
  int64_t hits = 0, misses = 0, inserts = 0, ineligible = 0, errors = 0;
  int64_t stale = 0;                 // index candidates already expired/invalidated in the store
  int64_t indexed = 0;               // live vectors in this process's index
};

class SemanticCache {
 public:
  SemanticCache(store::Store& store, std::shared_ptr<Embedder> embedder, SemanticOptions options);
  ~SemanticCache();

  // Guards, compared text and partition. InvalidArgument for a body that is
  // not a chat/completions request (no model, no messages/prompt) or a bad ns.
  Result<SemanticQuery> prepare(std::string_view ns, const Json& request) const;

  // threshold < 0: options().threshold. Embeds q.text when q.vector is empty.
  Result<std::optional<SemanticHit>> lookup(SemanticQuery& q, float threshold = -1);
  Status insert(SemanticQuery& q, const CachedResponse& response, const InsertOptions& options = {});

  // Adds entries present in the store but not in this process's index.
  Status sync();

  Result<int64_t> invalidate_key(const std::string& entry_key);
  Result<int64_t> invalidate_prefix(const std::string& prefix);   // e.g. "acme/" (refuses "")
  Result<int64_t> invalidate_tag(const std::string& ns, const std::string& tag);

  SemanticStats stats() const;
  const SemanticOptions& options() const { return options_; }
  const Embedder& embedder() const { return *embedder_; }

 private:
  struct Index;                      // one HNSW graph per partition
  Status add_to_index(const std::string& entry_key, const std::string& partition,
                      const std::vector<float>& vec);
  void drop_from_index(const std::string& entry_key);
  void maybe_sync();

  store::Store& store_;
  std::shared_ptr<Embedder> embedder_;
  SemanticOptions options_;
  mutable std::shared_mutex mu_;            // guards indexes_ and labels_ (searches share it)
  std::unordered_map<std::string, std::unique_ptr<Index>> indexes_;
  std::unordered_map<std::string, std::pair<std::string, size_t>> labels_;   // entry key -> (partition, label)
  std::unordered_set<std::string> foreign_;  // entries of other embedders, skipped by sync()
  std::atomic<int64_t> last_sync_ms_{0};
  std::atomic<bool> syncing_{false};
  std::atomic<int64_t> hits_{0}, misses_{0}, inserts_{0}, ineligible_{0}, errors_{0}, stale_{0};
};

}  // namespace tern::cache
