// ModelConfig: the hyper-parameters of a Llama-family model, read from GGUF
// metadata ("<arch>.embedding_length" etc.) and validated.
#pragma once

#include <cstdint>
#include <string>

#include "tern/status.h"

namespace tern {

class GgufFile;

enum class Arch { kLlama, kQwen2 };

struct ModelConfig {
  Arch arch = Arch::kLlama;
  std::string arch_name;      // as in general.architecture
  std::string name;           // general.name, if any
  int32_t n_vocab = 0;
  int32_t dim = 0;            // embedding length
  int32_t n_layers = 0;
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;     // GQA: n_heads % n_kv_heads == 0
  int32_t head_dim = 0;       // dim / n_heads unless the file says otherwise
  int32_t ffn_dim = 0;
  int32_t n_ctx_train = 0;
  float rms_eps = 1e-5f;
  int32_t n_rot = 0;          // rotary dims per head (<= head_dim)
  float rope_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / linear scaling factor
  bool rope_neox = false;     // qwen2: rotate halves instead of adjacent pairs
  bool qkv_bias = false;      // qwen2
  bool tied_output = false;   // no output.weight: logits use token_embd

  int32_t q_dim() const { return n_heads * head_dim; }
  int32_t kv_dim() const { return n_kv_heads * head_dim; }

  static Result<ModelConfig> from_gguf(const GgufFile& f);
};

}  // namespace tern
