// tern synth — a GGUF model with random weights at real shapes, for kernel
// and engine benchmarks (and llama.cpp comparisons on the same file).
//
// Weights are N(0, 1/fan_in) (fan_in = row length), so every matrix maps a
// unit-RMS input to a unit-RMS output and activations stay O(1) through the
// layers; norms are 1, qwen2 biases N(0, 0.02^2). Each row draws from its own
// generator seeded by (seed, tensor, row): the file is a pure function of the
// flags, whatever the thread count. Metadata keys follow llama.cpp's
// convert_hf_to_gguf.py; the tokenizer (every tokenizer.* key) is copied
// verbatim from --vocab-from, or a plain SentencePiece vocabulary of --vocab
// tokens is generated (<unk>, <s>, </s>, 256 byte tokens, then filler pieces).
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "commands.h"
#include "gguf/gguf.h"
#include "synth_copier.h"
#include "synth_quant.h"

namespace tern::cli {

namespace {

uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t hash_name(const std::string& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Fills `n` floats with N(0, std^2): xorshift-multiply uniforms, Box-Muller pairs.
void fill_normal(float* out, int64_t n, float stddev, uint64_t seed) {
  uint64_t s = seed;
  for (int64_t i = 0; i < n; i += 2) {
    const double u1 = (static_cast<double>(splitmix64(s) >> 11) + 1.0) * 0x1p-53;  // (0, 1]
    const double u2 = static_cast<double>(splitmix64(s) >> 11) * 0x1p-53;
    const double r = std::sqrt(-2.0 * std::log(u1)) * stddev;
    out[i] = static_cast<float>(r * std::cos(2.0 * M_PI * u2));
    if (i + 1 < n) out[i + 1] = static_cast<float>(r * std::sin(2.0 * M_PI * u2));
  }
}

struct SynthArgs {
  std::string arch = "llama";
  int dim = 768, ffn = 2048, layers = 12, heads = 12, kv_heads = 0;
  std::string vocab_from;
  int vocab = 0;
  int ctx = 2048;
  std::string type = "F32";
  std::string out;
  uint64_t seed = 42;
  int threads = 0;
  bool copier = false;
};

std::string default_vocab() {
  const char* env = std::getenv("TERN_ASSETS");
  const std::string assets = env && *env ? env : "../shared";
  return assets + "/tokenizers/ggml-vocab-llama-spm.gguf";
}

// A SentencePiece ("llama") vocabulary of n tokens: 3 control tokens, the 256
// byte tokens, then distinct filler pieces.
void write_plain_vocab(GgufWriter& w, int n) {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};
  char buf[16];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    tokens.emplace_back(buf);
    types.push_back(6);
  }
  for (int i = static_cast<int>(tokens.size()); i < n; ++i) {
    tokens.push_back("\xe2\x96\x81t" + std::to_string(i));  // "▁t<i>"
    types.push_back(1);
  }
  std::vector<float> scores(tokens.size());
  for (size_t i = 0; i < scores.size(); ++i) scores[i] = -static_cast<float>(i);
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_f32_array("tokenizer.ggml.scores", scores);
  w.set_i32_array("tokenizer.ggml.token_type", types);
  w.set_u32("tokenizer.ggml.unknown_token_id", 0);
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  w.set_bool("tokenizer.ggml.add_eos_token", false);
}

}  // namespace

int synth_main(int argc, char** argv) {
  CLI::App app{"Write a GGUF model with random weights at real shapes", "tern synth"};
  SynthArgs a;
  app.add_option("--arch", a.arch, "architecture")->check(CLI::IsMember({"llama", "qwen2"}))->capture_default_str();
  app.add_option("--dim", a.dim, "embedding length")->check(CLI::Range(2, 1 << 16))->capture_default_str();
  app.add_option("--ffn", a.ffn, "feed-forward length")->check(CLI::Range(1, 1 << 20))->capture_default_str();
  app.add_option("--layers", a.layers, "blocks")->check(CLI::Range(1, 1024))->capture_default_str();
  app.add_option("--heads", a.heads, "attention heads")->check(CLI::Range(1, 1024))->capture_default_str();
  app.add_option("--kv-heads", a.kv_heads, "key/value heads (default: --heads)")->check(CLI::Range(0, 1024));
  app.add_option("--vocab-from", a.vocab_from, "GGUF whose tokenizer.* keys are copied (default: $TERN_ASSETS/tokenizers/ggml-vocab-llama-spm.gguf)");
  app.add_option("--vocab", a.vocab, "generate a plain SentencePiece vocabulary of N tokens instead of copying one")
      ->check(CLI::Range(259, 1 << 22));
  app.add_option("--ctx", a.ctx, "context_length")->check(CLI::Range(1, 1 << 24))->capture_default_str();
  app.add_option("--type", a.type, std::string("weight type: ") + file_type_list())->capture_default_str();
  app.add_option("-o,--output", a.out, "output GGUF")->required();
  app.add_option("--seed", a.seed, "random seed")->capture_default_str();
  app.add_option("-t,--threads", a.threads, "threads (0: all cores)")->capture_default_str();
  app.add_flag("--copier", a.copier,
               "weights that copy their input (an induction circuit in blocks 0-1, the rest near zero): "
               "a target that prompt lookup and draft models can predict, for speculative-decoding benchmarks");
  CLI11_PARSE(app, argc, argv);

  const auto ft = parse_file_type(a.type);
  if (!ft) {
    std::fprintf(stderr, "tern synth: unknown --type '%s' (use %s)\n", a.type.c_str(), file_type_list());
    return 2;
  }
  if (a.kv_heads == 0) a.kv_heads = a.heads;
  if (a.dim % a.heads != 0 || a.heads % a.kv_heads != 0 || (a.dim / a.heads) % 2 != 0) {
    std::fprintf(stderr, "tern synth: --dim must be a multiple of --heads with an even head size, and --heads a multiple of --kv-heads\n");
    return 2;
  }
  if (a.vocab > 0 && !a.vocab_from.empty()) {
    std::fprintf(stderr, "tern synth: give --vocab or --vocab-from, not both\n");
    return 2;
  }

  const auto t0 = std::chrono::steady_clock::now();
  const bool qwen2 = a.arch == "qwen2";
  const int head_dim = a.dim / a.heads, q_dim = a.dim, kv_dim = a.kv_heads * head_dim;
  if (a.copier && (qwen2 || a.kv_heads != a.heads)) {
    std::fprintf(stderr, "tern synth: --copier needs --arch llama and --kv-heads equal to --heads\n");
    return 2;
  }
  GgufWriter w;
  w.set_string("general.architecture", a.arch);
  // No type in the name: `tern quantize` copies it into files of other types.
  w.set_string("general.name", std::string(a.copier ? "tern-synth-copier " : "tern-synth ") + a.arch + " d" +
                                  std::to_string(a.dim) + " L" + std::to_string(a.layers));
  w.set_u32("general.file_type", llama_ftype(*ft));
  w.set_u32("general.quantization_version", 2);
  w.set_u32("general.alignment", 32);
  const std::string p = a.arch + ".";
  w.set_u32(p + "context_length", static_cast<uint32_t>(a.ctx));
  w.set_u32(p + "embedding_length", static_cast<uint32_t>(a.dim));
  w.set_u32(p + "feed_forward_length", static_cast<uint32_t>(a.ffn));
  w.set_u32(p + "block_count", static_cast<uint32_t>(a.layers));
  w.set_u32(p + "attention.head_count", static_cast<uint32_t>(a.heads));
  w.set_u32(p + "attention.head_count_kv", static_cast<uint32_t>(a.kv_heads));
  w.set_f32(p + "rope.freq_base", a.copier ? Copier::kRopeBase : qwen2 ? 1000000.0f : 10000.0f);
  w.set_f32(p + "attention.layer_norm_rms_epsilon", qwen2 ? 1e-6f : 1e-5f);
  w.set_u32(p + "rope.dimension_count", static_cast<uint32_t>(a.copier ? Copier::kRotaryDims : head_dim));

  int64_t n_vocab = a.vocab;
  std::unique_ptr<GgufFile> vocab_file;
  if (a.vocab > 0) {
    write_plain_vocab(w, a.vocab);
  } else {
    const std::string path = a.vocab_from.empty() ? default_vocab() : a.vocab_from;
    auto f = GgufFile::open(path);
    if (!f.ok()) {
      std::fprintf(stderr, "tern synth: %s\n", f.status().message().c_str());
      return 1;
    }
    vocab_file = std::move(f).value();
    const auto* toks = vocab_file->get_string_array("tokenizer.ggml.tokens");
    if (!toks || toks->empty()) {
      std::fprintf(stderr, "tern synth: %s has no tokenizer.ggml.tokens\n", path.c_str());
      return 1;
    }
    n_vocab = static_cast<int64_t>(toks->size());
    for (const auto& [k, v] : vocab_file->kvs())
      if (k.rfind("tokenizer.", 0) == 0) w.copy_kv(k, v);
  }
  w.set_u32(p + "vocab_size", static_cast<uint32_t>(n_vocab));
  std::optional<Copier> copier;
  if (a.copier) {
    auto c = Copier::create({a.dim, a.heads, head_dim, a.layers, a.ffn, a.ctx, n_vocab, a.seed});
    if (!c.ok()) {
      std::fprintf(stderr, "tern synth: %s\n", c.status().message().c_str());
      return 2;
    }
    copier = std::move(*c);
    std::fprintf(stderr, "tern synth: copier circuit, previous-token lead %.3f of the peak score over %d positions\n",
                 copier->margin(), a.ctx);
  }

  ThreadPool pool(a.threads > 0 ? a.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  uint64_t total_bytes = 0;
  std::vector<float> f32;
  // One tensor: rows of ne0 drawn N(0, stddev^2) (or all `fill` when stddev == 0).
  auto add = [&](const std::string& name, std::vector<int64_t> ne, float stddev, float fill = 0.0f) {
    const int64_t ne0 = ne[0], rows = ne.size() > 1 ? ne[1] : 1;
    f32.resize(static_cast<size_t>(ne0 * rows));
    std::optional<std::vector<float>> set;
    if (copier) {
      set = copier->tensor(name, ne0, rows);
      if (set) stddev = 0;
      else stddev *= Copier::kNoiseScale;
    }
    const uint64_t base = a.seed ^ hash_name(name);
    pool.parallel_for(rows, 1, [&](int64_t begin, int64_t end, int) {
      for (int64_t r = begin; r < end; ++r) {
        float* row = f32.data() + r * ne0;
        if (set) {
          std::copy(set->begin() + r * ne0, set->begin() + (r + 1) * ne0, row);
        } else if (stddev > 0) {
          uint64_t s = base + static_cast<uint64_t>(r) * 0x9E3779B97F4A7C15ull;
          fill_normal(row, ne0, stddev, splitmix64(s));
        } else {
          std::fill(row, row + ne0, fill);
        }
      }
    });
    const GgmlType t = plan_tensor_type(*ft, name, static_cast<int>(ne.size()), ne0, a.layers);
    std::vector<uint8_t> data = quantize_rows(t, f32.data(), rows, ne0, pool);
    total_bytes += data.size();
    w.add_tensor(name, t, std::move(ne), std::move(data));
  };
  auto inv_sqrt = [](int n) { return 1.0f / std::sqrt(static_cast<float>(n)); };

  add("token_embd.weight", {a.dim, n_vocab}, inv_sqrt(a.dim));
  for (int l = 0; l < a.layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    add(b + "attn_norm.weight", {a.dim}, 0, 1.0f);
    add(b + "attn_q.weight", {a.dim, q_dim}, inv_sqrt(a.dim));    // [q_dim, dim]
    add(b + "attn_k.weight", {a.dim, kv_dim}, inv_sqrt(a.dim));   // [kv_dim, dim]
    add(b + "attn_v.weight", {a.dim, kv_dim}, inv_sqrt(a.dim));   // [kv_dim, dim]
    if (qwen2) {
      add(b + "attn_q.bias", {q_dim}, 0.02f);
      add(b + "attn_k.bias", {kv_dim}, 0.02f);
      add(b + "attn_v.bias", {kv_dim}, 0.02f);
    }
    add(b + "attn_output.weight", {q_dim, a.dim}, inv_sqrt(q_dim));  // [dim, q_dim]
    add(b + "ffn_norm.weight", {a.dim}, 0, 1.0f);
    add(b + "ffn_gate.weight", {a.dim, a.ffn}, inv_sqrt(a.dim));  // [ffn, dim]
    add(b + "ffn_up.weight", {a.dim, a.ffn}, inv_sqrt(a.dim));    // [ffn, dim]
    add(b + "ffn_down.weight", {a.ffn, a.dim}, inv_sqrt(a.ffn));  // [dim, ffn]
  }
  add("output_norm.weight", {a.dim}, 0, 1.0f);
  add("output.weight", {a.dim, n_vocab}, inv_sqrt(a.dim));  // [vocab, dim]

  if (Status st = w.write(a.out); !st.ok()) {
    std::fprintf(stderr, "tern synth: %s\n", st.message().c_str());
    return 1;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "tern synth: wrote %s (%s %s, vocab %lld, %.1f MiB of tensors) in %.1f s\n", a.out.c_str(),
               a.arch.c_str(), file_type_name(*ft), static_cast<long long>(n_vocab), total_bytes / 1048576.0, secs);
  return 0;
}

}  // namespace tern::cli
