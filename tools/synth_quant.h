// Shared by `tern synth` and `tern quantize`: the file types tern writes, the
// per-tensor type plan (llama.cpp's llama_tensor_get_type, restricted to the
// types tern has codecs for) and multi-threaded row quantization.
//
// Type plan, as llama-quantize without an imatrix (src/llama-quant.cpp):
//   - only 2-D tensors whose name ends in ".weight" are converted; 1-D tensors
//     (norms, biases) stay F32;
//   - F32 / F16 / BF16: every such matrix in that type, no mix;
//   - quantized types: output.weight becomes Q6_K unless the type is Q8_0
//     (Q8_0 if its rows are not a multiple of 256);
//   - Q4_K_M: attn_v and ffn_down of layer i are Q6_K when use_more_bits(i, n)
//     (the first and last eighth of the layers and every third one between),
//     everything else Q4_K (token_embd included);
//   - Q4_K and Q6_K are "pure" apart from output.weight (every matrix in that
//     type, like llama-quantize --pure plus the output rule);
//   - a row length that is not a multiple of the chosen type's block falls
//     back as llama.cpp does (Q4_K -> Q5_0, Q6_K -> Q8_0), except that tern
//     has no Q5_0 and uses Q8_0, and anything still misaligned becomes F16.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/ggml_type.h"

namespace tern::cli {

enum class FileType { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_K, kQ6_K, kQ4_K_M };

// "F32|F16|BF16|Q8_0|Q4_0|Q4_K|Q6_K|Q4_K_M" (case-insensitive on input).
std::optional<FileType> parse_file_type(const std::string& s);
const char* file_type_name(FileType t);
const char* file_type_list();
// general.file_type as llama.cpp numbers it (llama_ftype). Q4_K has no
// ftype of its own; it is recorded as MOSTLY_Q4_K_S (14), its closest.
uint32_t llama_ftype(FileType t);

// The layer index in "blk.N.xxx", or -1.
int layer_of(const std::string& name);
// llama.cpp's use_more_bits(i_layer, n_layers).
bool use_more_bits(int i_layer, int n_layers);

// Element type for one tensor of a file of type `ft` with n_layers blocks.
// ne0 is the row length; n_dims the tensor's rank.
GgmlType plan_tensor_type(FileType ft, const std::string& name, int n_dims, int64_t ne0, int n_layers);

// Quantize `rows` rows of `ne0` floats to `type`, rows split over the pool.
std::vector<uint8_t> quantize_rows(GgmlType type, const float* src, int64_t rows, int64_t ne0, ThreadPool& pool);

}  // namespace tern::cli
