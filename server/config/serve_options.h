// `tern serve` options, each declared once (serve_options.cpp): name, short
// flag, default, help, environment variable (TERN_ + NAME in upper snake
// case) and validation. The same name is the CLI flag (--max-batch-tokens),
// the config-file key (max-batch-tokens or max_batch_tokens) and, in upper
// snake case, the environment variable (TERN_MAX_BATCH_TOKENS).
//
// Precedence, lowest first: default < config file < environment < command line.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tern/status.h"

namespace tern::server {

struct ServeOptions {
  std::string model;
  std::string host;
  int32_t port = 0;
  std::string api_key;
  std::string alias;
  int32_t max_batch_tokens = 0;
  int32_t max_seqs = 0;
  int32_t max_queue = 0;
  int64_t kv_memory = 0;
  int32_t ctx_size = 0;
  int32_t threads = 0;
  int32_t http_threads = 0;
  int64_t max_body = 0;
  bool prefix_caching = true;
  std::string kv_type;
  int32_t drain_timeout = 0;
  bool log_requests = true;
  // Speculative decoding (docs/speculative.md).
  std::string spec;            // off, ngram, draft-model, self-spec ("" : off, or draft-model with a draft model)
  std::string draft_model;
  int32_t draft_max = 0;
  bool spec_adaptive = true;
  std::string config;
  bool gateway = false;  // the config file is a gateway config (models, routes, ...: docs/gateway.md)
};

struct OptionSpec {
  std::string name;            // "max-batch-tokens"
  std::string short_flag;      // "m" or ""
  std::string default_value;   // as text; "" for none
  std::string help;
  bool secret = false;         // never echoed (api-key)
  std::function<Status(ServeOptions&, const std::string&)> set;  // parses and validates

  std::string env_var() const;  // "TERN_MAX_BATCH_TOKENS"
};

const std::vector<OptionSpec>& serve_option_specs();

// "key: value" lines ('#' comments, optional quotes) or one JSON object.
// Keys are normalised to the option names (underscores become dashes).
Result<std::map<std::string, std::string>> parse_config_text(const std::string& text);

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// Resolves every option from the sources above. `cli`: option name → text of
// the options given on the command line. The config file is the `config`
// option (from the CLI or TERN_CONFIG). Errors name the option and source.
Result<ServeOptions> resolve_serve_options(const std::map<std::string, std::string>& cli, const EnvLookup& env);

// "512M", "2GiB", "1048576", "64k" → bytes (binary units).
Result<int64_t> parse_size(const std::string& text);

}  // namespace tern::server
