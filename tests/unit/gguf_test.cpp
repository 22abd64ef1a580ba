// GGUF reader: round trips through the writer, and every kind of malformed or
// hostile file gives a one-line error instead of a crash or a huge allocation.
#include <gtest/gtest.h>

#include <cstring>

#include "gguf/gguf.h"
#include "test_assets.h"

namespace tern {
namespace {

std::vector<uint8_t> small_file() {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 2);
  w.set_f32("llama.rope.freq_base", 500000.0f);
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  w.set_string_array("tokenizer.ggml.tokens", {"<s>", "</s>", "a"});
  w.set_f32_array("tokenizer.ggml.scores", {0.0f, -1.0f, -2.5f});
  w.set_i32_array("tokenizer.ggml.token_type", {3, 3, 1});
  std::vector<uint8_t> data(4 * 8);
  for (int i = 0; i < 8; ++i) {
    float f = static_cast<float>(i);
    std::memcpy(&data[static_cast<size_t>(i) * 4], &f, 4);
  }
  w.add_tensor("a", GgmlType::F32, {4, 2}, data);
  w.add_tensor("b", GgmlType::Q8_0, {32, 1}, std::vector<uint8_t>(34, 1));
  return w.serialize();
}

std::string parse_error(const std::vector<uint8_t>& bytes) {
  auto f = GgufFile::parse(bytes.data(), bytes.size(), "t.gguf");
  if (f.ok()) return "";
  return f.status().message();
}

TEST(GgufTest, RoundTripsMetadataAndTensors) {
  const auto bytes = small_file();
  auto f = GgufFile::parse(bytes.data(), bytes.size());
  ASSERT_TRUE(f.ok()) << f.status().message();
  const GgufFile& g = **f;
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.get_string("general.architecture"), "llama");
  EXPECT_EQ(g.get_int("llama.block_count"), 2);
  EXPECT_FLOAT_EQ(static_cast<float>(*g.get_float("llama.rope.freq_base")), 500000.0f);
  EXPECT_EQ(g.get_bool("tokenizer.ggml.add_bos_token"), true);
  ASSERT_NE(g.get_string_array("tokenizer.ggml.tokens"), nullptr);
  EXPECT_EQ((*g.get_string_array("tokenizer.ggml.tokens"))[2], "a");
  EXPECT_EQ(g.get_f32_array("tokenizer.ggml.scores")->at(2), -2.5f);
  EXPECT_EQ(g.get_i32_array("tokenizer.ggml.token_type")->at(0), 3);
  EXPECT_FALSE(g.get_string("llama.block_count").has_value());  // wrong type → absent
  const GgufTensor* a = g.find_tensor("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->ne[0], 4);
  EXPECT_EQ(a->ne[1], 2);
  EXPECT_EQ(a->nbytes, 32u);
  float v;
  std::memcpy(&v, a->data + 7 * 4, 4);
  EXPECT_EQ(v, 7.0f);
  EXPECT_EQ(static_cast<uint64_t>(a->data - bytes.data()) % g.alignment(), 0u);
  EXPECT_EQ(g.find_tensor("b")->nbytes, 34u);
}

TEST(GgufTest, CopyKvReproducesValues) {
  const auto bytes = small_file();
  auto f = GgufFile::parse(bytes.data(), bytes.size());
  ASSERT_TRUE(f.ok());
  GgufWriter w;
  for (const auto& [k, v] : (*f)->kvs()) w.copy_kv(k, v);
  const auto out = w.serialize();
  auto g = GgufFile::parse(out.data(), out.size());
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ((*g)->kvs().size(), (*f)->kvs().size());
  EXPECT_EQ((*g)->get_string_array("tokenizer.ggml.tokens")->size(), 3u);
  EXPECT_EQ((*g)->get_f32_array("tokenizer.ggml.scores")->at(1), -1.0f);
}

TEST(GgufTest, RejectsBadMagicAndVersion) {
  auto bytes = small_file();
  bytes[0] = 'X';
  EXPECT_NE(parse_error(bytes).find("bad magic"), std::string::npos);
  bytes = small_file();
  bytes[4] = 1;
  EXPECT_NE(parse_error(bytes).find("version 1"), std::string::npos);
  bytes[4] = 9;
  EXPECT_NE(parse_error(bytes).find("unsupported GGUF version"), std::string::npos);
  EXPECT_NE(parse_error({}).find("too short"), std::string::npos);
}

TEST(GgufTest, RejectsHugeCounts) {
  auto bytes = small_file();
  const uint64_t huge = uint64_t{1} << 60;
  std::memcpy(&bytes[16], &huge, 8);  // n_kv
  EXPECT_NE(parse_error(bytes).find("exceeds the file size"), std::string::npos);
  bytes = small_file();
  std::memcpy(&bytes[8], &huge, 8);  // n_tensors
  EXPECT_NE(parse_error(bytes).find("exceeds the file size"), std::string::npos);
}

TEST(GgufTest, EveryTruncationIsAnError) {
  const auto bytes = small_file();
  auto whole = GgufFile::parse(bytes.data(), bytes.size());
  ASSERT_TRUE(whole.ok());
  const GgufTensor* last = (*whole)->find_tensor("b");
  // Cutting only the padding after the last tensor leaves a valid file.
  const size_t end = static_cast<size_t>(last->data - bytes.data()) + last->nbytes;
  for (size_t n = 0; n < end; ++n) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<long>(n));
    const std::string err = parse_error(cut);
    EXPECT_FALSE(err.empty()) << "truncated at " << n << " of " << bytes.size();
    EXPECT_EQ(err.find('\n'), std::string::npos);
  }
}

TEST(GgufTest, RejectsUnknownTypesAndBadShapes) {
  GgufWriter w;
  w.add_tensor("t", static_cast<GgmlType>(99), {32}, std::vector<uint8_t>(64));
  auto bytes = w.serialize();
  EXPECT_NE(parse_error(bytes).find("unknown type 99"), std::string::npos);

  GgufWriter w2;
  w2.add_tensor("t", GgmlType::Q8_0, {33}, std::vector<uint8_t>(68));
  bytes = w2.serialize();
  EXPECT_NE(parse_error(bytes).find("not a multiple"), std::string::npos);

  GgufWriter w3;
  w3.add_tensor("t", GgmlType::F32, {4}, std::vector<uint8_t>(16));
  w3.add_tensor("t", GgmlType::F32, {4}, std::vector<uint8_t>(16));
  bytes = w3.serialize();
  EXPECT_NE(parse_error(bytes).find("duplicate tensor"), std::string::npos);
}

TEST(GgufTest, RejectsOffsetsPastTheEnd) {
  GgufWriter w;
  w.add_tensor("t", GgmlType::F32, {8}, std::vector<uint8_t>(32));
  auto bytes = w.serialize();
  // The tensor's offset field is the last 8 bytes before the (aligned) data.
  auto f = GgufFile::parse(bytes.data(), bytes.size());
  ASSERT_TRUE(f.ok());
  // The offset field: header(24) name(8+1) n_dims(4) ne(8) type(4), then offset(8).
  const size_t off_pos = 24 + 8 + 1 + 4 + 8 + 4;
  ASSERT_LT(off_pos + 8, (*f)->data_offset());
  const uint64_t far = 1 << 20;
  std::memcpy(&bytes[off_pos], &far, 8);
  EXPECT_NE(parse_error(bytes).find("past the end"), std::string::npos);
  const uint64_t misaligned = 3;
  std::memcpy(&bytes[off_pos], &misaligned, 8);
  EXPECT_NE(parse_error(bytes).find("not aligned"), std::string::npos);
}

TEST(GgufTest, RejectsDimensionOverflow) {
  GgufWriter w;
  w.add_tensor("t", GgmlType::F32, {int64_t{1} << 39, int64_t{1} << 39}, {});
  const auto bytes = w.serialize();
  EXPECT_NE(parse_error(bytes).find("larger than the file"), std::string::npos);
}

TEST(GgufTest, ReadsRealVocabFiles) {
  TERN_REQUIRE_ASSET("tokenizers/ggml-vocab-llama-spm.gguf");
  auto f = GgufFile::open(test::asset("tokenizers/ggml-vocab-llama-spm.gguf"));
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ((*f)->get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ((*f)->get_string_array("tokenizer.ggml.tokens")->size(), 32000u);
}

TEST(GgufTest, OpenMissingFileNamesIt) {
  auto f = GgufFile::open("/nonexistent/model.gguf");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);
  EXPECT_NE(f.status().message().find("/nonexistent/model.gguf"), std::string::npos);
}

}  // namespace
}  // namespace tern
