// cache/entry.cpp — the binary encoding of a CachedResponse in the store:
// "TEC1", then little-endian u32 lengths / i64 numbers, so entries written by
// one instance decode on another whatever the host byte order.
#include <cstring>

#include "cache/bytes.h"
#include "cache/exact_cache.h"

namespace tern::cache {
namespace {

using bytes::put_str;
using bytes::put_u32;
using bytes::put_u64;
using bytes::Reader;

constexpr char kMagic[4] = {'T', 'E', 'C', '1'};

}  // namespace

std::string encode_entry(const CachedResponse& r) {
  std::string out(kMagic, 4);
  size_t size = 64 + r.body.size() + r.model.size() + r.route.size();
  for (const std::string& c : r.chunks) size += 4 + c.size();
  out.reserve(size);
  put_str(out, r.body);
  put_str(out, r.model);
  put_str(out, r.route);
  put_u64(out, static_cast<uint64_t>(r.usage.prompt_tokens));
  put_u64(out, static_cast<uint64_t>(r.usage.completion_tokens));
  put_u64(out, static_cast<uint64_t>(r.usage.cached_tokens));
  put_u64(out, static_cast<uint64_t>(r.created_ms));
  put_u64(out, static_cast<uint64_t>(r.cost_pico));
  put_u32(out, static_cast<uint32_t>(r.chunks.size()));
  for (const std::string& c : r.chunks) put_str(out, c);
  return out;
}

Result<CachedResponse> decode_entry(std::string_view bytes) {
  if (bytes.size() < 4 || std::memcmp(bytes.data(), kMagic, 4) != 0)
    return InvalidArgument("cache entry: unknown format");
  Reader rd{bytes, 4};
  CachedResponse r;
  r.body = rd.str();
  r.model = rd.str();
  r.route = rd.str();
  r.usage.prompt_tokens = static_cast<int64_t>(rd.u(8));
  r.usage.completion_tokens = static_cast<int64_t>(rd.u(8));
  r.usage.cached_tokens = static_cast<int64_t>(rd.u(8));
  r.created_ms = static_cast<int64_t>(rd.u(8));
  r.cost_pico = static_cast<int64_t>(rd.u(8));
  const uint64_t n = rd.u(4);
  if (!rd.ok || n > bytes.size()) return InvalidArgument("cache entry: truncated");
  r.chunks.reserve(n);
  for (uint64_t i = 0; i < n && rd.ok; ++i) r.chunks.push_back(rd.str());
  if (!rd.ok || rd.pos != bytes.size()) return InvalidArgument("cache entry: truncated");
  return r;
}

}  // namespace tern::cache
