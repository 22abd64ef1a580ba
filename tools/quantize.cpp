// tern quantize IN.gguf OUT.gguf TYPE — convert a model's weight matrices
// (the type plan is in synth_quant.h, llama-quantize's rules). Metadata is
// copied verbatim except general.file_type / general.quantization_version;
// 1-D tensors are written as F32. Inputs already quantized are re-quantized
// only with --allow-requantize (quality loss compounds), as llama-quantize.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <map>
#include <thread>

#include "commands.h"
#include "gguf/gguf.h"
#include "kernels/quant.h"
#include "synth_quant.h"

namespace tern::cli {

int quantize_main(int argc, char** argv) {
  CLI::App app{"Quantize a GGUF model's weight matrices", "tern quantize"};
  std::string in_path, out_path, type_name;
  bool allow_requantize = false, quiet = false;
  int threads = 0, keep_layers = 0;
  app.add_option("input", in_path, "input GGUF")->required();
  app.add_option("output", out_path, "output GGUF")->required();
  app.add_option("type", type_name, std::string("target type: ") + file_type_list())->required();
  app.add_flag("--allow-requantize", allow_requantize, "accept inputs whose matrices are already quantized");
  app.add_option("-t,--threads", threads, "threads (0: all cores)")->capture_default_str();
  app.add_flag("-q,--quiet", quiet, "print only the totals");
  app.add_option("--keep-layers", keep_layers,
                 "keep only the first N transformer blocks (a cheap draft model for speculative decoding)")
      ->check(CLI::Range(1, 1 << 16));
  CLI11_PARSE(app, argc, argv);

  const auto ft = parse_file_type(type_name);
  if (!ft) {
    std::fprintf(stderr, "tern quantize: unknown type '%s' (use %s)\n", type_name.c_str(), file_type_list());
    return 2;
  }
  if (in_path == out_path) {
    std::fprintf(stderr, "tern quantize: output must differ from input (the input is memory-mapped)\n");
    return 2;
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto opened = GgufFile::open(in_path);
  if (!opened.ok()) {
    std::fprintf(stderr, "tern quantize: %s\n", opened.status().message().c_str());
    return 1;
  }
  const GgufFile& in = **opened;
  auto arch = in.get_string("general.architecture");
  int n_layers = 0;
  if (arch) n_layers = static_cast<int>(in.get_int(std::string(*arch) + ".block_count").value_or(0));
  for (const auto& t : in.tensors()) n_layers = std::max(n_layers, layer_of(t.name) + 1);
  if (keep_layers > 0 && (!arch || keep_layers > n_layers)) {
    std::fprintf(stderr, "tern quantize: --keep-layers %d: %s has %d layers\n", keep_layers, in_path.c_str(), n_layers);
    return 2;
  }
  const std::string block_count_key = arch ? std::string(*arch) + ".block_count" : "";
  auto dropped = [&](const std::string& name) { return keep_layers > 0 && layer_of(name) >= keep_layers; };
  if (keep_layers > 0) n_layers = keep_layers;

  // Validate every tensor before writing anything.
  for (const auto& t : in.tensors()) {
    const TypeTraits tt = type_traits(t.type);
    if (!kernels::can_dequantize(t.type)) {
      std::fprintf(stderr, "tern quantize: %s: tensor '%s' has type %s, which tern cannot read (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)\n",
                   in_path.c_str(), t.name.c_str(), std::string(tt.name).c_str());
      return 1;
    }
    if (tt.block_elems > 1 && !allow_requantize && plan_tensor_type(*ft, t.name, t.n_dims, t.ne[0], n_layers) != t.type) {
      std::fprintf(stderr, "tern quantize: %s: tensor '%s' is already %s; pass --allow-requantize to convert it anyway\n",
                   in_path.c_str(), t.name.c_str(), std::string(tt.name).c_str());
      return 1;
    }
    if (t.n_dims > 2 || (t.n_dims == 2 && t.ne[1] < 1)) {
      std::fprintf(stderr, "tern quantize: %s: tensor '%s' has %d dimensions; only vectors and matrices are supported\n",
                   in_path.c_str(), t.name.c_str(), t.n_dims);
      return 1;
    }
  }

  GgufWriter w;
  for (const auto& [k, v] : in.kvs()) {
    if (k == "general.file_type" || k == "general.quantization_version") continue;
    if (keep_layers > 0 && k == block_count_key) continue;
    w.copy_kv(k, v);
  }
  if (keep_layers > 0) w.set_u32(block_count_key, static_cast<uint32_t>(keep_layers));
  w.set_u32("general.file_type", llama_ftype(*ft));
  w.set_u32("general.quantization_version", 2);

  ThreadPool pool(threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  std::vector<float> f32;
  uint64_t in_bytes = 0, out_bytes = 0;
  std::map<std::string, std::pair<int, uint64_t>> by_type;
  if (!quiet) std::printf("%-32s %-14s %-7s %-7s %10s %10s\n", "tensor", "shape", "from", "to", "MiB in", "MiB out");
  for (const auto& t : in.tensors()) {
    if (dropped(t.name)) continue;
    const GgmlType to = plan_tensor_type(*ft, t.name, t.n_dims, t.ne[0], n_layers);
    const int64_t ne0 = t.ne[0], rows = t.n_elements() / ne0;
    std::vector<uint8_t> data;
    if (to == t.type) {
      data.assign(t.data, t.data + t.nbytes);
    } else {
      f32.resize(static_cast<size_t>(t.n_elements()));
      const int64_t in_rb = row_bytes(t.type, ne0);
      pool.parallel_for(rows, 1, [&](int64_t b, int64_t e, int) {
        for (int64_t r = b; r < e; ++r) kernels::dequantize_row(t.type, t.data + r * in_rb, f32.data() + r * ne0, ne0);
      });
      data = quantize_rows(to, f32.data(), rows, ne0, pool);
    }
    std::vector<int64_t> ne(t.ne, t.ne + std::max(1, t.n_dims));
    if (!quiet) {
      std::string shape = std::to_string(t.ne[0]) + (t.n_dims > 1 ? " x " + std::to_string(t.ne[1]) : "");
      std::printf("%-32s %-14s %-7s %-7s %10.2f %10.2f\n", t.name.c_str(), shape.c_str(),
                  std::string(type_traits(t.type).name).c_str(), std::string(type_traits(to).name).c_str(),
                  t.nbytes / 1048576.0, data.size() / 1048576.0);
    }
    in_bytes += t.nbytes;
    out_bytes += data.size();
    auto& e = by_type[std::string(type_traits(to).name)];
    e.first++;
    e.second += data.size();
    w.add_tensor(t.name, to, std::move(ne), std::move(data));
  }
  if (Status st = w.write(out_path); !st.ok()) {
    std::fprintf(stderr, "tern quantize: %s\n", st.message().c_str());
    return 1;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s -> %s (%s): %.2f MiB -> %.2f MiB in %.1f s\n", in_path.c_str(), out_path.c_str(),
              file_type_name(*ft), in_bytes / 1048576.0, out_bytes / 1048576.0, secs);
  for (const auto& [name, e] : by_type)
    std::printf("  %-6s %4d tensors %10.2f MiB\n", name.c_str(), e.first, e.second / 1048576.0);
  return 0;
}

}  // namespace tern::cli
