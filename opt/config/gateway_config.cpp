#include "config/gateway_config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

namespace tern::opt {

const ModelConfig* GatewayConfig::find_model(const std::string& name) const {
  for (const auto& m : models)
    if (m.name == name) return &m;
  return nullptr;
}

const RouteConfig* GatewayConfig::find_route(const std::string& name) const {
  for (const auto& r : routes)
    if (r.name == name) return &r;
  return nullptr;
}

bool is_gateway_config_text(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("models:", 0) == 0) return true;
  return false;
}

namespace {

// Thrown inside the parser only, caught at its boundary: a parse error
// unwinds through the recursive readers to one Status.
struct ConfigError {
  std::string message;
};

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const YAML::Node& n, const std::string& path, const std::string& msg) const {
    std::string where = source_;
    if (n.IsDefined() && n.Mark().line >= 0) where += ":" + std::to_string(n.Mark().line + 1);
    throw ConfigError{where + ": " + path + ": " + msg};
  }

  void only(const YAML::Node& n, const std::string& path, std::initializer_list<const char*> allowed) const {
    if (!n.IsMap()) fail(n, path, "expected a mapping");
    std::set<std::string> ok(allowed.begin(), allowed.end());
    for (const auto& kv : n) {
      std::string k = kv.first.as<std::string>();
      if (!ok.count(k)) {
        std::string list;
        for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
        fail(kv.first, path, "unknown field '" + k + "' (expected one of: " + list + ")");
      }
    }
  }

  std::string str(const YAML::Node& n, const std::string& path) const {
    if (!n.IsScalar()) fail(n, path, "expected a string");
    return n.Scalar();
  }

  double num(const YAML::Node& n, const std::string& path) const {
    if (!n.IsScalar()) fail(n, path, "expected a number");
    try {
      size_t pos = 0;
      double v = std::stod(n.Scalar(), &pos);
      if (pos == n.Scalar().size()) return v;
    } catch (...) {
    }
    fail(n, path, "expected a number, got '" + n.Scalar() + "'");
  }

  int64_t integer(const YAML::Node& n, const std::string& path, int64_t lo, int64_t hi) const {
    if (!n.IsScalar()) fail(n, path, "expected an integer");
    int64_t v = 0;
    try {
      size_t pos = 0;
      v = std::stoll(n.Scalar(), &pos);
      if (pos != n.Scalar().size()) throw 0;
    } catch (...) {
      fail(n, path, "expected an integer, got '" + n.Scalar() + "'");
    }
    if (v < lo || v > hi) fail(n, path, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    return v;
  }

  bool boolean(const YAML::Node& n, const std::string& path) const {
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      if (s == "true" || s == "yes" || s == "on") return true;
      if (s == "false" || s == "no" || s == "off") return false;
    }
    fail(n, path, "expected true or false");
  }

  std::vector<std::string> strings(const YAML::Node& n, const std::string& path) const {
    std::vector<std::string> out;
    if (n.IsScalar()) return {n.Scalar()};
    if (!n.IsSequence()) fail(n, path, "expected a list of strings");
    for (size_t i = 0; i < n.size(); ++i) out.push_back(str(n[i], path + "[" + std::to_string(i) + "]"));
    return out;
  }

  budget::Picodollars dollars(const YAML::Node& n, const std::string& path) const {
    if (!n.IsScalar()) fail(n, path, "expected an amount in dollars");
    auto d = budget::parse_dollars(n.Scalar());
    if (!d.ok()) fail(n, path, d.status().message());
    return *d;
  }

  // A secret given inline or through an environment variable.
  std::string secret(const YAML::Node& parent, const char* field, const std::string& path) const {
    std::string env_field = std::string(field) + "_env";
    if (parent[env_field]) {
      std::string var = str(parent[env_field], path + "." + env_field);
      const char* v = std::getenv(var.c_str());
      if (!v) fail(parent[env_field], path + "." + env_field, "environment variable " + var + " is not set");
      return v;
    }
    return parent[field] ? str(parent[field], path + "." + field) : "";
  }

  std::shared_ptr<const Pattern> pattern(const YAML::Node& n, const std::string& path) const {
    auto p = Pattern::compile(str(n, path));
    if (!p.ok()) fail(n, path, p.status().message());
    return *p;
  }

 private:
  std::string source_;
};

json to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = to_json(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& x : n) a.push_back(to_json(x));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() == "!") return s;  // quoted: a string
      if (s == "true") return true;
      if (s == "false") return false;
      if (s == "null" || s == "~") return nullptr;
      try {
        size_t pos = 0;
        long long i = std::stoll(s, &pos);
        if (pos == s.size()) return i;
        double d = std::stod(s, &pos);
        if (pos == s.size()) return d;
      } catch (...) {
      }
      return s;
    }
    default: return nullptr;
  }
}

ModelConfig read_model(const Reader& r, const std::string& name, const YAML::Node& n) {
  std::string p = "models." + name;
  r.only(n, p, {"path", "threads", "ctx_size", "max_seqs", "url", "api_key", "api_key_env", "model", "price",
                "timeouts", "retries", "backoff", "verify_tls", "ca_file", "default_max_tokens"});
  ModelConfig m;
  m.name = name;
  m.remote.name = name;
  if (n["path"] && n["url"]) r.fail(n, p, "give either 'path' (local GGUF) or 'url' (remote), not both");
  if (n["path"]) {
    m.local = true;
    m.path = r.str(n["path"], p + ".path");
    if (n["threads"]) m.threads = static_cast<int>(r.integer(n["threads"], p + ".threads", 0, 4096));
    if (n["ctx_size"]) m.ctx_size = static_cast<int>(r.integer(n["ctx_size"], p + ".ctx_size", 0, 1 << 22));
    if (n["max_seqs"]) m.max_seqs = static_cast<int>(r.integer(n["max_seqs"], p + ".max_seqs", 0, 1 << 16));
  } else if (n["url"]) {
    m.remote.base_url = r.str(n["url"], p + ".url");
    auto u = parse_base_url(m.remote.base_url);
    if (!u.ok()) r.fail(n["url"], p + ".url", u.status().message());
    m.remote.api_key = r.secret(n, "api_key", p);
    if (n["model"]) m.remote.model = r.str(n["model"], p + ".model");
    if (n["retries"]) m.remote.max_retries = static_cast<int>(r.integer(n["retries"], p + ".retries", 0, 10));
    if (auto t = n["timeouts"]) {
      r.only(t, p + ".timeouts", {"connect", "first_byte", "total"});
      if (t["connect"]) m.remote.connect_timeout_s = r.num(t["connect"], p + ".timeouts.connect");
      if (t["first_byte"]) m.remote.first_byte_timeout_s = r.num(t["first_byte"], p + ".timeouts.first_byte");
      if (t["total"]) m.remote.total_timeout_s = r.num(t["total"], p + ".timeouts.total");
    }
    if (auto b = n["backoff"]) {
      r.only(b, p + ".backoff", {"initial", "max"});
      if (b["initial"]) m.remote.backoff_initial_s = r.num(b["initial"], p + ".backoff.initial");
      if (b["max"]) m.remote.backoff_max_s = r.num(b["max"], p + ".backoff.max");
    }
    if (n["verify_tls"]) m.remote.verify_tls = r.boolean(n["verify_tls"], p + ".verify_tls");
    if (n["ca_file"]) m.remote.ca_file = r.str(n["ca_file"], p + ".ca_file");
  } else {
    r.fail(n, p, "needs 'path' (a local GGUF file) or 'url' (a remote OpenAI-compatible base URL)");
  }
  if (auto pr = n["price"]) {
    r.only(pr, p + ".price", {"input", "output", "cached"});
    if (pr["input"]) m.prices.input = r.dollars(pr["input"], p + ".price.input");
    if (pr["output"]) m.prices.output = r.dollars(pr["output"], p + ".price.output");
    if (pr["cached"]) m.prices.cached = r.dollars(pr["cached"], p + ".price.cached");
  }
  if (n["default_max_tokens"])
    m.default_max_tokens = r.integer(n["default_max_tokens"], p + ".default_max_tokens", 1, 1 << 22);
  return m;
}

std::vector<std::string> read_targets(const Reader& r, const YAML::Node& n, const std::string& path) {
  auto t = r.strings(n, path);
  if (t.empty()) r.fail(n, path, "needs at least one model");
  return t;
}

Rule read_rule(const Reader& r, const YAML::Node& n, const std::string& p) {
  r.only(n, p, {"if", "use"});
  Rule rule;
  if (!n["use"]) r.fail(n, p, "needs 'use' (a model or a cascade list)");
  rule.targets = read_targets(r, n["use"], p + ".use");
  if (auto c = n["if"]) {
    std::string q = p + ".if";
    r.only(c, q, {"min_prompt_chars", "max_prompt_chars", "tags", "pattern", "tools", "min_score"});
    if (c["min_prompt_chars"]) rule.min_prompt_chars = r.integer(c["min_prompt_chars"], q + ".min_prompt_chars", 0, INT64_MAX);
    if (c["max_prompt_chars"]) rule.max_prompt_chars = r.integer(c["max_prompt_chars"], q + ".max_prompt_chars", 0, INT64_MAX);
    if (c["tags"]) rule.tags_any = r.strings(c["tags"], q + ".tags");
    if (c["pattern"]) rule.pattern = r.pattern(c["pattern"], q + ".pattern");
    if (c["tools"]) rule.tools = r.boolean(c["tools"], q + ".tools");
    if (c["min_score"]) rule.min_score = r.num(c["min_score"], q + ".min_score");
  }
  return rule;
}

RouteConfig read_route(const Reader& r, const std::string& name, const YAML::Node& n) {
  std::string p = "routes." + name;
  r.only(n, p, {"rules", "use", "fallbacks", "escalate", "cache", "toon", "compress", "compact"});
  RouteConfig rc;
  rc.name = name;
  if (!n["use"]) r.fail(n, p, "needs 'use' (the default model or cascade)");
  rc.targets = read_targets(r, n["use"], p + ".use");
  if (auto rules = n["rules"]) {
    if (!rules.IsSequence()) r.fail(rules, p + ".rules", "expected a list of rules");
    for (size_t i = 0; i < rules.size(); ++i) rc.rules.push_back(read_rule(r, rules[i], p + ".rules[" + std::to_string(i) + "]"));
  }
  if (n["fallbacks"]) rc.fallbacks = r.strings(n["fallbacks"], p + ".fallbacks");
  if (n["toon"]) rc.stages.toon = r.boolean(n["toon"], p + ".toon");
  if (auto c = n["compress"]) {
    std::string q = p + ".compress";
    if (c.IsScalar()) {
      rc.stages.compress = r.boolean(c, q);
    } else {
      r.only(c, q, {"ratio", "target_tokens", "force_tokens", "iterative"});
      rc.stages.compress = true;
      if (c["ratio"]) {
        rc.stages.ratio = r.num(c["ratio"], q + ".ratio");
        if (!(rc.stages.ratio >= 1 && rc.stages.ratio <= 1000)) r.fail(c["ratio"], q + ".ratio", "must be between 1 and 1000");
      }
      if (c["target_tokens"]) rc.stages.target_tokens = r.integer(c["target_tokens"], q + ".target_tokens", 0, int64_t{1} << 40);
      if (c["force_tokens"]) rc.stages.force = r.strings(c["force_tokens"], q + ".force_tokens");
      if (c["iterative"]) rc.stages.iterative = r.boolean(c["iterative"], q + ".iterative");
    }
  }
  if (auto c = n["compact"]) {
    std::string q = p + ".compact";
    r.only(c, q, {"model", "context_tokens", "trigger", "target", "keep_recent", "tool_output_tokens"});
    compress::MessageStages& st = rc.stages;
    st.compact = true;
    if (c["model"]) st.compact_model = r.str(c["model"], q + ".model");
    if (!c["context_tokens"]) r.fail(c, q, "needs 'context_tokens' (the target model's window or a token budget)");
    else st.context_tokens = r.integer(c["context_tokens"], q + ".context_tokens", 64, int64_t{1} << 40);
    if (c["trigger"]) st.trigger = r.num(c["trigger"], q + ".trigger");
    if (c["target"]) st.target = r.num(c["target"], q + ".target");
    if (!(st.trigger > 0 && st.trigger <= 1)) r.fail(c, q + ".trigger", "must be in (0, 1]");
    if (!(st.target > 0 && st.target < st.trigger)) r.fail(c, q + ".target", "must be in (0, trigger)");
    if (c["keep_recent"]) st.keep_recent = static_cast<int32_t>(r.integer(c["keep_recent"], q + ".keep_recent", 1, 1 << 20));
    if (c["tool_output_tokens"])
      st.tool_output_tokens = r.integer(c["tool_output_tokens"], q + ".tool_output_tokens", 0, int64_t{1} << 40);
  }
  if (auto e = n["escalate"]) {
    std::string q = p + ".escalate";
    r.only(e, q, {"min_mean_logprob", "json", "schema", "refusals"});
    if (e["min_mean_logprob"]) rc.escalate.min_mean_logprob = r.num(e["min_mean_logprob"], q + ".min_mean_logprob");
    if (e["json"]) rc.escalate.require_json = r.boolean(e["json"], q + ".json");
    if (e["schema"]) {
      if (!e["schema"].IsMap()) r.fail(e["schema"], q + ".schema", "expected a JSON schema mapping");
      rc.escalate.schema = to_json(e["schema"]);
    }
    if (auto rf = e["refusals"]) {
      if (!rf.IsSequence()) r.fail(rf, q + ".refusals", "expected a list of patterns");
      for (size_t i = 0; i < rf.size(); ++i)
        rc.escalate.refusals.push_back(r.pattern(rf[i], q + ".refusals[" + std::to_string(i) + "]"));
    }
  }
  if (auto c = n["cache"]) {
    std::string q = p + ".cache";
    r.only(c, q, {"exact", "semantic", "threshold", "ttl_s", "tags"});
    if (c["exact"]) rc.cache.exact = r.boolean(c["exact"], q + ".exact");
    if (c["semantic"]) rc.cache.semantic = r.boolean(c["semantic"], q + ".semantic");
    if (c["threshold"]) {
      double t = r.num(c["threshold"], q + ".threshold");
      if (t <= 0 || t > 1) r.fail(c["threshold"], q + ".threshold", "must be in (0, 1]");
      rc.cache.threshold = static_cast<float>(t);
    }
    if (c["ttl_s"]) rc.cache.ttl_ms = static_cast<int64_t>(r.num(c["ttl_s"], q + ".ttl_s") * 1000);
    if (c["tags"]) rc.cache.tags = r.strings(c["tags"], q + ".tags");
  }
  return rc;
}

budget::Period period(const Reader& r, const YAML::Node& n, const std::string& path) {
  auto pr = budget::parse_period(r.str(n, path));
  if (!pr.ok()) r.fail(n, path, pr.status().message());
  return *pr;
}

void read_access(const Reader& r, const YAML::Node& root, GatewayConfig& g) {
  if (auto teams = root["teams"]) {
    if (!teams.IsMap()) r.fail(teams, "teams", "expected a mapping of team names");
    for (const auto& kv : teams) {
      std::string id = kv.first.as<std::string>(), p = "teams." + id;
      const YAML::Node& n = kv.second;
      r.only(n, p, {"budget", "period", "rpm", "tpm"});
      budget::Team t;
      t.id = id;
      if (n["budget"]) t.budget = r.dollars(n["budget"], p + ".budget");
      if (n["period"]) t.period = period(r, n["period"], p + ".period");
      if (n["rpm"]) t.rpm = r.integer(n["rpm"], p + ".rpm", 0, INT64_MAX);
      if (n["tpm"]) t.tpm = r.integer(n["tpm"], p + ".tpm", 0, INT64_MAX);
      g.budgets.teams.push_back(std::move(t));
    }
  }
  if (auto keys = root["keys"]) {
    if (!keys.IsMap()) r.fail(keys, "keys", "expected a mapping of key ids");
    for (const auto& kv : keys) {
      std::string id = kv.first.as<std::string>(), p = "keys." + id;
      const YAML::Node& n = kv.second;
      r.only(n, p, {"secret", "secret_env", "team", "budget", "period", "rpm", "tpm", "models"});
      budget::VirtualKey k;
      k.id = id;
      k.secret = r.secret(n, "secret", p);
      if (k.secret.empty()) r.fail(n, p, "needs 'secret' or 'secret_env'");
      if (n["team"]) {
        k.team = r.str(n["team"], p + ".team");
        bool known = false;
        for (const auto& t : g.budgets.teams) known = known || t.id == k.team;
        if (!known) r.fail(n["team"], p + ".team", "unknown team '" + k.team + "'");
      }
      if (n["budget"]) k.budget = r.dollars(n["budget"], p + ".budget");
      if (n["period"]) k.period = period(r, n["period"], p + ".period");
      if (n["rpm"]) k.rpm = r.integer(n["rpm"], p + ".rpm", 0, INT64_MAX);
      if (n["tpm"]) k.tpm = r.integer(n["tpm"], p + ".tpm", 0, INT64_MAX);
      if (n["models"]) k.models = r.strings(n["models"], p + ".models");
      for (const auto& other : g.budgets.keys)
        if (other.secret == k.secret) r.fail(n, p, "same secret as key '" + other.id + "'");
      g.budgets.keys.push_back(std::move(k));
    }
  }
  if (root["compress_model"]) g.compress_model = r.str(root["compress_model"], "compress_model");
  if (root["admin_key"] || root["admin_key_env"]) g.admin_key = r.secret(root, "admin_key", "admin_key");
}

void read_store_and_cache(const Reader& r, const YAML::Node& root, GatewayConfig& g) {
  if (auto s = root["store"]) {
    r.only(s, "store", {"kind", "path", "host", "port", "db", "password", "password_env", "prefix", "timeout_ms", "pool_size"});
    if (s["kind"]) {
      auto k = store::parse_store_kind(r.str(s["kind"], "store.kind"));
      if (!k.ok()) r.fail(s["kind"], "store.kind", k.status().message());
      g.store.kind = *k;
    }
    if (s["path"]) g.store.path = r.str(s["path"], "store.path");
    if (s["host"]) g.store.redis_host = r.str(s["host"], "store.host");
    if (s["port"]) g.store.redis_port = static_cast<int>(r.integer(s["port"], "store.port", 1, 65535));
    if (s["db"]) g.store.redis_db = static_cast<int>(r.integer(s["db"], "store.db", 0, 1 << 16));
    g.store.redis_password = r.secret(s, "password", "store");
    if (s["prefix"]) g.store.key_prefix = r.str(s["prefix"], "store.prefix");
    if (s["timeout_ms"]) g.store.timeout_ms = static_cast<int>(r.integer(s["timeout_ms"], "store.timeout_ms", 1, 600000));
    if (s["pool_size"]) g.store.pool_size = static_cast<int>(r.integer(s["pool_size"], "store.pool_size", 1, 1024));
  }
  auto c = root["cache"];
  if (!c) return;
  r.only(c, "cache", {"exact", "semantic", "embedder"});
  if (auto e = c["exact"]) {
    r.only(e, "cache.exact", {"enabled", "ttl_s", "nondeterministic", "max_entry_bytes"});
    if (e["enabled"]) g.exact_cache = r.boolean(e["enabled"], "cache.exact.enabled");
    if (e["ttl_s"]) g.exact.default_ttl_ms = static_cast<int64_t>(r.num(e["ttl_s"], "cache.exact.ttl_s") * 1000);
    if (e["nondeterministic"]) g.exact.cache_nondeterministic = r.boolean(e["nondeterministic"], "cache.exact.nondeterministic");
    if (e["max_entry_bytes"]) g.exact.max_entry_bytes = static_cast<size_t>(r.integer(e["max_entry_bytes"], "cache.exact.max_entry_bytes", 1, 1LL << 30));
  }
  if (auto s = c["semantic"]) {
    r.only(s, "cache.semantic", {"enabled", "threshold", "ttl_s", "allow_tools", "allow_multi_turn", "sync_ms"});
    if (s["enabled"]) g.semantic_cache = r.boolean(s["enabled"], "cache.semantic.enabled");
    if (s["threshold"]) {
      double t = r.num(s["threshold"], "cache.semantic.threshold");
      if (t <= 0 || t > 1) r.fail(s["threshold"], "cache.semantic.threshold", "must be in (0, 1]");
      g.semantic.threshold = static_cast<float>(t);
    }
    if (s["ttl_s"]) g.semantic.default_ttl_ms = static_cast<int64_t>(r.num(s["ttl_s"], "cache.semantic.ttl_s") * 1000);
    if (s["allow_tools"]) g.semantic.allow_tools = r.boolean(s["allow_tools"], "cache.semantic.allow_tools");
    if (s["allow_multi_turn"]) g.semantic.allow_multi_turn = r.boolean(s["allow_multi_turn"], "cache.semantic.allow_multi_turn");
    if (s["sync_ms"]) g.semantic.sync_interval_ms = r.integer(s["sync_ms"], "cache.semantic.sync_ms", -1, INT64_MAX);
  }
  if (auto e = c["embedder"]) {
    r.only(e, "cache.embedder", {"kind", "model", "url", "api_key", "api_key_env"});
    std::string kind = e["kind"] ? r.str(e["kind"], "cache.embedder.kind") : "lexical";
    if (kind == "lexical") g.embedder = EmbedderKind::kLexical;
    else if (kind == "local") g.embedder = EmbedderKind::kLocal;
    else if (kind == "remote") g.embedder = EmbedderKind::kRemote;
    else r.fail(e["kind"], "cache.embedder.kind", "must be lexical, local or remote, got '" + kind + "'");
    if (e["model"]) g.embedder_model = r.str(e["model"], "cache.embedder.model");
    if (e["url"]) g.embedder_url = r.str(e["url"], "cache.embedder.url");
    g.embedder_key = r.secret(e, "api_key", "cache.embedder");
    if (g.embedder == EmbedderKind::kLocal && g.embedder_model.empty())
      r.fail(e, "cache.embedder", "kind local needs 'model' (a GGUF file)");
    if (g.embedder == EmbedderKind::kRemote && (g.embedder_url.empty() || g.embedder_model.empty()))
      r.fail(e, "cache.embedder", "kind remote needs 'url' and 'model'");
  }
}

void check_references(const Reader& r, const YAML::Node& root, const GatewayConfig& g) {
  auto known = [&](const std::string& m) { return g.find_model(m) != nullptr; };
  for (const auto& rc : g.routes) {
    auto check = [&](const std::vector<std::string>& list, const std::string& what) {
      for (const auto& m : list)
        if (!known(m)) r.fail(root["routes"][rc.name], "routes." + rc.name + "." + what, "unknown model '" + m + "'");
    };
    check(rc.targets, "use");
    check(rc.fallbacks, "fallbacks");
    if (!rc.stages.compact_model.empty()) check({rc.stages.compact_model}, "compact.model");
    for (size_t i = 0; i < rc.rules.size(); ++i) check(rc.rules[i].targets, "rules[" + std::to_string(i) + "].use");
    if (g.find_model(rc.name)) r.fail(root["routes"][rc.name], "routes." + rc.name, "a route and a model share the name");
  }
  if (!g.default_route.empty() && !g.find_route(g.default_route) && !g.find_model(g.default_route))
    r.fail(root["default_route"], "default_route", "unknown route or model '" + g.default_route + "'");
}

}  // namespace

Result<GatewayConfig> parse_gateway_config(const std::string& yaml, const std::string& source) {
  Reader r(source);
  GatewayConfig g;
  g.source = source;
  try {
    YAML::Node root = YAML::Load(yaml);
    if (!root.IsMap()) return InvalidArgument(source + ": expected a mapping at the top level");
    static const std::set<std::string> sections = {"models", "routes", "default_route", "classifier", "teams", "keys",
                                                   "admin_key", "admin_key_env", "store", "cache",
                                                   "compress_model"};
    for (const auto& kv : root) {
      std::string k = kv.first.as<std::string>();
      if (sections.count(k)) continue;
      if (!kv.second.IsScalar()) r.fail(kv.first, k, "unknown section (serve options are plain 'key: value' scalars)");
      g.server_options[k] = kv.second.Scalar();
    }
    auto models = root["models"];
    if (!models || !models.IsMap() || models.size() == 0) r.fail(root, "models", "needs at least one model (a mapping of names)");
    for (const auto& kv : models) g.models.push_back(read_model(r, kv.first.as<std::string>(), kv.second));
    if (auto routes = root["routes"]) {
      if (!routes.IsMap()) r.fail(routes, "routes", "expected a mapping of route names");
      for (const auto& kv : routes) g.routes.push_back(read_route(r, kv.first.as<std::string>(), kv.second));
    }
    if (root["default_route"]) g.default_route = r.str(root["default_route"], "default_route");
    if (auto c = root["classifier"]) {
      r.only(c, "classifier", {"bias", "weights"});
      if (c["bias"]) g.classifier.bias = r.num(c["bias"], "classifier.bias");
      if (auto w = c["weights"]) {
        if (!w.IsMap()) r.fail(w, "classifier.weights", "expected keyword: weight pairs");
        for (const auto& kv : w) {
          std::string word = kv.first.as<std::string>();
          for (char& ch : word) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          g.classifier.weights.emplace_back(word, r.num(kv.second, "classifier.weights." + word));
        }
      }
    }
    read_access(r, root, g);
    read_store_and_cache(r, root, g);
    check_references(r, root, g);
  } catch (const ConfigError& e) {
    return InvalidArgument(e.message);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(source + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return g;
}

Result<GatewayConfig> load_gateway_config(const std::string& path) {
  std::ifstream f(path);
  if (!f) return NotFound("cannot read gateway config '" + path + "'");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_gateway_config(ss.str(), path);
}

}  // namespace tern::opt
