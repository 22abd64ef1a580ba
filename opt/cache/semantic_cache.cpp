// cache/semantic_cache.cpp — SemanticCache: guards, partitions, the HNSW
// indexes (one per partition, process memory) and entries in the Store.
//
// Entry layout in the store (value of key_prefix + "<ns>/<model>/<digest>"):
//   "TSE1", partition, embedder name, compared text, u32 dim, dim x f32 (LE
//   bit patterns), then the CachedResponse encoded by encode_entry().
#include "cache/semantic_cache.h"

// hnswlib's SSE paths prefetch one link past the end of a neighbour list (a
// heap read out of bounds that ASan reports); without them it reads only what
// it owns. The distance is ours (UnitDotSpace), vectorised by the compiler.
#define NO_MANUAL_VECTORIZATION
#include <hnswlib/hnswlib.h>
#include <openssl/evp.h>

#include <chrono>
#include <cstring>

#include "cache/bytes.h"

namespace tern::cache {

namespace {

constexpr char kMagic[4] = {'T', 'S', 'E', '1'};
constexpr int kCandidates = 8;  // nearest neighbours checked per lookup

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string sha_hex(std::string_view text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

struct SemanticEntry {
  std::string partition, embedder, text;
  std::vector<float> vector;
  std::string response;  // encode_entry() bytes
};

std::string encode_semantic(const SemanticEntry& e) {
  std::string out(kMagic, 4);
  bytes::put_str(out, e.partition);
  bytes::put_str(out, e.embedder);
  bytes::put_str(out, e.text);
  bytes::put_u32(out, static_cast<uint32_t>(e.vector.size()));
  for (float f : e.vector) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    bytes::put_u32(out, bits);
  }
  bytes::put_str(out, e.response);
  return out;
}

Result<SemanticEntry> decode_semantic(std::string_view in) {
  if (in.size() < 4 || std::memcmp(in.data(), kMagic, 4) != 0) return InvalidArgument("semantic entry: unknown format");
  bytes::Reader rd{in, 4};
  SemanticEntry e;
  e.partition = rd.str();
  e.embedder = rd.str();
  e.text = rd.str();
  const uint64_t dim = rd.u(4);
  if (!rd.ok || dim > (in.size() - rd.pos) / 4) return InvalidArgument("semantic entry: truncated");
  e.vector.resize(dim);
  for (uint64_t i = 0; i < dim; ++i) {
    const uint32_t bits = static_cast<uint32_t>(rd.u(4));
    std::memcpy(&e.vector[i], &bits, 4);
  }
  e.response = rd.str();
  if (!rd.ok || rd.pos != in.size()) return InvalidArgument("semantic entry: truncated");
  return e;
}

// The text of a message's content when it is only text; nullopt otherwise.
std::optional<std::string> text_content(const Json& content) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) return std::nullopt;
  std::string out;
  for (const Json& part : content) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
      return std::nullopt;
    if (!out.empty()) out += '\n';
    out += part["text"].get<std::string>();
  }
  return out;
}

}  // namespace

// Inner-product distance (1 - dot) of unit vectors, in 8 independent partial
// sums so that the compiler vectorises it without reassociating floats.
class UnitDotSpace : public hnswlib::SpaceInterface<float> {
 public:
  explicit UnitDotSpace(size_t dim) : dim_(dim) {}
  size_t get_data_size() override { return dim_ * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return &distance; }
  void* get_dist_func_param() override { return &dim_; }

 private:
  static float distance(const void* a, const void* b, const void* param) {
    const auto* x = static_cast<const float*>(a);
    const auto* y = static_cast<const float*>(b);
    const size_t n = *static_cast<const size_t*>(param);
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (size_t k = 0; k < 8; ++k) acc[k] += x[i + k] * y[i + k];
    float dot = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; ++i) dot += x[i] * y[i];
    return 1.0f - dot;
  }
  size_t dim_;
};

struct SemanticCache::Index {
  explicit Index(int d, const SemanticOptions& o) : dim(d), space(static_cast<size_t>(d)) {
    graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(&space, capacity, static_cast<size_t>(o.hnsw_m),
                                                              static_cast<size_t>(o.hnsw_ef_construction));
    graph->setEf(static_cast<size_t>(o.hnsw_ef_search));
  }
  int dim;
  UnitDotSpace space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph;
  std::vector<std::string> keys;  // label -> entry key ("" once deleted)
  size_t capacity = 64;
  size_t live = 0;
};

SemanticCache::SemanticCache(store::Store& store, std::shared_ptr<Embedder> embedder, SemanticOptions options)
    : store_(store), embedder_(std::move(embedder)), options_(std::move(options)) {
  (void)sync();  // a store failure here only means a cold index; lookups retry
}

SemanticCache::~SemanticCache() = default;

Result<SemanticQuery> SemanticCache::prepare(std::string_view ns, const Json& request) const {
  if (ns.empty() || ns.find('/') != std::string_view::npos)
    return InvalidArgument("cache namespace must be non-empty and contain no '/'");
  if (!request.is_object()) return InvalidArgument("semantic cache: the request is not a JSON object");
  auto m = request.find("model");
  if (m == request.end() || !m->is_string() || m->get_ref<const std::string&>().empty())
    return InvalidArgument("semantic cache: the request has no model");
  SemanticQuery q;
  q.ns.assign(ns);
  q.model = m->get<std::string>();
  auto refuse = [&](std::string why) {
    q.eligibility.cacheable = false;
    q.eligibility.reason = std::move(why);
    return q;
  };
  Json body = request;
  for (const std::string& f : ignored_request_fields()) body.erase(f);

  if (request.contains("messages")) {
    const Json& msgs = request["messages"];
    if (!msgs.is_array() || msgs.empty()) return InvalidArgument("semantic cache: messages must be a non-empty array");
    bool tools = (request.contains("tools") && request["tools"].is_array() && !request["tools"].empty()) ||
                 (request.contains("functions") && request["functions"].is_array() && !request["functions"].empty());
    int users = 0, assistants = 0;
    for (const Json& msg : msgs) {
      if (!msg.is_object()) return InvalidArgument("semantic cache: a message is not an object");
      const std::string role = msg.value("role", "");
      if (role == "tool" || role == "function") tools = true;
      if (role == "assistant") {
        ++assistants;
        if (msg.contains("tool_calls") && !msg["tool_calls"].is_null()) tools = true;
      }
      if (role == "user") ++users;
    }
    if (tools && !options_.allow_tools) return refuse("tool-call turn (semantic caching of tool use is disabled)");
    if ((users > 1 || assistants > 0) && !options_.allow_multi_turn)
      return refuse("multi-turn context (semantic caching of conversations is disabled)");
    const Json& last = msgs.back();
    if (last.value("role", "") != "user") return refuse("the last message is not from the user");
    auto text = text_content(last.contains("content") ? last["content"] : Json());
    if (!text) return refuse("the last user message has non-text parts");
    q.text = std::move(*text);
    body["messages"].back()["content"] = "";
  } else if (request.contains("prompt")) {
    const Json& p = request["prompt"];
    if (p.is_string()) q.text = p.get<std::string>();
    else if (p.is_array() && p.size() == 1 && p[0].is_string()) q.text = p[0].get<std::string>();
    else return refuse("the prompt is not a single string");
    body["prompt"] = "";
  } else {
    return InvalidArgument("semantic cache: the request has neither messages nor prompt");
  }
  if (q.text.find_first_not_of(" \t\r\n") == std::string::npos) return refuse("the compared text is empty");
  q.partition = sha_hex(std::string(ns) + '\n' + embedder_->name() + '\n' + canonical_json(body));
  q.eligibility.cacheable = true;
  return q;
}

void SemanticCache::maybe_sync() {
  if (options_.sync_interval_ms < 0) return;
  const int64_t now = now_ms();
  if (now - last_sync_ms_.load() < options_.sync_interval_ms) return;
  bool expected = false;
  if (!syncing_.compare_exchange_strong(expected, true)) return;  // another thread is at it
  (void)sync();
  syncing_ = false;
}

Result<std::optional<SemanticHit>> SemanticCache::lookup(SemanticQuery& q, float threshold) {
  if (!q.eligibility.cacheable) {
    ++ineligible_;
    return std::optional<SemanticHit>();
  }
  if (threshold < 0) threshold = options_.threshold;
  maybe_sync();
  if (q.vector.empty()) {
    auto v = embedder_->embed(q.text);
    if (!v.ok()) {
      ++errors_;
      return v.status();
    }
    q.vector = std::move(v).value();
  }
  std::vector<std::pair<float, std::string>> candidates;  // (similarity, entry key), best first
  {
    std::shared_lock lock(mu_);
    auto it = indexes_.find(q.partition);
    if (it != indexes_.end() && it->second->live > 0 &&
        static_cast<int>(q.vector.size()) == it->second->dim) {
      Index& ix = *it->second;
      try {
        auto found = ix.graph->searchKnnCloserFirst(q.vector.data(), std::min<size_t>(kCandidates, ix.live));
        for (const auto& [dist, label] : found) {
          const float sim = 1.0f - dist;  // UnitDotSpace distance is 1 - dot
          if (sim >= threshold && label < ix.keys.size() && !ix.keys[label].empty())
            candidates.emplace_back(sim, ix.keys[label]);
        }
      } catch (const std::exception& e) {
        ++errors_;
        return Internal(std::string("semantic cache: index search failed: ") + e.what());
      }
    }
  }
  for (const auto& [sim, key] : candidates) {
    auto v = store_.get(key);
    if (!v.ok()) {
      ++errors_;
      return v.status();
    }
    if (!v->has_value()) {  // expired or invalidated (possibly by another instance)
      ++stale_;
      drop_from_index(key);
      continue;
    }
    auto e = decode_semantic(**v);
    if (!e.ok() || e->partition != q.partition) {
      drop_from_index(key);
      continue;
    }
    auto r = decode_entry(e->response);
    if (!r.ok()) {
      drop_from_index(key);
      continue;
    }
    ++hits_;
    SemanticHit hit;
    hit.response = std::move(r).value();
    hit.similarity = sim;
    hit.matched_text = std::move(e->text);
    hit.entry_key = key.substr(options_.key_prefix.size());
    return std::optional<SemanticHit>(std::move(hit));
  }
  ++misses_;
  return std::optional<SemanticHit>();
}

Status SemanticCache::insert(SemanticQuery& q, const CachedResponse& response, const InsertOptions& options) {
  if (!q.eligibility.cacheable) return InvalidArgument("semantic cache: request not eligible: " + q.eligibility.reason);
  if (q.vector.empty()) {
    auto v = embedder_->embed(q.text);
    if (!v.ok()) {
      ++errors_;
      return v.status();
    }
    q.vector = std::move(v).value();
  }
  SemanticEntry e{q.partition, embedder_->name(), q.text, q.vector, encode_entry(response)};
  std::string value = encode_semantic(e);
  if (value.size() > options_.max_entry_bytes) return Status::Ok();
  const std::string key =
      options_.key_prefix + q.ns + "/" + q.model + "/" + sha_hex(q.partition + '\n' + q.text);
  const int64_t ttl = options.ttl_ms == 0 ? options_.default_ttl_ms : options.ttl_ms;
  std::vector<std::string> tags;
  for (const std::string& t : options.tags) tags.push_back(options_.key_prefix + q.ns + "/" + t);
  Status st = store_.put(key, value, ttl > 0 ? ttl : 0, tags);
  if (!st.ok()) {
    ++errors_;
    return st;
  }
  ++inserts_;
  return add_to_index(key, q.partition, q.vector);
}

Status SemanticCache::add_to_index(const std::string& entry_key, const std::string& partition,
                                   const std::vector<float>& vec) {
  if (vec.empty()) return InvalidArgument("semantic cache: empty vector");
  std::unique_lock lock(mu_);
  if (labels_.count(entry_key)) return Status::Ok();  // same key: same text, same vector
  auto& slot = indexes_[partition];
  try {
    if (!slot) slot = std::make_unique<Index>(static_cast<int>(vec.size()), options_);
    Index& ix = *slot;
    if (static_cast<size_t>(ix.dim) != vec.size())
      return InvalidArgument("semantic cache: vector dimension changed within a partition");
    if (ix.keys.size() >= ix.capacity) {
      ix.capacity *= 2;
      ix.graph->resizeIndex(ix.capacity);
    }
    const size_t label = ix.keys.size();
    ix.graph->addPoint(vec.data(), label);
    ix.keys.push_back(entry_key);
    ++ix.live;
    labels_[entry_key] = {partition, label};
  } catch (const std::exception& e) {
    ++errors_;
    return Internal(std::string("semantic cache: index insert failed: ") + e.what());
  }
  return Status::Ok();
}

void SemanticCache::drop_from_index(const std::string& entry_key) {
  std::unique_lock lock(mu_);
  auto it = labels_.find(entry_key);
  if (it == labels_.end()) return;
  auto ix = indexes_.find(it->second.first);
  if (ix != indexes_.end()) {
    try {
      ix->second->graph->markDelete(it->second.second);
    } catch (const std::exception&) {
      // already deleted
    }
    ix->second->keys[it->second.second].clear();
    --ix->second->live;
  }
  labels_.erase(it);
}

Status SemanticCache::sync() {
  last_sync_ms_ = now_ms();
  const std::string name = embedder_->name();
  // Keys first (cheap), then only the entries this process has not indexed.
  std::vector<std::string> unseen;
  Status st = store_.scan_keys(options_.key_prefix, [&](std::string_view key) {
    std::shared_lock lock(mu_);
    const std::string k(key);
    if (!labels_.count(k) && !foreign_.count(k)) unseen.push_back(k);
    return true;
  });
  if (!st.ok()) return st;
  for (const std::string& key : unseen) {
    auto v = store_.get(key);
    if (!v.ok()) return v.status();
    if (!v->has_value()) continue;
    auto e = decode_semantic(**v);
    if (e.ok() && e->embedder == name) {
      (void)add_to_index(key, e->partition, e->vector);
    } else {  // another embedder's vector space (or unreadable): never fetch it again
      std::unique_lock lock(mu_);
      foreign_.insert(key);
    }
  }
  return Status::Ok();
}

Result<int64_t> SemanticCache::invalidate_key(const std::string& entry_key) {
  if (entry_key.empty()) return InvalidArgument("invalidate: empty key");
  drop_from_index(options_.key_prefix + entry_key);
  return store_.erase(options_.key_prefix + entry_key);
}

Result<int64_t> SemanticCache::invalidate_prefix(const std::string& prefix) {
  if (prefix.empty()) return InvalidArgument("invalidate: empty prefix (name a namespace, e.g. \"acme/\")");
  const std::string full = options_.key_prefix + prefix;
  std::vector<std::string> local;
  {
    std::shared_lock lock(mu_);
    for (const auto& [k, v] : labels_)
      if (k.compare(0, full.size(), full) == 0) local.push_back(k);
  }
  for (const std::string& k : local) drop_from_index(k);
  return store_.erase_prefix(full);
}

Result<int64_t> SemanticCache::invalidate_tag(const std::string& ns, const std::string& tag) {
  if (ns.empty() || tag.empty()) return InvalidArgument("invalidate: a tag needs a namespace and a name");
  // Local index entries of removed keys are dropped lazily: lookup() re-reads
  // every candidate from the store.
  return store_.erase_tag(options_.key_prefix + ns + "/" + tag);
}

SemanticStats SemanticCache::stats() const {
  SemanticStats s{hits_.load(), misses_.load(), inserts_.load(), ineligible_.load(), errors_.load(), stale_.load(), 0};
  std::shared_lock lock(mu_);
  s.indexed = static_cast<int64_t>(labels_.size());
  return s;
}

}  // namespace tern::cache
