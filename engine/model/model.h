// Model: a loaded GGUF Llama-family model — config, weights (views into the
// memory-mapped file), tokenizer and chat template. Immutable after load and
// safe to share between threads; inference state lives in ModelRunner/KvPool.
#pragma once

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "kernels/matmul.h"
#include "model/model_config.h"
#include "tern/status.h"
#include "tokenizer/tokenizer.h"

namespace tern {

struct LayerWeights {
  const float* attn_norm = nullptr;  // [dim]
  kernels::WeightView wq, wk, wv, wo;  // [q_dim, dim] [kv_dim, dim] [kv_dim, dim] [dim, q_dim]
  const float* bq = nullptr;         // [q_dim]   qwen2 only
  const float* bk = nullptr;         // [kv_dim]
  const float* bv = nullptr;         // [kv_dim]
  const float* ffn_norm = nullptr;   // [dim]
  kernels::WeightView w_gate, w_up, w_down;  // [ffn, dim] [ffn, dim] [dim, ffn]
};

struct ModelWeights {
  kernels::WeightView token_embd;    // [vocab, dim]
  const float* output_norm = nullptr;  // [dim]
  kernels::WeightView output;        // [vocab, dim] (token_embd when tied)
  const float* rope_freqs = nullptr; // [n_rot / 2] or null (Llama 3.1 frequency factors)
  std::vector<LayerWeights> layers;
};

class Model {
 public:
  // Open, validate and map a GGUF model. Errors are one line and name the file.
  // repack_weights: copy matrices the active kernels can run faster in their
  // own layout (kernels::can_repack) into that layout at load time; the
  // mapped GGUF pages of those matrices are then never read again.
  static Result<std::unique_ptr<Model>> load(const std::string& path, bool repack_weights = true);

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const GgufFile& gguf() const { return *gguf_; }
  const std::string& path() const { return path_; }
  // The GGUF's tokenizer.chat_template, or empty when the file has none.
  const std::string& chat_template() const { return chat_template_; }
  // Bytes of weights read per decoded token (every matrix once, one embedding row).
  uint64_t weight_bytes_per_token() const;

 private:
  Status bind_weights();
  // Returns a pointer to f32 data for a 1-D tensor, converting into owned
  // storage when the file stores it in another type.
  Result<const float*> vector_f32(const std::string& name, int64_t n);
  Result<kernels::WeightView> matrix(const std::string& name, int64_t rows, int64_t cols);
  kernels::WeightView maybe_repack(const kernels::WeightView& w);

  std::string path_;
  std::unique_ptr<GgufFile> gguf_;
  ModelConfig config_;
  ModelWeights weights_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::string chat_template_;
  std::vector<std::unique_ptr<std::vector<float>>> owned_;
  struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
  };
  std::vector<std::unique_ptr<void, FreeDeleter>> repacked_;
  bool repack_ = true;
};

}  // namespace tern
