// cache/bytes.h — little-endian length-prefixed encoding helpers for cache
// entries (internal to tern_cache).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tern::cache::bytes {

inline void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}
inline void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}
inline void put_str(std::string& out, std::string_view s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

// Reads what the put_* functions wrote; ok turns false (and stays false) on
// the first read past the end.
struct Reader {
  std::string_view in;
  size_t pos = 0;
  bool ok = true;

  uint64_t u(int n) {
    if (!ok || pos + static_cast<size_t>(n) > in.size()) {
      ok = false;
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(in[pos + i])) << (8 * i);
    pos += static_cast<size_t>(n);
    return v;
  }
  std::string_view view() {
    const uint64_t n = u(4);
    if (!ok || n > in.size() - pos) {
      ok = false;
      return {};
    }
    std::string_view s = in.substr(pos, n);
    pos += n;
    return s;
  }
  std::string str() { return std::string(view()); }
};

}  // namespace tern::cache::bytes
