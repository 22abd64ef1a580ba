// cache/exact_cache.h — exact response cache over a Store.
//
// A request is looked up by a canonical key: the request JSON (an OpenAI
// chat/completions or completions body) minus the fields that cannot change
// the answer (stream, stream_options, user, metadata, tern's own "cache"
// extension), serialised canonically (object keys sorted, no whitespace,
// numbers in one form: integral values as integers, others in the shortest
// round-trip form, so 1 == 1.0 == 1e0 and 0.70 == 0.7) and hashed with
// SHA-256. The key string is
//     "<namespace>/<model>/<32 hex digits>"
// so that prefix invalidation works per tenant ("acme/") or per tenant and
// model ("acme/gpt-4o-mini/").
//
//   tern::cache::ExactCache cache(*store, {});
//   auto key = tern::cache::make_cache_key("acme", request_json);   // Result<CacheKey>
//   if (cache.eligible(request_json).cacheable) {
//     auto hit = cache.lookup(*key);                                 // Result<optional<CachedResponse>>
//     if (hit.ok() && *hit) { /* replay (*hit)->body or (*hit)->chunks */ }
//     ... call the model ...
//     cache.insert(*key, response, {.ttl_ms = 3600000, .tags = {"docs-v1"}});
//   }
//
// Determinism: only requests whose answer is reproducible are cacheable by
// default: temperature 0 given explicitly, or a seed given. n > 1 with a
// seed is cacheable (the seed fixes all choices). ExactCacheOptions::
// cache_nondeterministic lifts the rule (a route may choose to serve one
// sampled answer to every identical request).
//
// Sharing: entries live in the Store, so an entry written by one tern
// instance is found by every instance on the same Redis (or SQLite file).
//
// Thread safety: all methods may be called concurrently. Errors: lookup()
// returns a store error as a Status (the caller should treat it as a miss);
// an entry that fails to decode is erased and reported as a miss.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"
#include "tern/status.h"

namespace tern::cache {

using Json = nlohmann::json;

// The canonical text of a JSON value (sorted keys, compact, normalised numbers).
std::string canonical_json(const Json& value);

struct CacheKey {
  std::string ns;        // tenant namespace; no '/' allowed
  std::string model;
  std::string digest;    // 32 lowercase hex digits (first 128 bits of SHA-256)
  std::string str() const { return ns + "/" + model + "/" + digest; }
};

// Fields dropped before hashing (they do not change the answer).
const std::vector<std::string>& ignored_request_fields();

// Builds the key of a request body. InvalidArgument when request is not an
// object, has no string "model", or ns is empty or contains '/'.
Result<CacheKey> make_cache_key(std::string_view ns, const Json& request);

struct Eligibility {
  bool cacheable = false;
  std::string reason;    // why not (for logs and the X-Tern-Cache header), e.g. "temperature not 0 and no seed"
};

struct CachedUsage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;
};

// What a hit replays. Both forms are stored so that a streamed request can
// be answered from a non-streamed one and vice versa (see chunks_from_response
// and response_from_chunks).
struct CachedResponse {
  std::string body;                  // the complete (non-streamed) response JSON
  std::vector<std::string> chunks;   // streamed chunks: each SSE "data:" payload in order, without "[DONE]"
  CachedUsage usage;                 // of the original call
  std::string model;                 // the model that produced it
  std::string route;
  int64_t created_ms = 0;            // when it was stored
  int64_t cost_pico = 0;             // what the original call cost (the saving on each hit)
};

struct ExactCacheOptions {
  int64_t default_ttl_ms = 3600 * 1000;  // used when InsertOptions::ttl_ms == 0; < 0: no expiry
  bool cache_nondeterministic = false;   // see "Determinism" above
  size_t max_entry_bytes = 4 << 20;      // larger responses are not stored
  std::string key_prefix = "exact:";     // store key = key_prefix + CacheKey::str()
};

struct InsertOptions {
  int64_t ttl_ms = 0;                    // 0: the cache's default; < 0: no expiry
  std::vector<std::string> tags;         // scoped to the entry's namespace
};

struct ExactCacheStats {
  int64_t hits = 0, misses = 0, inserts = 0, errors = 0, skipped_large = 0;
};

class ExactCache {
 public:
  ExactCache(store::Store& store, ExactCacheOptions options);

  // Whether a request may use the cache (determinism rule above).
  Eligibility eligible(const Json& request) const;

  Result<std::optional<CachedResponse>> lookup(const CacheKey& key);
  Status insert(const CacheKey& key, const CachedResponse& response, const InsertOptions& options = {});

  // Invalidation; each returns the number of entries removed.
  // invalidate_prefix takes a key-string prefix such as "acme/" or
  // "acme/gpt-4o-mini/" (an empty prefix is refused: use "ns/" explicitly).
  Result<int64_t> invalidate_key(const std::string& key_str);
  Result<int64_t> invalidate_prefix(const std::string& prefix);
  Result<int64_t> invalidate_tag(const std::string& ns, const std::string& tag);

  ExactCacheStats stats() const;
  const ExactCacheOptions& options() const { return options_; }

 private:
  store::Store& store_;
  ExactCacheOptions options_;
  mutable std::atomic<int64_t> hits_{0}, misses_{0}, inserts_{0}, errors_{0}, skipped_large_{0};
};

// Entry encoding (binary, versioned); exposed for the semantic cache and tests.
std::string encode_entry(const CachedResponse& r);
Result<CachedResponse> decode_entry(std::string_view bytes);

// OpenAI format helpers, so both forms of CachedResponse can be filled from
// whichever the upstream produced. chat.completion <-> chat.completion.chunk
// and text_completion (both directions). InvalidArgument on malformed input.
Result<std::vector<std::string>> chunks_from_response(const Json& response);
Result<Json> response_from_chunks(const std::vector<std::string>& chunks);

}  // namespace tern::cache
