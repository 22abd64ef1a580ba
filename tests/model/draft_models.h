// Draft models for speculative decoding tests, written from the test model
// into a per-process temp directory (ctest runs test processes in parallel):
// a Q8_0 copy and a copy truncated to its first layers.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include "gguf/gguf.h"
#include "kernels/ggml_type.h"
#include "kernels/quant.h"

namespace tern::test {

inline std::string temp_path(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("tern_spec_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

// Copies `in` to `out`: keep_layers > 0 keeps only blocks [0, keep_layers);
// q8 re-encodes F32 matrices whose rows are a multiple of 32 as Q8_0.
inline Status write_draft_model(const std::string& in, const std::string& out, bool q8, int keep_layers) {
  auto opened = GgufFile::open(in);
  if (!opened.ok()) return opened.status();
  const GgufFile& f = **opened;
  const std::string arch(f.get_string("general.architecture").value_or("llama"));
  GgufWriter w;
  for (const auto& [k, v] : f.kvs())
    if (!(keep_layers > 0 && k == arch + ".block_count")) w.copy_kv(k, v);
  if (keep_layers > 0) w.set_u32(arch + ".block_count", static_cast<uint32_t>(keep_layers));
  for (const auto& t : f.tensors()) {
    if (keep_layers > 0 && t.name.rfind("blk.", 0) == 0 && std::stoi(t.name.substr(4)) >= keep_layers) continue;
    std::vector<int64_t> ne(t.ne, t.ne + std::max(1, t.n_dims));
    if (q8 && t.n_dims == 2 && t.type == GgmlType::F32 && t.ne[0] % 32 == 0) {
      const int64_t rows = t.ne[1], cols = t.ne[0];
      const int64_t rb = row_bytes(GgmlType::Q8_0, cols);
      std::vector<uint8_t> data(static_cast<size_t>(rb * rows));
      for (int64_t r = 0; r < rows; ++r)
        kernels::quantize_row(GgmlType::Q8_0, reinterpret_cast<const float*>(t.data) + r * cols, data.data() + r * rb, cols);
      w.add_tensor(t.name, GgmlType::Q8_0, ne, std::move(data));
    } else {
      w.add_tensor(t.name, t.type, ne, std::vector<uint8_t>(t.data, t.data + t.nbytes));
    }
  }
  return w.write(out);
}

}  // namespace tern::test
