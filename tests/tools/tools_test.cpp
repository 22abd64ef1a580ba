// End-to-end tests of `tern synth`, `tern quantize` and `tern bench-engine`:
// the built binary (TERN_BIN) is run as a user would, and its files are
// loaded with the engine library.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>
#include <set>

#include "../model/model_test_util.h"
#include "kernels/quant.h"
#include "test_assets.h"
#include "tools/run_tern.h"

namespace tern {
namespace {

namespace fs = std::filesystem;

using Ran = test::Ran;
Ran tern(const std::string& args, const std::string& err_file = "") { return test::run_tern(args, err_file); }

class ToolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tern_tools_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// A small model whose rows are multiples of 256, so K-quants apply unchanged.
constexpr const char* kSmallShape = "--dim 256 --ffn 512 --layers 2 --heads 4 --kv-heads 2 --vocab 512";

std::vector<TokenId> some_tokens(int n_vocab) {
  std::vector<TokenId> t;
  for (int i = 0; i < 12; ++i) t.push_back(300 + (i * 37) % (n_vocab - 300));
  return t;
}

// Logits of the last of some_tokens() through a fresh runner (F32 KV).
std::vector<float> last_logits(const Model& m) {
  ThreadPool pool(2);
  KvPool kv(m.config().n_layers, m.config().kv_dim(), 16, 2, KvType::kF32);
  ModelRunner runner(m, kv, pool);
  test::ContiguousSequence seq(kv);
  return test::run_tokens(runner, seq, some_tokens(m.config().n_vocab), 0, false);
}

GgmlType tensor_type(const Model& m, const std::string& name) {
  const GgufTensor* t = m.gguf().find_tensor(name);
  EXPECT_NE(t, nullptr) << name;
  return t ? t->type : GgmlType::I8;
}

TEST_F(ToolsTest, SynthEveryArchAndTypeLoadsAndGivesFiniteLogits) {
  for (const char* arch : {"llama", "qwen2"}) {
    for (const char* type : {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q6_K", "Q4_K_M"}) {
      SCOPED_TRACE(std::string(arch) + " " + type);
      const std::string out = path(std::string(arch) + "-" + type + ".gguf");
      ASSERT_EQ(tern(std::string("synth --arch ") + arch + " " + kSmallShape + " --type " + type + " -o " + out).exit_code, 0);
      auto model = Model::load(out);
      ASSERT_TRUE(model.ok()) << model.status().message();
      const Model& m = **model;
      EXPECT_EQ(m.config().dim, 256);
      EXPECT_EQ(m.config().n_kv_heads, 2);
      EXPECT_EQ(m.config().n_vocab, 512);
      EXPECT_EQ(m.config().qkv_bias, std::string(arch) == "qwen2");
      EXPECT_EQ(m.gguf().get_int("general.file_type").value_or(-1) >= 0, true);
      EXPECT_EQ(tensor_type(m, "blk.0.attn_norm.weight"), GgmlType::F32);
      const std::vector<float> logits = last_logits(m);
      float sumsq = 0;
      for (float x : logits) {
        ASSERT_TRUE(std::isfinite(x));
        sumsq += x * x;
      }
      // Unit-variance init keeps logits O(1): neither vanishing nor exploding.
      const float rms = std::sqrt(sumsq / static_cast<float>(logits.size()));
      EXPECT_GT(rms, 0.1f);
      EXPECT_LT(rms, 10.0f);
    }
  }
}

TEST_F(ToolsTest, SynthCopiesTheTokenizerVerbatim) {
  constexpr const char* kVocab = "tokenizers/ggml-vocab-llama-spm.gguf";
  TERN_REQUIRE_ASSET(kVocab);
  const std::string out = path("spm.gguf");
  ASSERT_EQ(tern("synth --dim 64 --ffn 128 --layers 1 --heads 2 --type Q8_0 --vocab-from " + test::asset(kVocab) +
                 " -o " + out)
                .exit_code,
            0);
  auto model = Model::load(out);
  ASSERT_TRUE(model.ok()) << model.status().message();
  auto vocab = GgufFile::open(test::asset(kVocab));
  ASSERT_TRUE(vocab.ok());
  int copied = 0;
  for (const auto& [k, v] : (*vocab)->kvs()) {
    if (k.rfind("tokenizer.", 0) != 0) continue;
    const GgufValue* w = (*model)->gguf().find(k);
    ASSERT_NE(w, nullptr) << k;
    EXPECT_EQ(w->type, v.type) << k;
    EXPECT_EQ(w->count, v.count) << k;
    if (v.type == GgufType::STRING) {
      EXPECT_EQ(w->str, v.str) << k;
    }
    if (v.type == GgufType::ARRAY && v.elem_type == GgufType::STRING) {
      EXPECT_EQ(w->strs, v.strs) << k;
    }
    ++copied;
  }
  EXPECT_GT(copied, 3);
  EXPECT_EQ((*model)->config().n_vocab, 32000);
  // Q8_0 rows of 64 elements; output.weight stays Q8_0 (rows not a multiple of 256).
  EXPECT_EQ(tensor_type(**model, "output.weight"), GgmlType::Q8_0);
  EXPECT_FALSE((*model)->tokenizer().encode("Hello world", true, false).empty());
}

// synth --copier: greedy decoding continues a token sequence the prompt has
// already shown (the induction circuit), at any position in the context;
// a plain synth model of the same shape does not.
TEST_F(ToolsTest, SynthCopierContinuesRepeatedText) {
  const std::string shape = "--dim 384 --heads 6 --layers 3 --ffn 128 --vocab 2048 --ctx 512 --type Q8_0";
  const std::string copier = path("copier.gguf"), plain = path("plain.gguf");
  ASSERT_EQ(tern("synth --copier " + shape + " -o " + copier).exit_code, 0);
  ASSERT_EQ(tern("synth " + shape + " -o " + plain).exit_code, 0);
  EXPECT_NE(tern("synth --copier --dim 256 --heads 4 --layers 2 -o " + path("small.gguf"), "/dev/null").exit_code, 0);
  // 120 distinct random tokens, then the first 10 again: the next 60 tokens
  // should be tokens 10..69.
  std::vector<TokenId> text;
  std::set<TokenId> seen;
  for (uint64_t x = 12345; text.size() < 120;) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const TokenId t = static_cast<TokenId>(259 + (x >> 33) % (2048 - 259));
    if (seen.insert(t).second) text.push_back(t);
  }
  auto copied = [&](const std::string& file) {
    auto m = Model::load(file);
    EXPECT_TRUE(m.ok()) << m.status().message();
    if (!m.ok()) return -1;
    ThreadPool pool(2);
    KvPool kv((*m)->config().n_layers, (*m)->config().kv_dim(), 16, 16, KvType::kF16);
    ModelRunner runner(**m, kv, pool);
    test::ContiguousSequence seq(kv);
    std::vector<TokenId> prompt = {1};
    prompt.insert(prompt.end(), text.begin(), text.end());
    prompt.insert(prompt.end(), text.begin(), text.begin() + 10);
    std::vector<float> logits = test::run_tokens(runner, seq, prompt, 0, false);
    int32_t pos = static_cast<int32_t>(prompt.size());
    int match = 0;
    for (int i = 0; i < 60; ++i) {
      const TokenId next = static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      match += next == text[static_cast<size_t>(10 + i)];
      logits = test::run_tokens(runner, seq, {next}, pos++, false);
    }
    return match;
  };
  EXPECT_EQ(copied(copier), 60);
  EXPECT_LT(copied(plain), 5);
}

TEST_F(ToolsTest, QuantizeF32ToQ8_0MatchesSynthAndStaysCloseToF32) {
  const std::string f32 = path("f32.gguf"), q8 = path("q8.gguf"), synth_q8 = path("synth-q8.gguf");
  ASSERT_EQ(tern(std::string("synth ") + kSmallShape + " --type F32 --seed 7 -o " + f32).exit_code, 0);
  ASSERT_EQ(tern(std::string("synth ") + kSmallShape + " --type Q8_0 --seed 7 -o " + synth_q8).exit_code, 0);
  const Ran q = tern("quantize " + f32 + " " + q8 + " Q8_0");
  ASSERT_EQ(q.exit_code, 0);
  EXPECT_NE(q.out.find("blk.1.ffn_down.weight"), std::string::npos) << q.out;
  auto a = Model::load(f32), b = Model::load(q8), c = Model::load(synth_q8);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ((*b)->gguf().get_int("general.file_type"), 7);
  // Same seed, same quantizer: synth --type Q8_0 == quantize(synth F32).
  for (const GgufTensor& t : (*b)->gguf().tensors()) {
    const GgufTensor* u = (*c)->gguf().find_tensor(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    ASSERT_EQ(t.type, u->type) << t.name;
    ASSERT_EQ(t.nbytes, u->nbytes) << t.name;
    EXPECT_EQ(std::memcmp(t.data, u->data, t.nbytes), 0) << t.name;
    if (t.n_dims == 1) {
      EXPECT_EQ(t.type, GgmlType::F32) << t.name;
    }
  }
  // Q8_0 rounds each weight to a step of max|w|/127 over its block of 32
  // (max ~2.1 sigma for Gaussian weights): relative RMS error ~0.5% per
  // weight, and the integer matmul rounds the activations the same way, so
  // each product is ~0.7% off. About ten products lie in series from the
  // embedding to the logits (2 layers x q/k/v, o, gate/up, down + output) and
  // random-weight attention/SwiGLU pass perturbations on at O(1) gain, so a
  // few percent is expected (measured: 3.0% RMS, 0.11 max on logits of RMS
  // ~1). The bounds (6%, 0.3) are twice that; a wrong block layout or scale
  // gives errors of order 100%.
  const std::vector<float> la = last_logits(**a), lb = last_logits(**b);
  ASSERT_EQ(la.size(), lb.size());
  double err2 = 0, ref2 = 0, max_err = 0;
  for (size_t i = 0; i < la.size(); ++i) {
    err2 += (la[i] - lb[i]) * (la[i] - lb[i]);
    ref2 += la[i] * la[i];
    max_err = std::max(max_err, static_cast<double>(std::abs(la[i] - lb[i])));
  }
  const double rel = std::sqrt(err2 / ref2);
  std::printf("Q8_0 vs F32 logits: relative RMS error %.4f, max abs error %.4f\n", rel, max_err);
  EXPECT_LT(rel, 0.06);
  EXPECT_LT(max_err, 0.3);
  EXPECT_EQ(test::argmax(la.data(), static_cast<int>(la.size())), test::argmax(lb.data(), static_cast<int>(lb.size())));
}

TEST_F(ToolsTest, Q4_K_MFollowsLlamaCppMix) {
  const std::string f32 = path("f32.gguf"), qm = path("q4km.gguf"), synth_qm = path("synth-q4km.gguf");
  const std::string shape = "--dim 256 --ffn 512 --layers 8 --heads 4 --vocab 512 --seed 3";
  ASSERT_EQ(tern("synth " + shape + " --type F32 -o " + f32).exit_code, 0);
  ASSERT_EQ(tern("synth " + shape + " --type Q4_K_M -o " + synth_qm).exit_code, 0);
  ASSERT_EQ(tern("quantize -q " + f32 + " " + qm + " Q4_K_M").exit_code, 0);
  for (const std::string& file : {qm, synth_qm}) {
    SCOPED_TRACE(file);
    auto model = Model::load(file);
    ASSERT_TRUE(model.ok()) << model.status().message();
    const Model& m = **model;
    EXPECT_EQ(m.gguf().get_int("general.file_type"), 15);
    EXPECT_EQ(tensor_type(m, "token_embd.weight"), GgmlType::Q4_K);
    EXPECT_EQ(tensor_type(m, "output.weight"), GgmlType::Q6_K);
    EXPECT_EQ(tensor_type(m, "output_norm.weight"), GgmlType::F32);
    // use_more_bits(i, 8): i < 1, i >= 7, or (i - 1) % 3 == 2.
    const std::set<int> more_bits = {0, 3, 6, 7};
    for (int l = 0; l < 8; ++l) {
      const std::string b = "blk." + std::to_string(l) + ".";
      const GgmlType hi = more_bits.count(l) ? GgmlType::Q6_K : GgmlType::Q4_K;
      EXPECT_EQ(tensor_type(m, b + "attn_v.weight"), hi) << l;
      EXPECT_EQ(tensor_type(m, b + "ffn_down.weight"), hi) << l;
      for (const char* t : {"attn_q.weight", "attn_k.weight", "attn_output.weight", "ffn_gate.weight", "ffn_up.weight"})
        EXPECT_EQ(tensor_type(m, b + t), GgmlType::Q4_K) << b << t;
      EXPECT_EQ(tensor_type(m, b + "ffn_norm.weight"), GgmlType::F32);
    }
    for (float x : last_logits(m)) ASSERT_TRUE(std::isfinite(x));
  }
}

TEST_F(ToolsTest, QuantizeErrorsAreOneLineAndNonZero) {
  const std::string f32 = path("f32.gguf"), q4 = path("q4.gguf"), err = path("err.txt");
  auto stderr_text = [&] {
    FILE* f = std::fopen(err.c_str(), "r");
    std::string s;
    char buf[512];
    while (f && std::fgets(buf, sizeof buf, f)) s += buf;
    if (f) std::fclose(f);
    return s;
  };
  auto lines = [&] {
    const std::string s = stderr_text();
    return std::count(s.begin(), s.end(), '\n');
  };
  EXPECT_NE(tern("quantize " + path("missing.gguf") + " " + q4 + " Q4_0", err).exit_code, 0);
  EXPECT_EQ(lines(), 1) << stderr_text();
  ASSERT_EQ(tern(std::string("synth ") + kSmallShape + " --type Q4_0 -o " + f32).exit_code, 0);
  EXPECT_NE(tern("quantize " + f32 + " " + q4 + " Q5_K", err).exit_code, 0);
  EXPECT_NE(stderr_text().find("unknown type"), std::string::npos) << stderr_text();
  // Already-quantized input needs --allow-requantize.
  EXPECT_NE(tern("quantize " + f32 + " " + q4 + " Q8_0", err).exit_code, 0);
  EXPECT_NE(stderr_text().find("--allow-requantize"), std::string::npos) << stderr_text();
  EXPECT_EQ(lines(), 1) << stderr_text();
  EXPECT_EQ(tern("quantize -q --allow-requantize " + f32 + " " + q4 + " Q8_0").exit_code, 0);
}

TEST_F(ToolsTest, BenchEngineJsonOnStories260K) {
  constexpr const char* kModel = "models/stories260K.gguf";
  TERN_REQUIRE_ASSET(kModel);
  const std::string m = "-m " + test::asset(kModel) + " -t 2 --json ";
  auto parse = [](const Ran& r) {
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return nlohmann::json::parse(r.out, nullptr, false);
  };
  const auto k = parse(tern("bench-engine " + m + "-p 32 -n 16 -r 2"));
  ASSERT_FALSE(k.is_discarded());
  EXPECT_GT(k["pp"]["tok_s"].get<double>(), 0);
  EXPECT_GE(k["pp"]["stddev"].get<double>(), 0);
  EXPECT_GT(k["tg"]["tok_s"].get<double>(), 0);
  EXPECT_GT(k["tg"]["weight_gbs"].get<double>(), 0);
  EXPECT_GT(k["bandwidth_gbs"].get<double>(), 0);
  EXPECT_GT(k["weight_bytes_per_token"].get<double>(), 0);

  const auto s = parse(tern("bench-engine " + m + "--concurrency 4 --requests 8 --prompt-len 40 --shared-prefix 32 --gen-len 8"));
  ASSERT_FALSE(s.is_discarded());
  EXPECT_EQ(s["completion_tokens"].get<int>(), 8 * 8);
  EXPECT_GT(s["output_tok_s"].get<double>(), 0);
  EXPECT_GT(s["total_tok_s"].get<double>(), 0);
  EXPECT_GT(s["ttft_ms"]["mean"].get<double>(), 0);
  EXPECT_GT(s["ttft_ms"]["p99"].get<double>(), 0);
  EXPECT_GT(s["prefix_hit_share"].get<double>(), 0);  // later requests find the 32 shared tokens
  EXPECT_GE(s["preemptions"].get<int>(), 0);

  const auto r = parse(tern("bench-engine " + m + "--replay-turns 3 --concurrency 2 --shared-prefix 64 --prompt-len 8 --gen-len 8"));
  ASSERT_FALSE(r.is_discarded());
  ASSERT_EQ(r["runs"].size(), 2u);
  EXPECT_TRUE(r["runs"][0]["prefix_caching"].get<bool>());
  EXPECT_GT(r["runs"][0]["prefix_hit_share_after_first_turn"].get<double>(), 0.5);
  EXPECT_EQ(r["runs"][1]["prefix_hit_share_after_first_turn"].get<double>(), 0.0);
  EXPECT_GT(r["ttft_speedup_from_prefix_cache"].get<double>(), 0);
}

// `tern logits` reproduces the reference golden file (llama.cpp, F16 cache):
// same tokens, greedy continuation and text, top-5 logits within 1e-3.
TEST_F(ToolsTest, LogitsMatchesTheReferenceGoldenFile) {
  constexpr const char* kModel = "models/stories260K.gguf";
  constexpr const char* kReference = "reference/stories260K-greedy.json";
  TERN_REQUIRE_ASSET(kModel);
  TERN_REQUIRE_ASSET(kReference);
  std::ifstream in(test::asset(kReference));
  const nlohmann::json ref = nlohmann::json::parse(in);
  std::string args = "logits -t 2 -m " + test::asset(kModel);
  for (const auto& c : ref) {
    // Prompts go through a file and the shell's $(...) so quotes and newlines survive.
    const std::string p = path("p" + std::to_string(&c - &ref[0]) + ".txt");
    std::ofstream(p) << c["prompt"].get<std::string>();
    args += " -p \"$(cat '" + p + "')\"";
  }
  const Ran r = tern(args);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::istringstream lines(r.out);
  std::string line;
  size_t i = 0;
  for (; std::getline(lines, line); ++i) {
    ASSERT_LT(i, ref.size());
    const auto got = nlohmann::json::parse(line);
    const auto& want = ref[i];
    SCOPED_TRACE(want["prompt"].get<std::string>());
    EXPECT_EQ(got["prompt"], want["prompt"]);
    EXPECT_EQ(got["tokens"], want["tokens"]);
    EXPECT_EQ(got["greedy"], want["greedy"]);
    EXPECT_EQ(got["greedy_text"], want["greedy_text"]);
    ASSERT_EQ(got["top_logits"].size(), want["top_logits"].size());
    for (size_t t = 0; t < want["top_logits"].size(); ++t)
      for (size_t k = 0; k < want["top_logits"][t].size(); ++k) {
        EXPECT_EQ(got["top_logits"][t][k][0], want["top_logits"][t][k][0]) << "position " << t << " rank " << k;
        EXPECT_NEAR(got["top_logits"][t][k][1].get<double>(), want["top_logits"][t][k][1].get<double>(), 1e-3)
            << "position " << t << " rank " << k;
      }
  }
  EXPECT_EQ(i, ref.size());
  EXPECT_NE(tern("logits -m " + path("missing.gguf") + " -p x", path("err.txt")).exit_code, 0);
}

}  // namespace
}  // namespace tern
