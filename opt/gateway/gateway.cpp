#include "gateway/gateway.h"

#include <sstream>

#include "backend/http_post.h"
#include "backend/local_backend.h"
#include "backend/remote_backend.h"
#include "cache/engine_embedder.h"
#include "gateway/gateway_impl.h"

namespace tern::opt {

namespace {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

bool constant_time_equal(const std::string& a, const std::string& b) {
  size_t n = std::max(a.size(), b.size());
  volatile unsigned char diff = static_cast<unsigned char>(a.size() != b.size());
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = diff | static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

std::string label(const std::string& v) {  // Prometheus label value escaping
  std::string o;
  for (char c : v) {
    if (c == '\\' || c == '"') o += '\\';
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o += c;
  }
  return o;
}

double usd(Picodollars p) { return static_cast<double>(p) / static_cast<double>(budget::kPicoPerDollar); }

}  // namespace

bool Gateway::Impl::is_admin(const std::string& bearer) const {
  return !cfg.admin_key.empty() && constant_time_equal(bearer, cfg.admin_key);
}

std::string Gateway::Impl::namespace_of(const budget::VirtualKey* key) {
  if (!key) return "public";
  return key->team.empty() ? "key-" + key->id : "team-" + key->team;
}

Gateway::Gateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Gateway::~Gateway() {
  if (impl_->stage_pool) impl_->stage_pool->join();  // stage work in flight still needs the scorer
  impl_->backends.clear();  // cancels in-flight remote calls
  impl_->work.reset();
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
}

Result<std::unique_ptr<Gateway>> make_gateway_with_backends(GatewayConfig config,
                                                            std::map<std::string, std::shared_ptr<Backend>> backends,
                                                            GatewayOptions options) {
  auto impl = std::make_unique<Gateway::Impl>();
  Gateway::Impl& g = *impl;
  g.cfg = std::move(config);
  g.options = options;
  auto store = store::open_store(g.cfg.store);
  if (!store.ok()) return Status(store.status().code(), "gateway store: " + store.status().message());
  g.store = std::move(*store);
  g.budgets = std::make_unique<budget::Budgets>(*g.store, g.cfg.budgets);
  if (g.cfg.exact_cache) g.exact = std::make_unique<cache::ExactCache>(*g.store, g.cfg.exact);
  if (g.cfg.semantic_cache) {
    if (g.cfg.embedder == EmbedderKind::kLocal) {
      EngineOptions eo = options.engine;
      eo.model_path = g.cfg.embedder_model;
      auto e = Engine::create(eo);
      if (!e.ok()) return Status(e.status().code(), "cache.embedder: " + e.status().message());
      g.embed_engine = std::move(*e);
      g.embedder = std::make_shared<cache::EngineEmbedder>(*g.embed_engine);
    } else if (g.cfg.embedder == EmbedderKind::kRemote) {
      cache::RemoteEmbedderOptions ro;
      ro.base_url = g.cfg.embedder_url;
      ro.api_key = g.cfg.embedder_key;
      ro.model = g.cfg.embedder_model;
      auto url = parse_base_url(ro.base_url);
      if (!url.ok()) return Status(url.status().code(), "cache.embedder: " + url.status().message());
      g.embedder = std::make_shared<cache::RemoteEmbedder>(
          std::move(ro), [](const std::string& u, const std::vector<std::pair<std::string, std::string>>& h,
                            const std::string& body, int timeout_ms) { return http_post(u, h, body, timeout_ms); });
    } else {
      g.embedder = std::make_shared<cache::LexicalEmbedder>();
    }
    g.semantic = std::make_unique<cache::SemanticCache>(*g.store, g.embedder, g.cfg.semantic);
  }
  for (const auto& r : g.cfg.routes)
    g.routers[r.name] = std::make_unique<Router>(r.rules, r.targets, g.cfg.classifier);
  g.work.emplace(g.io.get_executor());
  for (const auto& m : g.cfg.models) {
    if (auto it = backends.find(m.name); it != backends.end()) {
      g.backends[m.name] = it->second;
      continue;
    }
    if (m.local) {
      EngineOptions eo = options.engine;
      eo.model_path = m.path;
      if (m.threads > 0) eo.threads = m.threads;
      if (m.ctx_size > 0) eo.n_ctx = m.ctx_size;
      if (m.max_seqs > 0) eo.max_num_seqs = m.max_seqs;
      auto b = LocalBackend::open(m.name, eo);
      if (!b.ok()) return Status(b.status().code(), "models." + m.name + ": " + b.status().message());
      g.backends[m.name] = std::move(*b);
    } else {
      auto b = RemoteBackend::create(g.io, m.remote);
      if (!b.ok()) return Status(b.status().code(), "models." + m.name + ": " + b.status().message());
      g.backends[m.name] = std::move(*b);
    }
  }
  // The scorer of the toon/compress stages: compress_model (a local model's
  // name or a GGUF path), else the first local model.
  Engine* stage_engine = nullptr;
  auto local_engine = [&](const std::string& name) -> Engine* {
    auto* lb = dynamic_cast<LocalBackend*>(g.backends[name].get());
    return lb ? lb->engine() : nullptr;
  };
  if (!g.cfg.compress_model.empty()) {
    if (const ModelConfig* m = g.cfg.find_model(g.cfg.compress_model)) {
      stage_engine = m->local ? local_engine(m->name) : nullptr;
      if (!stage_engine)
        return InvalidArgument("compress_model: '" + m->name + "' is not a local model; name a local model or a GGUF file");
    } else {
      EngineOptions eo = options.engine;
      eo.model_path = g.cfg.compress_model;
      auto e = Engine::create(eo);
      if (!e.ok()) return Status(e.status().code(), "compress_model: " + e.status().message());
      g.stage_engine = std::move(*e);
      stage_engine = g.stage_engine.get();
    }
  } else {
    for (const auto& m : g.cfg.models)
      if (m.local && (stage_engine = local_engine(m.name))) break;
  }
  if (stage_engine) {
    g.stage_scorer = std::make_unique<compress::EngineScorer>(*stage_engine);
    g.stage_pool = std::make_unique<boost::asio::thread_pool>(4);  // mostly waiting: on the engine, on summaries
  }
  for (const auto& r : g.cfg.routes)
    if (r.stages.any() && !g.stage_scorer)
      return InvalidArgument("routes." + r.name + ": toon/compress need a scoring model: set compress_model or add a local model");
  for (int i = 0; i < std::max(1, options.io_threads); ++i) g.threads.emplace_back([&g] { g.io.run(); });
  return std::unique_ptr<Gateway>(new Gateway(std::move(impl)));
}

Result<std::unique_ptr<Gateway>> Gateway::create(GatewayConfig config, GatewayOptions options) {
  return make_gateway_with_backends(std::move(config), {}, options);
}

const GatewayConfig& Gateway::config() const { return impl_->cfg; }

Backend* Gateway::backend(const std::string& model) const {
  auto it = impl_->backends.find(model);
  return it == impl_->backends.end() ? nullptr : it->second.get();
}

void Gateway::handle(GatewayRequest request, std::shared_ptr<ResponseSink> sink) {
  run_flight(*impl_, std::move(request), std::move(sink));
}

SimpleResponse Gateway::models(int64_t created) const {
  json data = json::array();
  for (const auto& r : impl_->cfg.routes)
    data.push_back({{"id", r.name}, {"object", "model"}, {"created", created}, {"owned_by", "tern-route"}});
  for (const auto& m : impl_->cfg.models)
    data.push_back({{"id", m.name}, {"object", "model"}, {"created", created}, {"owned_by", m.local ? "tern" : "remote"}});
  return {200, dump(json{{"object", "list"}, {"data", data}})};
}

SimpleResponse Gateway::usage(const std::string& bearer, const std::map<std::string, std::string>& q) {
  Impl& g = *impl_;
  store::UsageQuery uq;
  bool admin = g.is_admin(bearer);
  if (!admin) {
    const budget::VirtualKey* k = g.auth_required() ? g.budgets->authenticate(bearer) : nullptr;
    if (g.auth_required() && !k) return {401, error_json("invalid API key", "invalid_request_error")};
    if (!g.auth_required() && !g.cfg.admin_key.empty())
      return {401, error_json("usage needs the admin key", "invalid_request_error")};
    if (k) uq.key = k->id;  // a key sees its own rows only
  }
  auto get = [&](const char* name) -> std::string {
    auto it = q.find(name);
    return it == q.end() ? "" : it->second;
  };
  if (admin || uq.key.empty()) uq.key = get("key");
  uq.team = get("team");
  uq.model = get("model");
  uq.route = get("route");
  try {
    if (!get("from").empty()) uq.from_ms = std::stoll(get("from"));
    if (!get("to").empty()) uq.to_ms = std::stoll(get("to"));
  } catch (...) {
    return {400, error_json("'from' and 'to' are Unix milliseconds", "invalid_request_error")};
  }
  std::stringstream gb(get("group_by"));
  std::string part;
  while (std::getline(gb, part, ',')) {
    if (part.empty()) continue;
    if (part == "key") uq.group_by = uq.group_by | store::UsageGroup::kKey;
    else if (part == "team") uq.group_by = uq.group_by | store::UsageGroup::kTeam;
    else if (part == "model") uq.group_by = uq.group_by | store::UsageGroup::kModel;
    else if (part == "route") uq.group_by = uq.group_by | store::UsageGroup::kRoute;
    else if (part == "day") uq.group_by = uq.group_by | store::UsageGroup::kDay;
    else if (part == "hour") uq.group_by = uq.group_by | store::UsageGroup::kHour;
    else return {400, error_json("group_by: unknown field '" + part + "' (key, team, model, route, day, hour)",
                                 "invalid_request_error")};
  }
  auto rows = g.budgets->usage(uq);
  if (!rows.ok()) return {503, error_json("usage store unavailable: " + rows.status().message(), "server_error")};
  json data = json::array();
  for (const auto& r : *rows) {
    json j = {{"requests", r.requests},       {"tokens_in", r.tokens_in},       {"tokens_out", r.tokens_out},
              {"tokens_cached", r.tokens_cached}, {"cost_usd", usd(r.cost)},    {"saved_usd", usd(r.saved)},
              {"cache_exact", r.cache_exact}, {"cache_semantic", r.cache_semantic}, {"escalated", r.escalated},
              {"errors", r.errors},
              {"mean_latency_ms", r.requests > 0 ? r.latency_ms_sum / static_cast<double>(r.requests) : 0.0}};
    if (!r.key.empty()) j["key"] = r.key;
    if (!r.team.empty()) j["team"] = r.team;
    if (!r.model.empty()) j["model"] = r.model;
    if (!r.route.empty()) j["route"] = r.route;
    if (r.period_start_ms) j["period_start_ms"] = r.period_start_ms;
    data.push_back(std::move(j));
  }
  return {200, dump(json{{"object", "list"}, {"data", data}})};
}

SimpleResponse Gateway::invalidate(const std::string& bearer, const std::string& body) {
  Impl& g = *impl_;
  if (g.cfg.admin_key.empty()) return {404, error_json("admin endpoints are disabled (no admin_key in the config)", "invalid_request_error")};
  if (!g.is_admin(bearer)) return {401, error_json("the admin key is required", "invalid_request_error")};
  json b = json::parse(body, nullptr, false);
  if (!b.is_object()) return {400, error_json("body must be a JSON object", "invalid_request_error")};
  auto str = [&](const char* k) { return b.contains(k) && b[k].is_string() ? b[k].get<std::string>() : std::string(); };
  std::string key = str("key"), prefix = str("prefix"), tag = str("tag"), ns = str("namespace");
  int given = !key.empty() + !prefix.empty() + !tag.empty();
  if (given != 1) return {400, error_json("give exactly one of 'key', 'prefix' or 'tag'", "invalid_request_error")};
  if (!tag.empty() && ns.empty()) ns = "public";
  int64_t removed = 0;
  auto add = [&](Result<int64_t> r) -> Status {
    if (!r.ok()) return r.status();
    removed += *r;
    return Status::Ok();
  };
  Status st;
  if (g.exact) {
    if (!key.empty()) st = add(g.exact->invalidate_key(key));
    else if (!prefix.empty()) st = add(g.exact->invalidate_prefix(prefix));
    else st = add(g.exact->invalidate_tag(ns, tag));
  }
  if (st.ok() && g.semantic) {
    if (!key.empty()) st = add(g.semantic->invalidate_key(key));
    else if (!prefix.empty()) st = add(g.semantic->invalidate_prefix(prefix));
    else st = add(g.semantic->invalidate_tag(ns, tag));
  }
  if (!st.ok()) {
    int status = st.code() == StatusCode::kInvalidArgument ? 400 : 503;
    return {status, error_json(st.message(), status == 400 ? "invalid_request_error" : "server_error")};
  }
  return {200, dump(json{{"removed", removed}})};
}

std::string Gateway::prometheus() const {
  const GatewayMetrics& m = impl_->metrics;
  std::lock_guard<std::mutex> lock(m.mu);
  std::string o;
  auto head = [&](const char* name, const char* help, const char* type = "counter") {
    o += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  head("tern_gateway_requests_total", "requests through the gateway, by route (or model named directly)");
  for (const auto& [r, n] : m.requests) o += "tern_gateway_requests_total{route=\"" + label(r) + "\"} " + std::to_string(n) + "\n";
  head("tern_gateway_cache_total", "cache outcomes: exact and semantic hits, misses, bypass (not cacheable)");
  for (const char* k : {"exact", "semantic", "miss", "bypass"}) {
    auto it = m.cache.find(k);
    o += std::string("tern_gateway_cache_total{result=\"") + k + "\"} " + std::to_string(it == m.cache.end() ? 0 : it->second) + "\n";
  }
  head("tern_gateway_cascade_requests_total", "requests routed to a multi-model cascade, by route");
  for (const auto& [r, n] : m.cascades) o += "tern_gateway_cascade_requests_total{route=\"" + label(r) + "\"} " + std::to_string(n) + "\n";
  head("tern_gateway_escalations_total", "cascade escalations, by route and reason");
  for (const auto& [k, n] : m.escalations)
    o += "tern_gateway_escalations_total{route=\"" + label(k.first) + "\",reason=\"" + k.second + "\"} " + std::to_string(n) + "\n";
  head("tern_gateway_cost_usd_total", "model cost in US dollars, by model");
  for (const auto& [model, p] : m.cost) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9f", usd(p));
    o += "tern_gateway_cost_usd_total{model=\"" + label(model) + "\"} " + buf + "\n";
  }
  head("tern_gateway_savings_usd_total", "cost avoided by cache hits, in US dollars");
  {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9f", usd(m.saved));
    o += std::string("tern_gateway_savings_usd_total ") + buf + "\n";
  }
  head("tern_gateway_fallbacks_total", "requests moved to a fallback model after an upstream failure");
  o += "tern_gateway_fallbacks_total " + std::to_string(m.fallbacks) + "\n";
  head("tern_gateway_upstream_errors_total", "failed model calls (after retries), by model");
  for (const auto& [model, n] : m.upstream_errors)
    o += "tern_gateway_upstream_errors_total{model=\"" + label(model) + "\"} " + std::to_string(n) + "\n";
  head("tern_gateway_denied_total", "requests refused before any model call, by HTTP status (401, 402, 403, 429)");
  for (const auto& [s, n] : m.denied) o += "tern_gateway_denied_total{status=\"" + std::to_string(s) + "\"} " + std::to_string(n) + "\n";
  return o;
}

}  // namespace tern::opt
