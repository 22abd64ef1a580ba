// Small synthetic Llama/Qwen2 models written with GgufWriter: random
// weights, real shapes, the vocabulary of a given GGUF (the test model's).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "kernels/ggml_type.h"
#include "kernels/quant.h"

namespace tern::test {

struct SynthSpec {
  std::string arch = "llama";
  int dim = 256, ffn = 512, layers = 2, heads = 4, kv_heads = 2, ctx = 256;
  GgmlType type = GgmlType::F32;
  std::string skip_tensor;     // leave this tensor out
  std::string misshape_tensor; // give this tensor a wrong shape
};

inline std::vector<uint8_t> encode_row(GgmlType t, const std::vector<float>& v) {
  std::vector<uint8_t> out(static_cast<size_t>(row_bytes(t, static_cast<int64_t>(v.size()))));
  kernels::quantize_row(t, v.data(), out.data(), static_cast<int64_t>(v.size()));
  return out;
}

// Writes the model to a temp file and returns its path.
inline std::string write_synthetic_model(const SynthSpec& s, const GgufFile& vocab) {
  GgufWriter w;
  w.set_string("general.architecture", s.arch);
  w.set_string("general.name", "synthetic-" + s.arch);
  const std::string a = s.arch + ".";
  w.set_u32(a + "context_length", static_cast<uint32_t>(s.ctx));
  w.set_u32(a + "embedding_length", static_cast<uint32_t>(s.dim));
  w.set_u32(a + "feed_forward_length", static_cast<uint32_t>(s.ffn));
  w.set_u32(a + "block_count", static_cast<uint32_t>(s.layers));
  w.set_u32(a + "attention.head_count", static_cast<uint32_t>(s.heads));
  w.set_u32(a + "attention.head_count_kv", static_cast<uint32_t>(s.kv_heads));
  w.set_f32(a + "attention.layer_norm_rms_epsilon", 1e-6f);
  w.set_f32(a + "rope.freq_base", 10000.0f);
  for (const auto& [k, v] : vocab.kvs())
    if (k.rfind("tokenizer.", 0) == 0) w.copy_kv(k, v);
  const int vocab_n = static_cast<int>(vocab.get_string_array("tokenizer.ggml.tokens")->size());
  std::mt19937 rng(42);
  auto add = [&](const std::string& name, int64_t rows, int64_t cols, bool matrix) {
    if (name == s.skip_tensor) return;
    std::normal_distribution<float> d(0.0f, matrix ? 1.0f / std::sqrt(static_cast<float>(cols)) : 0.02f);
    std::vector<float> v(static_cast<size_t>(rows * cols));
    for (auto& x : v) x = matrix ? d(rng) : 1.0f + d(rng);
    const GgmlType t = matrix ? s.type : GgmlType::F32;
    std::vector<int64_t> ne = rows == 1 ? std::vector<int64_t>{cols} : std::vector<int64_t>{cols, rows};
    if (name == s.misshape_tensor) ne = {cols, rows + 1}, v.resize(static_cast<size_t>((rows + 1) * cols));
    w.add_tensor(name, t, ne, encode_row(t, v));
  };
  const int hd = s.dim / s.heads, kvd = hd * s.kv_heads;
  add("token_embd.weight", vocab_n, s.dim, true);
  add("output_norm.weight", 1, s.dim, false);
  add("output.weight", vocab_n, s.dim, true);
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", 1, s.dim, false);
    add(p + "attn_q.weight", s.dim, s.dim, true);
    add(p + "attn_k.weight", kvd, s.dim, true);
    add(p + "attn_v.weight", kvd, s.dim, true);
    add(p + "attn_output.weight", s.dim, s.dim, true);
    if (s.arch == "qwen2") {
      add(p + "attn_q.bias", 1, s.dim, false);
      add(p + "attn_k.bias", 1, kvd, false);
      add(p + "attn_v.bias", 1, kvd, false);
    }
    add(p + "ffn_norm.weight", 1, s.dim, false);
    add(p + "ffn_gate.weight", s.ffn, s.dim, true);
    add(p + "ffn_up.weight", s.ffn, s.dim, true);
    add(p + "ffn_down.weight", s.dim, s.ffn, true);
  }
  // Per process: ctest runs this file's tests in parallel processes.
  const std::string path = ::testing::TempDir() + "tern-synth-" + std::to_string(::getpid()) + "-" + s.arch + "-hd" + std::to_string(s.dim / s.heads) + "-" +
                           std::string(type_traits(s.type).name) + s.skip_tensor + s.misshape_tensor + ".gguf";
  EXPECT_TRUE(w.write(path).ok());
  return path;
}

}  // namespace tern::test
