#include "config/serve_options.h"

#include <cctype>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "config/gateway_config.h"

namespace tern::server {

namespace {

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

Result<int64_t> parse_int(const std::string& text, int64_t lo, int64_t hi) {
  std::string t = trim(text);
  if (t.empty()) return InvalidArgument("expected an integer, got nothing");
  size_t pos = 0;
  long long v = 0;
  try {
    v = std::stoll(t, &pos, 10);
  } catch (...) {
    return InvalidArgument("expected an integer, got '" + t + "'");
  }
  if (pos != t.size()) return InvalidArgument("expected an integer, got '" + t + "'");
  if (v < lo || v > hi)
    return InvalidArgument("must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + t);
  return static_cast<int64_t>(v);
}

Result<bool> parse_bool(const std::string& text) {
  std::string t = trim(text);
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (t == "true" || t == "1" || t == "yes" || t == "on") return true;
  if (t == "false" || t == "0" || t == "no" || t == "off") return false;
  return InvalidArgument("expected true or false, got '" + text + "'");
}

// Setters: each parses and validates one kind of value into one field.
template <typename T>
std::function<Status(ServeOptions&, const std::string&)> int_field(T ServeOptions::*field, int64_t lo, int64_t hi) {
  return [field, lo, hi](ServeOptions& o, const std::string& v) -> Status {
    auto r = parse_int(v, lo, hi);
    if (!r.ok()) return r.status();
    o.*field = static_cast<T>(*r);
    return Status::Ok();
  };
}

std::function<Status(ServeOptions&, const std::string&)> size_field(int64_t ServeOptions::*field, int64_t lo) {
  return [field, lo](ServeOptions& o, const std::string& v) -> Status {
    auto r = parse_size(v);
    if (!r.ok()) return r.status();
    if (*r < lo && *r != 0) return InvalidArgument("must be 0 or at least " + std::to_string(lo) + " bytes");
    o.*field = *r;
    return Status::Ok();
  };
}

std::function<Status(ServeOptions&, const std::string&)> string_field(std::string ServeOptions::*field) {
  return [field](ServeOptions& o, const std::string& v) -> Status {
    o.*field = v;
    return Status::Ok();
  };
}

std::function<Status(ServeOptions&, const std::string&)> bool_field(bool ServeOptions::*field) {
  return [field](ServeOptions& o, const std::string& v) -> Status {
    auto r = parse_bool(v);
    if (!r.ok()) return r.status();
    o.*field = *r;
    return Status::Ok();
  };
}

std::string normalise_key(std::string k) {
  k = trim(k);
  for (char& c : k) c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return k;
}

const OptionSpec* find_spec(const std::string& name) {
  for (const auto& s : serve_option_specs())
    if (s.name == name) return &s;
  return nullptr;
}

}  // namespace

std::string OptionSpec::env_var() const {
  std::string e = "TERN_";
  for (char c : name) e += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return e;
}

const std::vector<OptionSpec>& serve_option_specs() {
  using O = ServeOptions;
  static const std::vector<OptionSpec> specs = {
      {"model", "m", "", "GGUF model file to serve (required)", false, string_field(&O::model)},
      {"host", "", "127.0.0.1", "address to listen on", false, string_field(&O::host)},
      {"port", "", "8080", "TCP port (0: any free port)", false, int_field(&O::port, 0, 65535)},
      {"api-key", "", "", "require 'Authorization: Bearer KEY' on /v1/* (empty: no key)", true,
       string_field(&O::api_key)},
      {"alias", "", "", "model id clients use (default: the model's name)", false, string_field(&O::alias)},
      {"max-batch-tokens", "", "512", "tokens computed per engine step", false,
       int_field(&O::max_batch_tokens, 1, 1 << 20)},
      {"max-seqs", "", "64", "sequences running at once", false, int_field(&O::max_seqs, 1, 1 << 16)},
      {"max-queue", "", "1024", "waiting requests before 429 (queue full)", false,
       int_field(&O::max_queue, 1, 1 << 24)},
      {"kv-memory", "", "0", "KV-cache pool size, e.g. 512M, 4G (0: automatic)", false,
       size_field(&O::kv_memory, 1 << 16)},
      {"ctx-size", "", "0", "max tokens per sequence (0: the model's, capped at 8192)", false,
       int_field(&O::ctx_size, 0, 1 << 22)},
      {"threads", "", "0", "compute threads (0: all hardware threads)", false, int_field(&O::threads, 0, 4096)},
      {"http-threads", "", "2", "HTTP I/O threads", false, int_field(&O::http_threads, 1, 256)},
      {"max-body", "", "8M", "largest request body accepted (413 above)", false, size_field(&O::max_body, 1024)},
      {"prefix-caching", "", "true", "reuse the KV blocks of identical prompt prefixes", false,
       bool_field(&O::prefix_caching)},
      {"kv-type", "", "f16", "KV-cache element type: f16 or f32", false,
       [](O& o, const std::string& v) -> Status {
         if (v != "f16" && v != "f32") return InvalidArgument("must be f16 or f32, got '" + v + "'");
         o.kv_type = v;
         return Status::Ok();
       }},
      {"drain-timeout", "", "30", "seconds in-flight requests get to finish on SIGINT/SIGTERM", false,
       int_field(&O::drain_timeout, 0, 3600)},
      {"log-requests", "", "true", "one JSON line per request on stderr (never the prompt text)", false,
       bool_field(&O::log_requests)},
      {"spec", "", "", "speculative decoding for requests that do not choose: off, ngram, draft-model, self-spec "
       "(default: off, draft-model when --draft-model is set)", false,
       [](O& o, const std::string& v) -> Status {
         if (!v.empty() && v != "off" && v != "ngram" && v != "draft-model" && v != "self-spec")
           return InvalidArgument("must be off, ngram, draft-model or self-spec, got '" + v + "'");
         o.spec = v;
         return Status::Ok();
       }},
      {"draft-model", "", "", "draft GGUF for speculative decoding (same vocabulary as the model)", false,
       string_field(&O::draft_model)},
      {"draft-max", "", "8", "most draft tokens per sequence and step", false, int_field(&O::draft_max, 1, 32)},
      {"spec-adaptive", "", "true", "adapt draft lengths to acceptance and batch size (false: always draft-max)", false,
       bool_field(&O::spec_adaptive)},
      {"config", "", "", "config file: JSON object or 'key: value' lines with the option names, or a gateway YAML "
       "(models, routes, keys, cache: docs/gateway.md)", false,
       string_field(&O::config)},
  };
  return specs;
}

Result<int64_t> parse_size(const std::string& text) {
  std::string t = trim(text);
  size_t i = 0;
  while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i;
  if (i == 0) return InvalidArgument("expected a size such as 512M or 4G, got '" + text + "'");
  std::string unit = trim(t.substr(i));
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  int shift = 0;
  if (unit.empty() || unit == "b") shift = 0;
  else if (unit == "k" || unit == "kb" || unit == "kib") shift = 10;
  else if (unit == "m" || unit == "mb" || unit == "mib") shift = 20;
  else if (unit == "g" || unit == "gb" || unit == "gib") shift = 30;
  else if (unit == "t" || unit == "tb" || unit == "tib") shift = 40;
  else return InvalidArgument("unknown size unit '" + unit + "' (use K, M, G or T)");
  auto n = parse_int(t.substr(0, i), 0, std::numeric_limits<int64_t>::max() >> shift);
  if (!n.ok()) return InvalidArgument("size out of range: '" + text + "'");
  return *n << shift;
}

Result<std::map<std::string, std::string>> parse_config_text(const std::string& text) {
  std::map<std::string, std::string> out;
  std::string t = trim(text);
  if (!t.empty() && t[0] == '{') {
    auto j = nlohmann::json::parse(t, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return InvalidArgument("config: not a valid JSON object");
    for (const auto& [k, v] : j.items()) {
      if (v.is_string()) out[normalise_key(k)] = v.get<std::string>();
      else if (v.is_boolean() || v.is_number()) out[normalise_key(k)] = v.dump();
      else return InvalidArgument("config: '" + k + "' must be a string, number or boolean");
    }
    return out;
  }
  std::istringstream in(text);
  std::string line;
  for (int ln = 1; std::getline(in, line); ++ln) {
    size_t hash = line.find('#');
    if (hash != std::string::npos && (hash == 0 || std::isspace(static_cast<unsigned char>(line[hash - 1]))))
      line = line.substr(0, hash);
    if (trim(line).empty()) continue;
    size_t colon = line.find(':');
    if (colon == std::string::npos)
      return InvalidArgument("config line " + std::to_string(ln) + ": expected 'key: value'");
    std::string v = trim(line.substr(colon + 1));
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) v = v.substr(1, v.size() - 2);
    out[normalise_key(line.substr(0, colon))] = v;
  }
  return out;
}

Result<ServeOptions> resolve_serve_options(const std::map<std::string, std::string>& cli, const EnvLookup& env) {
  ServeOptions o;
  for (const auto& s : serve_option_specs()) {
    Status st = s.set(o, s.default_value);
    if (!st.ok()) return Internal("default of --" + s.name + ": " + st.message());
  }
  for (const auto& [k, v] : cli)
    if (!find_spec(k)) return InvalidArgument("unknown option --" + k);

  // The config file's path itself comes from the CLI or the environment.
  std::string config_path;
  if (auto it = cli.find("config"); it != cli.end()) config_path = it->second;
  else if (auto e = env("TERN_CONFIG")) config_path = *e;
  std::map<std::string, std::string> file;
  if (!config_path.empty()) {
    std::ifstream f(config_path);
    if (!f) return NotFound("cannot read config file '" + config_path + "'");
    std::stringstream ss;
    ss << f.rdbuf();
    if (opt::is_gateway_config_text(ss.str())) {
      // A gateway config (docs/gateway.md): its top-level scalars are serve options.
      auto gw = opt::parse_gateway_config(ss.str(), config_path);
      if (!gw.ok()) return gw.status();
      for (const auto& [k, v] : gw->server_options) file[normalise_key(k)] = v;
      o.gateway = true;
    } else {
      auto parsed = parse_config_text(ss.str());
      if (!parsed.ok()) return InvalidArgument(config_path + ": " + parsed.status().message());
      file = std::move(*parsed);
    }
    for (const auto& [k, v] : file) {
      if (!find_spec(k) || k == "config") return InvalidArgument(config_path + ": unknown option '" + k + "'");
    }
  }

  for (const auto& s : serve_option_specs()) {
    auto apply = [&](const std::string& v, const std::string& source) -> Status {
      Status st = s.set(o, v);
      if (!st.ok()) return InvalidArgument("--" + s.name + " (from " + source + "): " + st.message());
      return Status::Ok();
    };
    if (auto it = file.find(s.name); it != file.end()) TERN_RETURN_IF_ERROR(apply(it->second, config_path));
    if (auto e = env(s.env_var())) TERN_RETURN_IF_ERROR(apply(*e, s.env_var()));
    if (auto it = cli.find(s.name); it != cli.end()) TERN_RETURN_IF_ERROR(apply(it->second, "the command line"));
  }
  o.config = config_path;
  if (o.model.empty() && !o.gateway) return InvalidArgument("no model: pass -m MODEL (or set TERN_MODEL or 'model' in the config)");
  return o;
}

}  // namespace tern::server
