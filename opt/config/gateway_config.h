// The gateway's YAML configuration (`tern serve --config FILE`): models
// (local GGUF files or remote OpenAI-compatible base URLs, with prices per
// million input/output/cached tokens), routes (rules, cascades, escalation
// policy, fallbacks, cache settings), virtual keys and teams with budgets
// and rate limits, the cache and the store. docs/gateway.md documents every
// field with a runnable example (examples/gateway.yaml).
//
// Top-level scalar keys are `tern serve` options (host, port, http-threads,
// ...) and are returned in `server_options` for the option resolver; the
// sections below are the gateway's.
//
// Errors: one line naming the file, the line and the field, e.g.
//   "gw.yaml:12: models.small.price.input: expected a number, got 'cheap'".
// Unknown fields are errors too (a typo must not silently disable a budget).
#pragma once

#include <map>
#include <string>

#include "compress/stages.h"
#include <vector>

#include "backend/remote_backend.h"
#include "budget/budget.h"
#include "cache/exact_cache.h"
#include "cache/semantic_cache.h"
#include "route/router.h"
#include "store/store.h"

namespace tern::opt {

struct ModelConfig {
  std::string name;               // the id routes and clients use
  bool local = false;
  // local: a GGUF file served in this process
  std::string path;
  int threads = 0, ctx_size = 0, max_seqs = 0;
  // remote: base URL, key, upstream model, timeouts, retries
  RemoteOptions remote;
  budget::Prices prices;          // per 1M tokens, picodollars
  int64_t default_max_tokens = 1024;  // budget reservation when the request sets no max_tokens
};

struct RouteCacheConfig {
  bool exact = true;              // when the cache is enabled globally
  bool semantic = false;
  float threshold = -1;           // semantic similarity; < 0: the cache's default
  int64_t ttl_ms = 0;             // 0: the cache's default
  std::vector<std::string> tags;  // attached to entries this route writes
};

struct RouteConfig {
  std::string name;               // clients send it as "model"
  std::vector<Rule> rules;
  std::vector<std::string> targets;    // default: one model or a cascade small -> large
  std::vector<std::string> fallbacks;  // tried in order when a stage's model fails before answering
  EscalationPolicy escalate;
  RouteCacheConfig cache;
  compress::MessageStages stages;      // toon / compress applied to every request (a request's "tern" field overrides)
};

enum class EmbedderKind { kLexical, kLocal, kRemote };

struct GatewayConfig {
  std::string source;                              // file name, for messages
  std::map<std::string, std::string> server_options;  // top-level scalars
  std::vector<ModelConfig> models;
  std::vector<RouteConfig> routes;
  std::string default_route;                       // used when "model" names no route/model; "" none
  Classifier classifier;
  budget::BudgetConfig budgets;                    // teams and virtual keys (empty: open, no auth)
  std::string admin_key;                           // for /admin/*; "" disables the admin endpoints
  store::StoreConfig store;
  bool exact_cache = true;
  cache::ExactCacheOptions exact;
  bool semantic_cache = false;
  cache::SemanticOptions semantic;
  EmbedderKind embedder = EmbedderKind::kLexical;
  std::string embedder_model;                      // kLocal: GGUF path; kRemote: model id
  std::string embedder_url, embedder_key;          // kRemote
  std::string compress_model;                      // scorer of the compress/toon stages: a local model's name or a GGUF path; "": the first local model

  const ModelConfig* find_model(const std::string& name) const;
  const RouteConfig* find_route(const std::string& name) const;
};

// Parses YAML text; `source` names it in errors. Cross-references (route
// targets, fallbacks, key teams) are checked.
Result<GatewayConfig> parse_gateway_config(const std::string& yaml, const std::string& source);
Result<GatewayConfig> load_gateway_config(const std::string& path);

// True when the text is a gateway config (has a top-level "models:" key),
// as opposed to a plain `key: value` serve-options file.
bool is_gateway_config_text(const std::string& text);

}  // namespace tern::opt
