// The gateway's YAML configuration (opt/config): every section, defaults,
// cross-references and one-line errors with line numbers.
#include <gtest/gtest.h>

#include <cstdlib>

#include "config/gateway_config.h"

namespace tern::opt {
namespace {

const char* kFull = R"(# serve options stay plain scalars
port: 9000
http-threads: 3
models:
  small:
    url: http://127.0.0.1:8081/v1
    model: stories260K
    price: {input: 0.10, output: 0.40, cached: 0.05}
    timeouts: {connect: 1.5, first_byte: 10, total: 60}
    retries: 3
    backoff: {initial: 0.05, max: 1}
  big:
    url: https://api.example.com/v1
    api_key_env: TERN_TEST_UPSTREAM_KEY
    price: {input: 2.5, output: 10}
    default_max_tokens: 256
  local:
    path: ../shared/models/stories260K.gguf
    threads: 1
routes:
  auto:
    use: [small, big]
    fallbacks: [local]
    rules:
      - if: {min_prompt_chars: 4000}
        use: big
      - if: {tags: [hard], pattern: "(?i)prove"}
        use: [big]
      - if: {tools: true, min_score: 0.7}
        use: big
    escalate:
      min_mean_logprob: -1.5
      json: true
      schema: {type: object, required: [answer], properties: {answer: {type: string}}}
      refusals: ["(?i)i can't"]
    cache: {exact: true, semantic: true, threshold: 0.93, ttl_s: 60, tags: [docs]}
default_route: auto
classifier:
  bias: -1
  weights: {Prove: 2, easy: -1}
teams:
  research: {budget: 50, period: monthly, rpm: 600, tpm: 100000}
keys:
  alice: {secret: sk-alice, team: research, budget: "5.25", rpm: 60, models: [auto]}
  bob: {secret_env: TERN_TEST_BOB}
admin_key: sk-admin
store: {kind: redis, host: 127.0.0.1, port: 6380, prefix: "t:"}
cache:
  exact: {enabled: true, ttl_s: 120, nondeterministic: false}
  semantic: {enabled: true, threshold: 0.9, allow_multi_turn: true}
  embedder: {kind: lexical}
)";

TEST(GatewayConfig, ParsesEverySection) {
  setenv("TERN_TEST_UPSTREAM_KEY", "sk-upstream", 1);
  setenv("TERN_TEST_BOB", "sk-bob", 1);
  auto r = parse_gateway_config(kFull, "gw.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const GatewayConfig& g = *r;
  EXPECT_EQ(g.server_options.at("port"), "9000");
  EXPECT_EQ(g.server_options.at("http-threads"), "3");
  ASSERT_EQ(g.models.size(), 3u);
  const ModelConfig* small = g.find_model("small");
  ASSERT_TRUE(small);
  EXPECT_FALSE(small->local);
  EXPECT_EQ(small->remote.base_url, "http://127.0.0.1:8081/v1");
  EXPECT_EQ(small->remote.model, "stories260K");
  EXPECT_EQ(small->prices.input, 100'000'000'000);  // parse_dollars("0.10"): per 1M tokens
  EXPECT_EQ(small->prices.output, 400'000'000'000);
  EXPECT_EQ(small->prices.cached, 50'000'000'000);
  EXPECT_DOUBLE_EQ(small->remote.connect_timeout_s, 1.5);
  EXPECT_DOUBLE_EQ(small->remote.first_byte_timeout_s, 10);
  EXPECT_EQ(small->remote.max_retries, 3);
  EXPECT_DOUBLE_EQ(small->remote.backoff_initial_s, 0.05);
  EXPECT_EQ(g.find_model("big")->remote.api_key, "sk-upstream");
  EXPECT_EQ(g.find_model("big")->default_max_tokens, 256);
  EXPECT_TRUE(g.find_model("local")->local);
  EXPECT_EQ(g.find_model("local")->threads, 1);

  const RouteConfig* auto_r = g.find_route("auto");
  ASSERT_TRUE(auto_r);
  EXPECT_EQ(auto_r->targets, (std::vector<std::string>{"small", "big"}));
  EXPECT_EQ(auto_r->fallbacks, (std::vector<std::string>{"local"}));
  ASSERT_EQ(auto_r->rules.size(), 3u);
  EXPECT_EQ(*auto_r->rules[0].min_prompt_chars, 4000u);
  EXPECT_EQ(auto_r->rules[1].tags_any, (std::vector<std::string>{"hard"}));
  EXPECT_TRUE(auto_r->rules[1].pattern->matches("please PROVE"));
  EXPECT_TRUE(*auto_r->rules[2].tools);
  EXPECT_DOUBLE_EQ(*auto_r->rules[2].min_score, 0.7);
  EXPECT_DOUBLE_EQ(auto_r->escalate.min_mean_logprob, -1.5);
  EXPECT_TRUE(auto_r->escalate.require_json);
  EXPECT_EQ(auto_r->escalate.schema["required"][0], "answer");
  ASSERT_EQ(auto_r->escalate.refusals.size(), 1u);
  EXPECT_TRUE(auto_r->cache.semantic);
  EXPECT_FLOAT_EQ(auto_r->cache.threshold, 0.93f);
  EXPECT_EQ(auto_r->cache.ttl_ms, 60000);
  EXPECT_EQ(auto_r->cache.tags, (std::vector<std::string>{"docs"}));
  EXPECT_EQ(g.default_route, "auto");
  ASSERT_EQ(g.classifier.weights.size(), 2u);
  EXPECT_EQ(g.classifier.weights[0].first, "prove");  // lower-cased

  ASSERT_EQ(g.budgets.teams.size(), 1u);
  EXPECT_EQ(g.budgets.teams[0].budget, 50 * budget::kPicoPerDollar);
  EXPECT_EQ(g.budgets.teams[0].period, budget::Period::kMonthly);
  ASSERT_EQ(g.budgets.keys.size(), 2u);
  EXPECT_EQ(g.budgets.keys[0].id, "alice");
  EXPECT_EQ(g.budgets.keys[0].budget, 5'250'000'000'000);
  EXPECT_EQ(g.budgets.keys[0].models, (std::vector<std::string>{"auto"}));
  EXPECT_EQ(g.budgets.keys[1].secret, "sk-bob");
  EXPECT_EQ(g.admin_key, "sk-admin");
  EXPECT_EQ(g.store.kind, store::StoreKind::kRedis);
  EXPECT_EQ(g.store.redis_port, 6380);
  EXPECT_EQ(g.store.key_prefix, "t:");
  EXPECT_EQ(g.exact.default_ttl_ms, 120000);
  EXPECT_TRUE(g.semantic_cache);
  EXPECT_TRUE(g.semantic.allow_multi_turn);
  EXPECT_EQ(g.embedder, EmbedderKind::kLexical);
}

TEST(GatewayConfig, MinimalDefaults) {
  auto r = parse_gateway_config("models:\n  m: {url: 'http://localhost:1/v1'}\n", "min.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->routes.empty());
  EXPECT_TRUE(r->budgets.keys.empty());
  EXPECT_EQ(r->store.kind, store::StoreKind::kSqlite);
  EXPECT_TRUE(r->exact_cache);
  EXPECT_FALSE(r->semantic_cache);
  EXPECT_EQ(r->find_model("m")->remote.max_retries, 2);
  EXPECT_EQ(r->find_model("m")->prices.input, 0);
}

void expect_error(const std::string& yaml, const std::string& fragment) {
  auto r = parse_gateway_config(yaml, "bad.yaml");
  ASSERT_FALSE(r.ok()) << "accepted:\n" << yaml;
  EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << "one line: " << r.status().message();
}

TEST(GatewayConfig, ErrorsNameFileLineAndField) {
  expect_error("models:\n  m:\n    url: http://x/v1\n    price: {input: cheap}\n",
               "bad.yaml:4: models.m.price.input: ");
  expect_error("models:\n  m:\n    url: http://x/v1\n    prise: 1\n", "bad.yaml:4: models.m: unknown field 'prise'");
  expect_error("models:\n  m: {url: 'ftp://x'}\n", "must start with http:// or https://");
  expect_error("models:\n  m: {threads: 2}\n", "needs 'path' (a local GGUF file) or 'url'");
  expect_error("models:\n  m: {url: 'http://x/v1'}\nroutes:\n  r: {use: [m, nope]}\n",
               "routes.r.use: unknown model 'nope'");
  expect_error("models:\n  m: {url: 'http://x/v1'}\nroutes:\n  r:\n    use: m\n    rules:\n      - if: {pattern: '(x'}\n        use: m\n",
               "bad.yaml:7: routes.r.rules[0].if.pattern: bad pattern");
  expect_error("models:\n  m: {url: 'http://x/v1'}\nkeys:\n  k: {secret: s, team: ghost}\n", "unknown team 'ghost'");
  expect_error("models:\n  m: {url: 'http://x/v1'}\nkeys:\n  k: {budget: 5}\n", "needs 'secret' or 'secret_env'");
  expect_error("models:\n  m: {url: 'http://x/v1'}\nkeys:\n  k: {secret: s, budget: -3}\n", "keys.k.budget");
  expect_error("models:\n  m: {url: 'http://x/v1'}\nstore: {kind: mongo}\n", "store.kind");
  expect_error("models:\n  m: {url: 'http://x/v1'}\ncache:\n  semantic: {threshold: 1.5}\n", "must be in (0, 1]");
  expect_error("models:\n  m: {url: 'http://x/v1'}\nkeys:\n  k: {secret_env: TERN_SURELY_UNSET_VAR}\n",
               "TERN_SURELY_UNSET_VAR is not set");
  expect_error("models: [oops\n", "bad.yaml:");  // YAML syntax error with its line
  expect_error("routes: {}\n", "models: needs at least one model");
  expect_error("models:\n  m: {url: 'http://x/v1'}\nroutes:\n  r: {use: m, compact: {keep_recent: 4}}\n",
               "routes.r.compact: needs 'context_tokens'");
  expect_error("models:\n  m: {url: 'http://x/v1'}\nroutes:\n  r: {use: m, compact: {model: ghost, context_tokens: 8192}}\n",
               "unknown model 'ghost'");
  expect_error("models:\n  m: {url: 'http://x/v1'}\nroutes:\n  r: {use: m, compact: {context_tokens: 8192, target: 0.9}}\n",
               "routes.r.compact.target");
  expect_error("models:\n  m: {url: 'http://x/v1'}\nroutes:\n  m: {use: m}\n", "a route and a model share the name");
  expect_error("models:\n  m: {url: 'http://x/v1'}\ndefault_route: elsewhere\n", "unknown route or model 'elsewhere'");
}

TEST(GatewayConfig, DetectsGatewayFiles) {
  EXPECT_TRUE(is_gateway_config_text("port: 1\nmodels:\n  m: {}\n"));
  EXPECT_FALSE(is_gateway_config_text("model: x.gguf\nport: 1\n"));
  EXPECT_FALSE(load_gateway_config("/nonexistent/gw.yaml").ok());
}

}  // namespace
}  // namespace tern::opt
