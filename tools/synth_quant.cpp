#include "synth_quant.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "kernels/quant.h"

namespace tern::cli {

namespace {
struct FileTypeRow {
  FileType ft;
  const char* name;
  uint32_t llama_ftype;
};
// llama_ftype values: ALL_F32 0, MOSTLY_F16 1, Q4_0 2, Q8_0 7, Q4_K_S 14, Q4_K_M 15, Q6_K 18, BF16 32.
constexpr FileTypeRow kFileTypes[] = {
    {FileType::kF32, "F32", 0},    {FileType::kF16, "F16", 1},   {FileType::kBF16, "BF16", 32},
    {FileType::kQ8_0, "Q8_0", 7},  {FileType::kQ4_0, "Q4_0", 2}, {FileType::kQ4_K, "Q4_K", 14},
    {FileType::kQ6_K, "Q6_K", 18}, {FileType::kQ4_K_M, "Q4_K_M", 15},
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

GgmlType base_type(FileType ft) {
  switch (ft) {
    case FileType::kF32: return GgmlType::F32;
    case FileType::kF16: return GgmlType::F16;
    case FileType::kBF16: return GgmlType::BF16;
    case FileType::kQ8_0: return GgmlType::Q8_0;
    case FileType::kQ4_0: return GgmlType::Q4_0;
    case FileType::kQ4_K: case FileType::kQ4_K_M: return GgmlType::Q4_K;
    case FileType::kQ6_K: return GgmlType::Q6_K;
  }
  return GgmlType::F32;
}

bool is_quantized(GgmlType t) { return type_traits(t).block_elems > 1; }
}  // namespace

std::optional<FileType> parse_file_type(const std::string& s) {
  std::string up = s;
  std::transform(up.begin(), up.end(), up.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  for (const auto& r : kFileTypes)
    if (up == r.name) return r.ft;
  return std::nullopt;
}

const char* file_type_name(FileType t) {
  for (const auto& r : kFileTypes)
    if (r.ft == t) return r.name;
  return "?";
}

const char* file_type_list() { return "F32|F16|BF16|Q8_0|Q4_0|Q4_K|Q6_K|Q4_K_M"; }

uint32_t llama_ftype(FileType t) {
  for (const auto& r : kFileTypes)
    if (r.ft == t) return r.llama_ftype;
  return 0;
}

int layer_of(const std::string& name) {
  int l = -1;
  if (std::sscanf(name.c_str(), "blk.%d.", &l) != 1) return -1;
  return l;
}

bool use_more_bits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

GgmlType plan_tensor_type(FileType ft, const std::string& name, int n_dims, int64_t ne0, int n_layers) {
  if (n_dims < 2 || !ends_with(name, ".weight")) return GgmlType::F32;
  GgmlType t = base_type(ft);
  if (!is_quantized(t)) return t;
  const int layer = layer_of(name);
  if (name == "output.weight") {
    if (ne0 % kernels::kQKK != 0) t = GgmlType::Q8_0;
    else if (t != GgmlType::Q8_0) t = GgmlType::Q6_K;
  } else if (ft == FileType::kQ4_K_M && layer >= 0 &&
             (ends_with(name, "attn_v.weight") || ends_with(name, "ffn_down.weight"))) {
    if (use_more_bits(layer, n_layers)) t = GgmlType::Q6_K;
  }
  if (ne0 % type_traits(t).block_elems != 0) {
    // llama.cpp: Q4_K -> Q5_0, Q6_K -> Q8_0; tern writes Q8_0 for both.
    t = GgmlType::Q8_0;
    if (ne0 % type_traits(t).block_elems != 0) t = GgmlType::F16;
  }
  return t;
}

std::vector<uint8_t> quantize_rows(GgmlType type, const float* src, int64_t rows, int64_t ne0, ThreadPool& pool) {
  const int64_t rb = row_bytes(type, ne0);
  std::vector<uint8_t> out(static_cast<size_t>(rb * rows));
  pool.parallel_for(rows, 1, [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) kernels::quantize_row(type, src + r * ne0, out.data() + r * rb, ne0);
  });
  return out;
}

}  // namespace tern::cli
