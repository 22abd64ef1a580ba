// Model-shaped matmul benchmark: the linear layers of "bench-110m" (dim 768,
// FFN 2048, 12 layers, vocab 32000), run as decode (1 token) and prompt
// processing (512 tokens) with the real ThreadPool.
//
//   matmul_bench [threads=2] [types=F32,F16,Q8_0,Q4_0,Q4_K,Q6_K] [reps=5]
//
// Prints per type and ISA: decode tok/s (matmuls only) and the weight-streaming
// rate in GB/s (the decode roofline is ~67 GB/s at 2 threads on the reference
// machine); pp512 tok/s and GFLOP/s (2*rows*cols per token per matrix).
// Each figure is the median of `reps` runs, with min..max in brackets.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"

using namespace tern;
using namespace tern::kernels;

namespace {

struct Mat {
  std::vector<uint8_t> data;
  int64_t rows, cols;
  std::vector<uint8_t> packed;  // kRows16 copy when can_repack()
};

Mat make(GgmlType t, int64_t rows, int64_t cols, std::mt19937& rng) {
  Mat m{std::vector<uint8_t>(size_t(row_bytes(t, cols) * rows) + 64), rows, cols, {}};
  std::normal_distribution<float> g(0, 0.05f);
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (auto& v : row) v = g(rng);
    quantize_row(t, row.data(), m.data.data() + r * row_bytes(t, cols), cols);
  }
  if (can_repack(t)) {
    m.packed.resize(size_t(repacked_bytes(t, rows, cols)));
    repack({t, m.data.data(), rows, cols}, m.packed.data());
  }
  return m;
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
// Process CPU seconds: on a machine shared with other jobs, work / (cpu / threads)
// estimates the uncontended rate (exact at 1 thread; at more threads it
// counts spin-waiting as work, so it is a lower bound).
double cpu() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct Stat {
  double med, lo, hi;
};
Stat stat(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  std::string types = argc > 2 ? argv[2] : "F32,F16,Q8_0,Q4_0,Q4_K,Q6_K";
  const int reps = argc > 3 ? std::atoi(argv[3]) : 5;
  ThreadPool pool(threads);
  const int64_t dim = 768, ffn = 2048, layers = 12, vocab = 32000, pp = 512;

  for (size_t pos = 0; pos < types.size();) {
    size_t end = types.find(',', pos);
    if (end == std::string::npos) end = types.size();
    const std::string name = types.substr(pos, end - pos);
    pos = end + 1;
    GgmlType t = GgmlType::F32;
    bool found = false;
    for (uint32_t id = 0; id < 40; ++id)
      if (type_traits(id).name == name) t = GgmlType(id), found = true;
    if (!found || !matmul_supported(t)) {
      std::printf("%s: unsupported\n", name.c_str());
      continue;
    }
    std::mt19937 rng(1);
    // One layer's distinct shapes, reused by all 12 layers for the timing
    // except that each layer gets its own copy so decode streams from DRAM.
    std::vector<Mat> mats;
    for (int l = 0; l < layers; ++l) {
      for (int i = 0; i < 4; ++i) mats.push_back(make(t, dim, dim, rng));  // wq wk wv wo
      mats.push_back(make(t, ffn, dim, rng));                              // w1 (gate)
      mats.push_back(make(t, ffn, dim, rng));                              // w3 (up)
      mats.push_back(make(t, dim, ffn, rng));                              // w2 (down)
    }
    mats.push_back(make(t, vocab, dim, rng));  // output
    double bytes = 0, flops_per_tok = 0;
    for (auto& m : mats) bytes += double(m.data.size() - 64), flops_per_tok += 2.0 * double(m.rows * m.cols);

    std::vector<float> x(size_t(pp * ffn)), y(size_t(pp * vocab));
    std::normal_distribution<float> g(0, 1);
    for (auto& v : x) v = g(rng);

    for (int variant = 0; variant < 3; ++variant) {
      const Isa isa = variant == 0 ? Isa::kAvx2 : Isa::kAvx512;
      const bool packed = variant == 2;
      if (isa > detected_isa() || (packed && !can_repack(t))) continue;
      set_isa(isa);
      auto pass = [&](int64_t n_tok) {
        for (auto& m : mats) {
          WeightView W{t, m.data.data(), m.rows, m.cols};
          if (packed) W = {t, m.packed.data(), m.rows, m.cols, Layout::kRows16};
          matmul(pool, W, x.data(), n_tok, y.data());
        }
      };
      pass(1);
      std::vector<double> dec, pre, decc, prec;
      for (int r = 0; r < reps; ++r) {
        const int iters = 20;
        double t0 = now(), c0 = cpu();
        for (int i = 0; i < iters; ++i) pass(1);
        dec.push_back(iters / (now() - t0));
        decc.push_back(iters / ((cpu() - c0) / threads));
      }
      for (int r = 0; r < std::max(1, reps / 2); ++r) {
        double t0 = now(), c0 = cpu();
        pass(pp);
        pre.push_back(pp / (now() - t0));
        prec.push_back(pp / ((cpu() - c0) / threads));
      }
      Stat d = stat(dec), p = stat(pre), dc = stat(decc), pc = stat(prec);
      std::printf("%-5s %-6s%s t=%d  decode %7.1f tok/s [%.1f..%.1f]  %5.1f GB/s   pp512 %7.1f tok/s [%.1f..%.1f]  %6.1f GFLOP/s\n",
                  name.c_str(), isa_name(isa), packed ? "+rp" : "   ", threads, d.med, d.lo, d.hi, d.med * bytes / 1e9, p.med, p.lo, p.hi,
                  p.med * flops_per_tok / 1e9);
      std::printf("      by CPU time:      decode %7.1f tok/s %5.1f GB/s   pp512 %7.1f tok/s  %6.1f GFLOP/s\n", dc.med,
                  dc.med * bytes / 1e9, pc.med, pc.med * flops_per_tok / 1e9);
      std::fflush(stdout);
    }
  }
  return 0;
}
