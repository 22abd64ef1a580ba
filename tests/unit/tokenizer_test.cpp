// Tokenizer against llama.cpp's tokenizer test vectors and a real model vocab.
//
// Vectors: /work/shared/tokenizers/ggml-vocab-<name>.gguf{,.inp,.out}. The .inp
// file holds inputs separated by "\n__ggml_vocab_test__\n"; line i of .out holds
// the ids of input i, without BOS (encode with add_special = parse_special =
// false), as llama.cpp's tests/test-tokenizer-0.cpp reads them.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>
#include <thread>
#include <string>
#include <vector>

#include "test_assets.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace tern {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct VocabCase {
  std::string input;
  std::vector<TokenId> expected;
};

std::vector<VocabCase> read_cases(const std::string& inp_path, const std::string& out_path) {
  const std::string raw = read_file(inp_path);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  for (size_t pos = 0; pos < raw.size();) {
    const size_t next = raw.find(sep, pos);
    if (next == std::string::npos) {
      inputs.push_back(raw.substr(pos));
      break;
    }
    inputs.push_back(raw.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::vector<std::vector<TokenId>> outputs;
  std::ifstream out(out_path);
  for (std::string line; std::getline(out, line);) {
    std::vector<TokenId> ids;
    std::istringstream ls(line);
    for (TokenId id; ls >> id;) ids.push_back(id);
    outputs.push_back(std::move(ids));
  }
  std::vector<VocabCase> cases;
  if (inputs.size() != outputs.size()) return cases;
  for (size_t i = 0; i < inputs.size(); ++i) cases.push_back({inputs[i], outputs[i]});
  return cases;
}

std::unique_ptr<GgufFile> open_asset(const std::string& rel) {
  auto f = GgufFile::open(test::asset(rel));
  EXPECT_TRUE(f.ok()) << f.status().message();
  return f.ok() ? std::move(f).value() : nullptr;
}

std::string ids_str(const std::vector<TokenId>& ids) {
  std::string s;
  for (TokenId id : ids) s += std::to_string(id) + " ";
  return s;
}

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<uint8_t>(s[i]);
    size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<uint8_t>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

// Loads the vocab named by the parameter; skips when it is absent or of a
// kind tern does not support. Tests use base and tok.
class VocabVectors : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    base = std::string("tokenizers/ggml-vocab-") + GetParam() + ".gguf";
    TERN_REQUIRE_ASSET(base);
    TERN_REQUIRE_ASSET(base + ".inp");
    file = open_asset(base);
    ASSERT_NE(file, nullptr);
    auto t = Tokenizer::from_gguf(*file);
    if (!t.ok() && t.status().code() == StatusCode::kUnimplemented) {
      GTEST_SKIP() << "not supported by tern yet: " << t.status().message();
    }
    ASSERT_TRUE(t.ok()) << t.status().message();
    tok = std::move(t).value();
  }
  std::string base;
  std::unique_ptr<GgufFile> file;
  std::unique_ptr<Tokenizer> tok;
};

TEST_P(VocabVectors, MatchesLlamaCpp) {

  const auto cases = read_cases(test::asset(base + ".inp"), test::asset(base + ".out"));
  ASSERT_FALSE(cases.empty()) << "no test cases, or .inp/.out counts differ";
  for (const VocabCase& c : cases) {
    const std::vector<TokenId> got = tok->encode(c.input, false, false);
    EXPECT_EQ(got, c.expected) << "input '" << c.input << "'\n got      " << ids_str(got)
                               << "\n expected " << ids_str(c.expected);
  }
}

TEST_P(VocabVectors, DecodeAndStreamRoundTrip) {
  const Tokenizer& t = *tok;

  for (const VocabCase& c : read_cases(test::asset(base + ".inp"), test::asset(base + ".out"))) {
    const std::vector<TokenId> ids = t.encode(c.input, false, false);
    const std::string decoded = t.decode(ids);
    // WordPiece normalizes (case, accents, spacing): only the streaming check applies.
    if (std::string_view(GetParam()) != "bert-bge") {
      EXPECT_EQ(decoded, c.input);
    }

    StreamDecoder stream(t, /*at_text_start=*/true);
    std::string streamed;
    for (TokenId id : ids) {
      const std::string chunk = stream.push(id);
      EXPECT_TRUE(valid_utf8(chunk)) << "invalid UTF-8 chunk for input '" << c.input << "'";
      streamed += chunk;
    }
    streamed += stream.flush();
    EXPECT_EQ(streamed, decoded);
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, VocabVectors,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "falcon", "starcoder", "refact",
                                           "deepseek-llm", "deepseek-coder", "mpt", "bert-bge"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

TEST(Tokenizer, Stories260K) {
  TERN_REQUIRE_ASSET("models/stories260K.gguf");
  auto file = open_asset("models/stories260K.gguf");
  ASSERT_NE(file, nullptr);
  auto tok = Tokenizer::from_gguf(*file);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  const Tokenizer& t = *tok.value();
  EXPECT_EQ(t.n_vocab(), 512);
  EXPECT_EQ(t.bos(), 1);
  EXPECT_EQ(t.eos(), 2);
  EXPECT_TRUE(t.add_bos());
  EXPECT_TRUE(t.is_eog(2));
  EXPECT_FALSE(t.is_eog(1));
  EXPECT_TRUE(t.is_control(1));

  EXPECT_EQ(t.encode("Once upon a time", true, false), (std::vector<TokenId>{1, 403, 407, 261, 378}));
  const std::vector<TokenId> lily = {1,   317, 269, 274, 287, 263, 377, 267, 265, 282,
                                     295, 433, 426, 342, 394, 261, 370, 400, 428, 426};
  EXPECT_EQ(t.encode("Lily and Tom went to the park. They saw a big dog.", true, false), lily);
  // A leading BOS keeps the SentencePiece space (llama.cpp's rule); without it
  // decode() is the exact inverse.
  EXPECT_EQ(t.decode(lily), " Lily and Tom went to the park. They saw a big dog.");
  EXPECT_EQ(t.decode(std::span(lily).subspan(1)), "Lily and Tom went to the park. They saw a big dog.");
  EXPECT_EQ(t.decode(lily, /*render_special=*/true), "<s> Lily and Tom went to the park. They saw a big dog.");
  EXPECT_EQ(t.token_to_piece(1), "");
  EXPECT_EQ(t.token_to_piece(1, true), "<s>");
  EXPECT_EQ(t.token_to_piece(403), " Once");
  EXPECT_EQ(t.token_text(403), "▁Once");
  EXPECT_EQ(t.find_token("▁Once"), 403);
  EXPECT_FALSE(t.find_token("no such token").has_value());
}

TEST(Tokenizer, ByteFallbackAndStreaming) {
  TERN_REQUIRE_ASSET("models/stories260K.gguf");
  auto file = open_asset("models/stories260K.gguf");
  ASSERT_NE(file, nullptr);
  auto tok = Tokenizer::from_gguf(*file);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  const Tokenizer& t = *tok.value();

  // 512 tokens cannot spell these: each character becomes its UTF-8 bytes.
  const std::string text = "héllo 🦙 日本";
  const std::vector<TokenId> ids = t.encode(text, false, false);
  const auto e9 = t.find_token("<0xE9>");
  ASSERT_TRUE(e9.has_value());
  EXPECT_EQ(t.token_to_piece(*e9), "\xE9");
  EXPECT_EQ(t.decode(ids), text);

  StreamDecoder stream(t, /*at_text_start=*/true);
  std::string streamed;
  size_t empty_chunks = 0;
  for (TokenId id : ids) {
    const std::string chunk = stream.push(id);
    EXPECT_TRUE(valid_utf8(chunk));
    empty_chunks += chunk.empty();
    streamed += chunk;
  }
  EXPECT_EQ(stream.flush(), "");
  EXPECT_EQ(streamed, text);
  EXPECT_GT(empty_chunks, 0u) << "multi-byte characters should have been held back";

  // A truncated sequence is released as U+FFFD by flush(); a stray
  // continuation byte is replaced at once.
  StreamDecoder cut(t);
  EXPECT_EQ(cut.push(*t.find_token("<0xF0>")), "");
  EXPECT_EQ(cut.push(*t.find_token("<0x9F>")), "");
  EXPECT_EQ(cut.flush(), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(cut.push(*t.find_token("<0x80>")), "\xEF\xBF\xBD");
  // Without at_text_start pieces are verbatim: a continuation keeps its space.
  EXPECT_EQ(cut.push(403), " Once");
}

TEST(Tokenizer, SpecialTokenParsing) {
  TERN_REQUIRE_ASSET("tokenizers/ggml-vocab-phi-3.gguf");
  auto file = open_asset("tokenizers/ggml-vocab-phi-3.gguf");
  ASSERT_NE(file, nullptr);
  auto tok = Tokenizer::from_gguf(*file);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  const Tokenizer& t = *tok.value();

  const auto user = t.find_token("<|user|>");
  const auto end = t.find_token("<|end|>");
  const auto assistant = t.find_token("<|assistant|>");
  ASSERT_TRUE(user && end && assistant);
  EXPECT_TRUE(t.is_control(*user));
  EXPECT_TRUE(t.is_eog(*end));
  EXPECT_FALSE(t.is_eog(*user));
  EXPECT_TRUE(t.is_eog(t.eos()));

  const std::string prompt = "<|user|>\nHi there<|end|>\n<|assistant|>";
  const std::vector<TokenId> parsed = t.encode(prompt, true, true);
  ASSERT_GE(parsed.size(), 4u);
  EXPECT_EQ(parsed[0], t.bos());
  EXPECT_EQ(parsed[1], *user);
  EXPECT_EQ(parsed.back(), *assistant);
  EXPECT_EQ(std::count(parsed.begin(), parsed.end(), *end), 1);
  // Phi-3's special tokens swallow the whitespace after them (rstrip), so the
  // text between them is tokenized as "Hi there" after a special token.
  std::vector<TokenId> expected = {t.bos(), *user};
  for (TokenId id : t.encode("Hi there", false, false)) expected.push_back(id);
  expected.push_back(*end);
  expected.push_back(*assistant);
  EXPECT_EQ(parsed, expected);
  EXPECT_EQ(t.decode(parsed, /*render_special=*/true), "<s><|user|> Hi there<|end|><|assistant|>");

  // Without parse_special the markers are ordinary text.
  const std::vector<TokenId> plain = t.encode(prompt, false, false);
  for (TokenId id : plain) {
    EXPECT_FALSE(t.is_control(id)) << id;
  }
  EXPECT_EQ(t.decode(plain), prompt);
}

TEST(Tokenizer, SpecialTokenParsingBpe) {
  TERN_REQUIRE_ASSET("tokenizers/ggml-vocab-gpt-2.gguf");
  auto file = open_asset("tokenizers/ggml-vocab-gpt-2.gguf");
  ASSERT_NE(file, nullptr);
  auto tok = Tokenizer::from_gguf(*file);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  const Tokenizer& t = *tok.value();
  EXPECT_FALSE(t.add_bos());
  EXPECT_EQ(t.eos(), 50256);
  EXPECT_TRUE(t.is_eog(50256));

  const std::vector<TokenId> ids = t.encode("Hello<|endoftext|> world", true, true);
  EXPECT_EQ(ids, (std::vector<TokenId>{15496, 50256, 995}));
  const std::vector<TokenId> plain = t.encode("Hello<|endoftext|> world", true, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 50256), 0);
  EXPECT_EQ(t.decode(plain), "Hello<|endoftext|> world");
  EXPECT_EQ(t.decode(ids), "Hello world");
  EXPECT_EQ(t.decode(ids, true), "Hello<|endoftext|> world");
}

TEST(Tokenizer, LongInputIsFastAndLossless) {
  TERN_REQUIRE_ASSET("tokenizers/ggml-vocab-llama-spm.gguf");
  TERN_REQUIRE_ASSET("tokenizers/ggml-vocab-gpt-2.gguf");
  std::string text;
  for (int i = 0; i < 2000; ++i) {
    text += "The quick brown fox (#" + std::to_string(i) + ") jumps over the lazy dog;   déjà vu 🦙\n";
  }
  text += std::string(5000, ' ') + std::string(5000, 'a');  // long runs must not go quadratic
  // mpt has user-defined whitespace tokens: exercises the special splitter.
  for (const char* name : {"tokenizers/ggml-vocab-llama-spm.gguf", "tokenizers/ggml-vocab-gpt-2.gguf",
                           "tokenizers/ggml-vocab-mpt.gguf"}) {
    if (!std::filesystem::exists(test::asset(name))) continue;
    auto file = open_asset(name);
    ASSERT_NE(file, nullptr);
    auto tok = Tokenizer::from_gguf(*file);
    ASSERT_TRUE(tok.ok()) << tok.status().message();
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<TokenId> ids = tok.value()->encode(text, false, true);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s: %zu bytes -> %zu tokens in %.1f ms\n", name, text.size(), ids.size(), ms);
    EXPECT_EQ(tok.value()->decode(ids), text);
    EXPECT_LT(ms, 20000.0);  // generous: Debug and sanitizer builds, shared machine
  }
}

TEST(Tokenizer, EverySharedVocabLoads) {
  TERN_REQUIRE_ASSET("tokenizers");
  size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(test::asset("tokenizers"))) {
    const std::string path = entry.path().string();
    if (entry.path().extension() != ".gguf") continue;
    auto file = GgufFile::open(path);
    ASSERT_TRUE(file.ok()) << file.status().message();
    auto tok = Tokenizer::from_gguf(*file.value());
    ASSERT_TRUE(tok.ok()) << path << ": " << tok.status().message();
    const std::string text = "Hello world, it's 2024!";
    const std::vector<TokenId> ids = tok.value()->encode(text, true, true);
    EXPECT_FALSE(ids.empty()) << path;
    for (TokenId id : ids) EXPECT_TRUE(id >= 0 && id < tok.value()->n_vocab()) << path;
    if (tok.value()->add_bos()) {
      EXPECT_EQ(ids.front(), tok.value()->bos()) << path;
    }
    ++n;
  }
  EXPECT_GT(n, 0u);
}

TEST(Tokenizer, ConcurrentEncodeIsDeterministic) {
  TERN_REQUIRE_ASSET("tokenizers/ggml-vocab-gpt-2.gguf");
  auto file = open_asset("tokenizers/ggml-vocab-gpt-2.gguf");
  ASSERT_NE(file, nullptr);
  auto tok = Tokenizer::from_gguf(*file);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  const Tokenizer& t = *tok.value();
  const auto cases = read_cases(test::asset("tokenizers/ggml-vocab-gpt-2.gguf.inp"),
                                test::asset("tokenizers/ggml-vocab-gpt-2.gguf.out"));
  ASSERT_FALSE(cases.empty());
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int rep = 0; rep < 20; ++rep) {
        for (const VocabCase& c : cases) mismatches[k] += t.encode(c.input, false, false) != c.expected;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

// Regex splits of the pre-tokenizers without test vectors here, on the
// behaviour their tokenizer.json regexes define.
TEST(PreTokenizer, SplitsAsTheRegexesDefine) {
  auto split = [](std::string_view pre, std::string_view text) {
    auto p = PreTokenizer::create(pre);
    EXPECT_TRUE(p.ok()) << pre << ": " << p.status().message();
    std::vector<std::string_view> words;
    if (p.ok()) p.value()->split(text, words);
    return std::vector<std::string>(words.begin(), words.end());
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(split("llama-bpe", "Hello world's 12345  \n\n x"),
            (V{"Hello", " world", "'s", " ", "123", "45", "  \n\n", " x"}));
  EXPECT_EQ(split("qwen2", "It'S 2024"), (V{"It", "'S", " ", "2", "0", "2", "4"}));
  EXPECT_EQ(split("gpt-2", "a  b\tc"), (V{"a", " ", " b", "\t", "c"}));

  // Every name in the table compiles, and pieces always tile the text.
  const std::string text = "Hi, y'all!  3.14159 日本語 ñandú 🦙\r\n\tend  ";
  for (const char* pre : {"", "default", "llama3", "deepseek-llm", "deepseek-coder", "deepseek-v3", "falcon",
                          "starcoder", "gpt-2", "mpt", "qwen2", "poro-chat", "viking", "tekken", "chameleon",
                          "gpt-4o", "bailingmoe", "seed-coder", "refact", "command-r", "smollm", "dbrx"}) {
    std::string joined;
    for (const std::string& w : split(pre, text)) {
      EXPECT_FALSE(w.empty()) << pre;
      joined += w;
    }
    EXPECT_EQ(joined, text) << pre;
  }
  EXPECT_EQ(PreTokenizer::create("no-such-pre").status().code(), StatusCode::kUnimplemented);
}

// A GGUF image with just the given tokenizer metadata.
std::vector<uint8_t> vocab_image(const std::function<void(GgufWriter&)>& fill) {
  GgufWriter w;
  fill(w);
  return w.serialize();
}

Status load_status(const std::vector<uint8_t>& bytes) {
  auto f = GgufFile::parse(bytes.data(), bytes.size(), "test.gguf");
  if (!f.ok()) return f.status();
  auto t = Tokenizer::from_gguf(*f.value());
  return t.ok() ? Status::Ok() : t.status();
}

TEST(Tokenizer, MalformedVocabGivesErrors) {
  const std::vector<std::string> tokens = {"<unk>", "<s>", "</s>", "a", "b", "ab"};

  // No token list at all.
  Status s = load_status(vocab_image([](GgufWriter& w) { w.set_string("tokenizer.ggml.model", "llama"); }));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("tokenizer.ggml.tokens"), std::string::npos) << s.message();

  // No tokenizer at all.
  s = load_status(vocab_image([](GgufWriter& w) { w.set_u32("general.alignment", 32); }));
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.message();

  // Token list of the wrong type.
  s = load_status(vocab_image([](GgufWriter& w) {
    w.set_string("tokenizer.ggml.model", "llama");
    w.set_i32_array("tokenizer.ggml.tokens", {1, 2, 3});
  }));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.message();

  // Scores shorter than the vocabulary.
  s = load_status(vocab_image([&](GgufWriter& w) {
    w.set_string("tokenizer.ggml.model", "llama");
    w.set_string_array("tokenizer.ggml.tokens", tokens);
    w.set_f32_array("tokenizer.ggml.scores", {0.0f, 1.0f});
  }));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.message();

  // BPE without merges.
  s = load_status(vocab_image([&](GgufWriter& w) {
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", "gpt-2");
    w.set_string_array("tokenizer.ggml.tokens", tokens);
  }));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.message();

  // Unsupported tokenizer model and pre-tokenizer.
  s = load_status(vocab_image([&](GgufWriter& w) {
    w.set_string("tokenizer.ggml.model", "rwkv");
    w.set_string_array("tokenizer.ggml.tokens", tokens);
  }));
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented) << s.message();
  s = load_status(vocab_image([&](GgufWriter& w) {
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", "no-such-pre");
    w.set_string_array("tokenizer.ggml.tokens", tokens);
    w.set_string_array("tokenizer.ggml.merges", {"a b"});
  }));
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented) << s.message();
  EXPECT_NE(s.message().find("no-such-pre"), std::string::npos) << s.message();

  // Duplicate token text.
  s = load_status(vocab_image([&](GgufWriter& w) {
    w.set_string("tokenizer.ggml.model", "llama");
    w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a", "a"});
  }));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.message();

  // A minimal valid SPM vocabulary loads and merges by score.
  const auto ok = vocab_image([&](GgufWriter& w) {
    w.set_string("tokenizer.ggml.model", "llama");
    w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "▁", "a", "b", "ab", "▁ab"});
    w.set_f32_array("tokenizer.ggml.scores", {0, 0, 0, -1, -1, -1, -2, -3});
    w.set_i32_array("tokenizer.ggml.token_type", {2, 3, 3, 1, 1, 1, 1, 1});
  });
  auto f = GgufFile::parse(ok.data(), ok.size(), "ok.gguf");
  ASSERT_TRUE(f.ok()) << f.status().message();
  auto t = Tokenizer::from_gguf(*f.value());
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t.value()->encode("ab", true, false), (std::vector<TokenId>{1, 7}));
  // No byte tokens and no "c": unknown.
  EXPECT_EQ(t.value()->encode("c", false, false), (std::vector<TokenId>{3, 0}));
}

}  // namespace
}  // namespace tern
