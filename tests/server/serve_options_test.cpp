// tern serve options: defaults, config file (JSON and key: value), the
// environment and the command line, in that order of precedence, and the
// validation messages.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "config/serve_options.h"

namespace tern::server {
namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ServeOptions, Defaults) {
  auto o = resolve_serve_options({{"model", "m.gguf"}}, env_of({}));
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o->host, "127.0.0.1");
  EXPECT_EQ(o->port, 8080);
  EXPECT_EQ(o->max_batch_tokens, 512);
  EXPECT_EQ(o->max_body, 8 << 20);
  EXPECT_TRUE(o->prefix_caching);
  EXPECT_EQ(o->kv_type, "f16");
}

TEST(ServeOptions, EveryOptionHasEnvAndHelp) {
  for (const auto& s : serve_option_specs()) {
    EXPECT_FALSE(s.help.empty()) << s.name;
    EXPECT_EQ(s.env_var().rfind("TERN_", 0), 0u);
  }
  EXPECT_EQ(serve_option_specs()[0].env_var(), "TERN_MODEL");
}

TEST(ServeOptions, Precedence) {
  std::string path = ::testing::TempDir() + "/serve_opts.yaml";
  {
    std::ofstream f(path);
    f << "# a comment\nmodel: from_file.gguf\nport: 9000\nmax_batch_tokens: 128\napi-key: \"k1\"\n";
  }
  auto o = resolve_serve_options({{"config", path}, {"port", "9002"}},
                                 env_of({{"TERN_PORT", "9001"}, {"TERN_MAX_BATCH_TOKENS", "256"}}));
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o->model, "from_file.gguf");
  EXPECT_EQ(o->port, 9002);              // CLI beats env beats file
  EXPECT_EQ(o->max_batch_tokens, 256);   // env beats file
  EXPECT_EQ(o->api_key, "k1");
  std::remove(path.c_str());
}

TEST(ServeOptions, JsonConfig) {
  auto m = parse_config_text(R"({"model":"a.gguf","port":81,"prefix_caching":false})");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)["port"], "81");
  EXPECT_EQ((*m)["prefix-caching"], "false");
}

TEST(ServeOptions, ValidationNamesOptionAndSource) {
  auto o = resolve_serve_options({{"model", "m"}}, env_of({{"TERN_PORT", "70000"}}));
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.status().message().find("--port"), std::string::npos);
  EXPECT_NE(o.status().message().find("TERN_PORT"), std::string::npos);
  EXPECT_FALSE(resolve_serve_options({{"model", "m"}, {"kv-type", "q8"}}, env_of({})).ok());
  EXPECT_FALSE(resolve_serve_options({{"model", "m"}, {"max-body", "12X"}}, env_of({})).ok());
  EXPECT_FALSE(resolve_serve_options({}, env_of({})).ok());  // no model
  EXPECT_FALSE(resolve_serve_options({{"model", "m"}, {"config", "/nonexistent/x.yaml"}}, env_of({})).ok());
}

TEST(ServeOptions, GatewayConfigFile) {
  // A config with a models: section is a gateway config (docs/gateway.md): no
  // -m needed, its top-level scalars are serve options, its errors have lines.
  std::string path = ::testing::TempDir() + "/serve_gw.yaml";
  {
    std::ofstream f(path);
    f << "port: 9100\nhttp_threads: 3\nmodels:\n  up: {url: 'http://127.0.0.1:1/v1'}\n";
  }
  auto o = resolve_serve_options({{"config", path}}, env_of({}));
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_TRUE(o->gateway);
  EXPECT_EQ(o->port, 9100);
  EXPECT_EQ(o->http_threads, 3);
  EXPECT_TRUE(o->model.empty());
  {
    std::ofstream f(path);
    f << "port: 9100\nmodels:\n  up: {url: 'http://127.0.0.1:1/v1', retries: many}\n";
  }
  auto bad = resolve_serve_options({{"config", path}}, env_of({}));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(":3: models.up.retries"), std::string::npos) << bad.status().message();
  {
    std::ofstream f(path);
    f << "port: 91000\nmodels:\n  up: {url: 'http://127.0.0.1:1/v1'}\n";
  }
  EXPECT_FALSE(resolve_serve_options({{"config", path}}, env_of({})).ok());  // serve options still validated
  std::remove(path.c_str());
}

TEST(ServeOptions, Sizes) {
  EXPECT_EQ(parse_size("1024").value(), 1024);
  EXPECT_EQ(parse_size("64k").value(), 64 << 10);
  EXPECT_EQ(parse_size("512M").value(), 512ll << 20);
  EXPECT_EQ(parse_size("2GiB").value(), 2ll << 30);
  EXPECT_FALSE(parse_size("x").ok());
  EXPECT_FALSE(parse_size("5Q").ok());
}

}  // namespace
}  // namespace tern::server
