#include "model/model_config.h"

#include "gguf/gguf.h"

namespace tern {

Result<ModelConfig> ModelConfig::from_gguf(const GgufFile& f) {
  ModelConfig c;
  auto arch = f.get_string("general.architecture");
  if (!arch) return InvalidArgument("missing general.architecture");
  c.arch_name = std::string(*arch);
  if (c.arch_name == "llama" || c.arch_name == "mistral") {
    c.arch = Arch::kLlama;
  } else if (c.arch_name == "qwen2") {
    c.arch = Arch::kQwen2;
    c.rope_neox = true;
    c.qkv_bias = true;
  } else {
    return Unimplemented("architecture '" + c.arch_name + "' is not supported (supported: llama, qwen2)");
  }
  if (auto n = f.get_string("general.name")) c.name = std::string(*n);

  const std::string p = c.arch_name + ".";
  auto req = [&](const std::string& key, int32_t& out, int64_t lo, int64_t hi) -> Status {
    auto v = f.get_int(p + key);
    if (!v) return InvalidArgument("missing " + p + key);
    if (*v < lo || *v > hi) return InvalidArgument(p + key + " = " + std::to_string(*v) + " is out of range");
    out = static_cast<int32_t>(*v);
    return Status::Ok();
  };
  TERN_RETURN_IF_ERROR(req("embedding_length", c.dim, 1, 1 << 16));
  TERN_RETURN_IF_ERROR(req("block_count", c.n_layers, 1, 1024));
  TERN_RETURN_IF_ERROR(req("attention.head_count", c.n_heads, 1, 1024));
  TERN_RETURN_IF_ERROR(req("feed_forward_length", c.ffn_dim, 1, 1 << 20));
  c.n_kv_heads = c.n_heads;
  if (f.find(p + "attention.head_count_kv")) TERN_RETURN_IF_ERROR(req("attention.head_count_kv", c.n_kv_heads, 1, 1024));
  if (c.n_heads % c.n_kv_heads != 0) return InvalidArgument("head_count is not a multiple of head_count_kv");
  c.head_dim = c.dim / c.n_heads;
  if (f.find(p + "attention.key_length")) TERN_RETURN_IF_ERROR(req("attention.key_length", c.head_dim, 1, 4096));
  if (c.head_dim % 2 != 0) return InvalidArgument("head dimension must be even");
  c.n_ctx_train = 4096;
  if (f.find(p + "context_length")) TERN_RETURN_IF_ERROR(req("context_length", c.n_ctx_train, 1, 1 << 24));
  c.n_rot = c.head_dim;
  if (f.find(p + "rope.dimension_count")) TERN_RETURN_IF_ERROR(req("rope.dimension_count", c.n_rot, 2, c.head_dim));
  if (c.n_rot % 2 != 0) return InvalidArgument("rope.dimension_count must be even");
  if (auto eps = f.get_float(p + "attention.layer_norm_rms_epsilon")) c.rms_eps = static_cast<float>(*eps);
  if (auto base = f.get_float(p + "rope.freq_base")) c.rope_base = static_cast<float>(*base);
  if (!(c.rms_eps > 0) || !(c.rope_base > 0)) return InvalidArgument("invalid rms epsilon or rope base");
  auto scaling = f.get_string(p + "rope.scaling.type");
  if (auto factor = f.get_float(p + "rope.scaling.factor"); factor && (!scaling || *scaling == "linear")) {
    if (!(*factor > 0)) return InvalidArgument("invalid rope.scaling.factor");
    c.rope_freq_scale = static_cast<float>(1.0 / *factor);
  } else if (auto scale = f.get_float(p + "rope.scale_linear")) {
    if (!(*scale > 0)) return InvalidArgument("invalid rope.scale_linear");
    c.rope_freq_scale = static_cast<float>(1.0 / *scale);
  }
  if (scaling && *scaling != "linear" && *scaling != "none")
    return Unimplemented("rope scaling type '" + std::string(*scaling) + "' is not supported");

  if (const auto* toks = f.get_string_array("tokenizer.ggml.tokens")) c.n_vocab = static_cast<int32_t>(toks->size());
  if (f.find(p + "vocab_size")) TERN_RETURN_IF_ERROR(req("vocab_size", c.n_vocab, 1, 1 << 22));
  c.tied_output = f.find_tensor("output.weight") == nullptr;
  return c;
}

}  // namespace tern
