// cache/exact_cache.cpp — ExactCache: eligibility, lookup, insert, invalidation.
#include "cache/exact_cache.h"

#include <chrono>

namespace tern::cache {

ExactCache::ExactCache(store::Store& store, ExactCacheOptions options) : store_(store), options_(std::move(options)) {}

Eligibility ExactCache::eligible(const Json& request) const {
  Eligibility e;
  if (!request.is_object()) {
    e.reason = "request is not a JSON object";
    return e;
  }
  if (options_.cache_nondeterministic) {
    e.cacheable = true;
    return e;
  }
  auto seed = request.find("seed");
  if (seed != request.end() && seed->is_number()) {
    e.cacheable = true;
    return e;
  }
  auto t = request.find("temperature");
  if (t != request.end() && t->is_number() && t->get<double>() == 0.0) {
    e.cacheable = true;
    return e;
  }
  e.reason = "not deterministic (temperature is not 0 and no seed)";
  return e;
}

Result<std::optional<CachedResponse>> ExactCache::lookup(const CacheKey& key) {
  const std::string k = options_.key_prefix + key.str();
  auto v = store_.get(k);
  if (!v.ok()) {
    ++errors_;
    return v.status();
  }
  if (!v->has_value()) {
    ++misses_;
    return std::optional<CachedResponse>();
  }
  auto r = decode_entry(**v);
  if (!r.ok()) {  // written by an incompatible version or corrupted: drop it
    (void)store_.erase(k);
    ++misses_;
    return std::optional<CachedResponse>();
  }
  ++hits_;
  return std::optional<CachedResponse>(std::move(r).value());
}

Status ExactCache::insert(const CacheKey& key, const CachedResponse& response, const InsertOptions& options) {
  std::string bytes = encode_entry(response);
  if (bytes.size() > options_.max_entry_bytes) {
    ++skipped_large_;
    return Status::Ok();
  }
  const int64_t ttl = options.ttl_ms == 0 ? options_.default_ttl_ms : options.ttl_ms;
  std::vector<std::string> tags;
  tags.reserve(options.tags.size());
  for (const std::string& t : options.tags) tags.push_back(options_.key_prefix + key.ns + "/" + t);
  Status st = store_.put(options_.key_prefix + key.str(), bytes, ttl > 0 ? ttl : 0, tags);
  if (st.ok()) ++inserts_;
  else ++errors_;
  return st;
}

Result<int64_t> ExactCache::invalidate_key(const std::string& key_str) {
  if (key_str.empty()) return InvalidArgument("invalidate: empty key");
  return store_.erase(options_.key_prefix + key_str);
}

Result<int64_t> ExactCache::invalidate_prefix(const std::string& prefix) {
  if (prefix.empty()) return InvalidArgument("invalidate: empty prefix (name a namespace, e.g. \"acme/\")");
  return store_.erase_prefix(options_.key_prefix + prefix);
}

Result<int64_t> ExactCache::invalidate_tag(const std::string& ns, const std::string& tag) {
  if (ns.empty() || tag.empty()) return InvalidArgument("invalidate: a tag needs a namespace and a name");
  return store_.erase_tag(options_.key_prefix + ns + "/" + tag);
}

ExactCacheStats ExactCache::stats() const {
  return {hits_.load(), misses_.load(), inserts_.load(), errors_.load(), skipped_large_.load()};
}

}  // namespace tern::cache
