// matmul dispatch: picks the ISA kernel for the weight type, pre-processes
// (quantizes) the activations and splits output rows across the pool, all in
// one parallel region per call.
#include "kernels/matmul.h"

#include <algorithm>
#include <atomic>
#include <cpuid.h>
#include <cassert>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

#include "kernels/matmul_impl.h"
#include "kernels/quant.h"

namespace tern::kernels {
namespace {

// F16C via cpuid: clang's __builtin_cpu_supports does not know "f16c".
bool has_f16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
}

Isa detect() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bf16"))
    return Isa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c())
    return Isa::kAvx2;
  return Isa::kScalar;
}

Isa initial_isa() {
  Isa isa = detect();
  // TERN_ISA=scalar|avx2|avx512 caps the path (debugging, A/B timing).
  if (const char* e = std::getenv("TERN_ISA")) {
    Isa want = std::strcmp(e, "scalar") == 0 ? Isa::kScalar : std::strcmp(e, "avx2") == 0 ? Isa::kAvx2 : isa;
    isa = std::min(isa, want);
  }
  return isa;
}

std::atomic<Isa> g_isa{initial_isa()};

const detail::TypeKernel* pick(Isa isa, GgmlType t, Layout layout, int64_t n_tok) {
  const detail::TypeKernel* k = nullptr;
  if (isa >= Isa::kAvx512) k = detail::avx512_kernel(t, layout, n_tok);
  if (!k && isa >= Isa::kAvx2) k = detail::avx2_kernel(t, layout);
  if (!k) k = detail::ref_kernel(t);
  return k;
}

// Per-caller-thread scratch for quantized activations, 64-byte aligned.
struct Scratch {
  std::unique_ptr<uint8_t[], void (*)(void*)> buf{nullptr, std::free};
  size_t cap = 0;
  uint8_t* get(size_t n) {
    if (n > cap) {
      cap = std::max(n, cap * 3 / 2);
      cap = (cap + 63) & ~size_t(63);
      buf.reset(static_cast<uint8_t*>(std::aligned_alloc(64, cap)));
    }
    return buf.get();
  }
};

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "?";
}

Isa detected_isa() {
  static const Isa isa = detect();
  return isa;
}
Isa active_isa() { return g_isa.load(std::memory_order_relaxed); }
Isa set_isa(Isa isa) {
  isa = std::min(isa, detected_isa());
  g_isa.store(isa, std::memory_order_relaxed);
  return isa;
}

bool matmul_supported(GgmlType t) { return detail::ref_kernel(t) != nullptr; }

void matmul(ThreadPool& pool, const WeightView& W, const float* X, int64_t n_tok, float* Y) {
  assert(matmul_supported(W.type));
  assert(W.cols % type_traits(W.type).block_elems == 0);
  if (n_tok <= 0 || W.rows <= 0) return;
  const detail::TypeKernel* k = pick(active_isa(), W.type, W.layout, n_tok);

  detail::GemmArgs a{&W, X, nullptr, 0, n_tok, Y};
  const int64_t abytes = k->act_bytes(W.cols);
  thread_local Scratch scratch;
  uint8_t* act = nullptr;
  if (abytes > 0) {
    a.act_stride = (abytes + 63) & ~int64_t(63);
    act = scratch.get(size_t(a.act_stride * n_tok));
    a.act = act;
  }

  const int nt = pool.size();
  const int64_t grain = k->row_grain;
  const int64_t row_blocks = (W.rows + grain - 1) / grain;
  // Small activations are quantized by the caller before the region (a
  // barrier inside the region costs more than the work); large ones in it.
  const bool prep_inside = abytes > 0 && nt > 1 && n_tok * W.cols >= (1 << 16);
  if (abytes > 0 && !prep_inside)
    for (int64_t t = 0; t < n_tok; ++t) k->prep(X + t * W.cols, W.cols, act + t * a.act_stride);

  if (nt == 1 || row_blocks == 1) {
    if (prep_inside)
      for (int64_t t = 0; t < n_tok; ++t) k->prep(X + t * W.cols, W.cols, act + t * a.act_stride);
    k->gemm(a, 0, W.rows);
    return;
  }
  // Work is claimed in chunks from shared counters rather than split
  // statically: a worker the OS has not scheduled yet (a loaded machine, a
  // server sharing cores with its clients) then delays nobody, because the
  // running threads take its share. The only wait is for activation chunks
  // already being quantized.
  const int64_t chunks = std::min<int64_t>(row_blocks, 4 * int64_t{nt});
  std::atomic<int64_t> next_prep{0}, prepped{0}, next_chunk{0};
  constexpr int64_t kPrepChunk = 4;  // tokens per activation-quantization claim
  pool.run_shared([&](int, int) {
    if (prep_inside) {
      for (int64_t t0; (t0 = next_prep.fetch_add(kPrepChunk, std::memory_order_relaxed)) < n_tok;) {
        const int64_t t1 = std::min(n_tok, t0 + kPrepChunk);
        for (int64_t t = t0; t < t1; ++t) k->prep(X + t * W.cols, W.cols, act + t * a.act_stride);
        prepped.fetch_add(t1 - t0, std::memory_order_acq_rel);
      }
      for (int spin = 0; prepped.load(std::memory_order_acquire) < n_tok; ++spin) {
        if (spin < 2000) {
          __builtin_ia32_pause();
        } else {
          std::this_thread::yield();
        }
      }
    }
    for (int64_t c; (c = next_chunk.fetch_add(1, std::memory_order_relaxed)) < chunks;) {
      const int64_t b0 = row_blocks * c / chunks, b1 = row_blocks * (c + 1) / chunks;
      const int64_t r0 = b0 * grain, r1 = std::min(W.rows, b1 * grain);
      if (r0 < r1) k->gemm(a, r0, r1);
    }
  });
}

}  // namespace tern::kernels
