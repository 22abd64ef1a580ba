// cache/canonical.cpp — canonical JSON text and the exact-cache key.
#include <openssl/evp.h>

#include <cmath>
#include <set>

#include "cache/exact_cache.h"

namespace tern::cache {
namespace {

constexpr double kMaxExactInt = 9007199254740992.0;  // 2^53

void write_string(const std::string& s, std::string& out) {
  out += Json(s).dump(-1, ' ', false, Json::error_handler_t::replace);
}

void write_canonical(const Json& v, std::string& out) {
  switch (v.type()) {
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {  // nlohmann::json keeps keys sorted (std::map)
        if (!first) out += ',';
        first = false;
        write_string(it.key(), out);
        out += ':';
        write_canonical(it.value(), out);
      }
      out += '}';
      break;
    }
    case Json::value_t::array: {
      out += '[';
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) out += ',';
        write_canonical(v[i], out);
      }
      out += ']';
      break;
    }
    case Json::value_t::number_float: {
      const double d = v.get<double>();
      if (!std::isfinite(d)) {
        out += "null";
      } else if (d == std::floor(d) && std::fabs(d) <= kMaxExactInt) {
        out += std::to_string(static_cast<int64_t>(d));  // 1.0, 1e0 -> 1; -0.0 -> 0
      } else {
        out += Json(d).dump();  // shortest round-trip form
      }
      break;
    }
    case Json::value_t::string:
      write_string(v.get_ref<const std::string&>(), out);
      break;
    default:  // integers, booleans, null
      out += v.dump();
  }
}

}  // namespace

std::string canonical_json(const Json& value) {
  std::string out;
  write_canonical(value, out);
  return out;
}

const std::vector<std::string>& ignored_request_fields() {
  static const std::vector<std::string> fields = {"stream", "stream_options", "user", "metadata",
                                                  "store", "cache", "tern"};
  return fields;
}

Result<CacheKey> make_cache_key(std::string_view ns, const Json& request) {
  if (ns.empty()) return InvalidArgument("cache namespace is empty");
  if (ns.find('/') != std::string_view::npos) return InvalidArgument("cache namespace must not contain '/'");
  if (!request.is_object()) return InvalidArgument("cache key: the request is not a JSON object");
  auto m = request.find("model");
  if (m == request.end() || !m->is_string() || m->get_ref<const std::string&>().empty())
    return InvalidArgument("cache key: the request has no model");
  Json body = request;
  for (const std::string& f : ignored_request_fields()) body.erase(f);
  std::string text(ns);
  text += '\n';
  text += canonical_json(body);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr) != 1 || len < 16)
    return Internal("cache key: SHA-256 failed");
  static const char* hex = "0123456789abcdef";
  CacheKey key;
  key.ns.assign(ns);
  key.model = m->get<std::string>();
  for (int i = 0; i < 16; ++i) {
    key.digest += hex[md[i] >> 4];
    key.digest += hex[md[i] & 15];
  }
  return key;
}

}  // namespace tern::cache
