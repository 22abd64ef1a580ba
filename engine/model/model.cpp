#include "model/model.h"

#include "kernels/quant.h"

namespace tern {

Result<std::unique_ptr<Model>> Model::load(const std::string& path, bool repack_weights) {
  auto m = std::unique_ptr<Model>(new Model());
  m->path_ = path;
  m->repack_ = repack_weights;
  TERN_ASSIGN_OR_RETURN(m->gguf_, GgufFile::open(path));
  auto with_path = [&](const Status& st) { return Status(st.code(), path + ": " + st.message()); };
  auto cfg = ModelConfig::from_gguf(*m->gguf_);
  if (!cfg.ok()) return with_path(cfg.status());
  m->config_ = cfg.value();
  auto tok = Tokenizer::from_gguf(*m->gguf_);
  if (!tok.ok()) return with_path(tok.status());
  m->tokenizer_ = std::move(tok).value();
  if (m->config_.n_vocab != m->tokenizer_->n_vocab())
    return with_path(InvalidArgument("vocab_size disagrees with the tokenizer's token count"));
  if (auto t = m->gguf_->get_string("tokenizer.chat_template")) m->chat_template_ = std::string(*t);
  if (Status st = m->bind_weights(); !st.ok()) return with_path(st);
  return m;
}

Result<const float*> Model::vector_f32(const std::string& name, int64_t n) {
  const GgufTensor* t = gguf_->find_tensor(name);
  if (!t) return InvalidArgument("missing tensor '" + name + "'");
  if (t->n_elements() != n)
    return InvalidArgument("tensor '" + name + "' has " + std::to_string(t->n_elements()) + " elements, expected " +
                           std::to_string(n));
  if (t->type == GgmlType::F32 && reinterpret_cast<uintptr_t>(t->data) % alignof(float) == 0)
    return reinterpret_cast<const float*>(t->data);
  if (!type_traits(t->type).supported)
    return Unimplemented("tensor '" + name + "' has unsupported type " + std::string(type_traits(t->type).name));
  auto buf = std::make_unique<std::vector<float>>(static_cast<size_t>(n));
  kernels::dequantize_row(t->type, t->data, buf->data(), n);
  owned_.push_back(std::move(buf));
  return static_cast<const float*>(owned_.back()->data());
}

Result<kernels::WeightView> Model::matrix(const std::string& name, int64_t rows, int64_t cols) {
  const GgufTensor* t = gguf_->find_tensor(name);
  if (!t) return InvalidArgument("missing tensor '" + name + "'");
  if (t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != 1 || t->ne[3] != 1)
    return InvalidArgument("tensor '" + name + "' has shape [" + std::to_string(t->ne[0]) + ", " +
                           std::to_string(t->ne[1]) + "], expected [" + std::to_string(cols) + ", " +
                           std::to_string(rows) + "]");
  if (!type_traits(t->type).supported)
    return Unimplemented("tensor '" + name + "' has unsupported type " + std::string(type_traits(t->type).name) +
                         " (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)");
  return kernels::WeightView{t->type, t->data, rows, cols};
}

kernels::WeightView Model::maybe_repack(const kernels::WeightView& w) {
  if (!repack_ || !kernels::can_repack(w.type)) return w;
  const int64_t bytes = kernels::repacked_bytes(w.type, w.rows, w.cols);
  void* buf = std::aligned_alloc(64, static_cast<size_t>((bytes + 63) / 64 * 64));
  if (!buf) return w;  // keep the GGUF layout: slower, never wrong
  repacked_.emplace_back(buf);
  return kernels::repack(w, buf);
}

Status Model::bind_weights() {
  const ModelConfig& c = config_;
  ModelWeights& w = weights_;
  TERN_ASSIGN_OR_RETURN(w.token_embd, matrix("token_embd.weight", c.n_vocab, c.dim));
  TERN_ASSIGN_OR_RETURN(w.output_norm, vector_f32("output_norm.weight", c.dim));
  if (c.tied_output) {
    w.output = w.token_embd;
  } else {
    TERN_ASSIGN_OR_RETURN(w.output, matrix("output.weight", c.n_vocab, c.dim));
    w.output = maybe_repack(w.output);  // (a tied output stays in GGUF layout: embedding rows are read from it)
  }
  if (gguf_->find_tensor("rope_freqs.weight")) {
    TERN_ASSIGN_OR_RETURN(w.rope_freqs, vector_f32("rope_freqs.weight", c.n_rot / 2));
  }
  w.layers.resize(static_cast<size_t>(c.n_layers));
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights& L = w.layers[static_cast<size_t>(l)];
    const std::string p = "blk." + std::to_string(l) + ".";
    TERN_ASSIGN_OR_RETURN(L.attn_norm, vector_f32(p + "attn_norm.weight", c.dim));
    TERN_ASSIGN_OR_RETURN(L.wq, matrix(p + "attn_q.weight", c.q_dim(), c.dim));
    TERN_ASSIGN_OR_RETURN(L.wk, matrix(p + "attn_k.weight", c.kv_dim(), c.dim));
    TERN_ASSIGN_OR_RETURN(L.wv, matrix(p + "attn_v.weight", c.kv_dim(), c.dim));
    TERN_ASSIGN_OR_RETURN(L.wo, matrix(p + "attn_output.weight", c.dim, c.q_dim()));
    if (c.qkv_bias) {
      TERN_ASSIGN_OR_RETURN(L.bq, vector_f32(p + "attn_q.bias", c.q_dim()));
      TERN_ASSIGN_OR_RETURN(L.bk, vector_f32(p + "attn_k.bias", c.kv_dim()));
      TERN_ASSIGN_OR_RETURN(L.bv, vector_f32(p + "attn_v.bias", c.kv_dim()));
    }
    TERN_ASSIGN_OR_RETURN(L.ffn_norm, vector_f32(p + "ffn_norm.weight", c.dim));
    TERN_ASSIGN_OR_RETURN(L.w_gate, matrix(p + "ffn_gate.weight", c.ffn_dim, c.dim));
    TERN_ASSIGN_OR_RETURN(L.w_up, matrix(p + "ffn_up.weight", c.ffn_dim, c.dim));
    TERN_ASSIGN_OR_RETURN(L.w_down, matrix(p + "ffn_down.weight", c.dim, c.ffn_dim));
    for (kernels::WeightView* v : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) *v = maybe_repack(*v);
  }
  return Status::Ok();
}

uint64_t Model::weight_bytes_per_token() const {
  auto bytes = [](const kernels::WeightView& v) { return static_cast<uint64_t>(row_bytes(v.type, v.cols) * v.rows); };
  uint64_t total = bytes(weights_.output) + static_cast<uint64_t>(row_bytes(weights_.token_embd.type, config_.dim));
  for (const LayerWeights& L : weights_.layers)
    total += bytes(L.wq) + bytes(L.wk) + bytes(L.wv) + bytes(L.wo) + bytes(L.w_gate) + bytes(L.w_up) + bytes(L.w_down);
  return total;
}

}  // namespace tern
