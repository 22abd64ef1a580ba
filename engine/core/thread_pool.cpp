#include "core/thread_pool.h"

#include <algorithm>
#include <cassert>
#include <chrono>

#if defined(__x86_64__)
#include <immintrin.h>
#define TERN_PAUSE() _mm_pause()
#else
#define TERN_PAUSE() ((void)0)
#endif

namespace tern {

namespace {
// A few µs of spinning before sleeping or yielding: covers the gap between
// two regions of one forward pass without burning a core another process needs.
constexpr int kSpinIterations = 4000;
// Waits until done() holds: spins briefly, then yields the core, and
// returns the nanoseconds waited (the region's synchronization cost).
template <typename Done>
uint64_t spin_then_yield(Done done) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int spin = 0; !done(); ++spin) {
    if (spin < kSpinIterations) {
      TERN_PAUSE();
    } else {
      std::this_thread::yield();
    }
  }
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
}
// Regions are published like a seqlock: the caller makes the epoch odd,
// writes the region's fields (job_, shared_, pending_ / open_, stop_), then
// makes it even. A worker acts on an even epoch only after checking that the
// fields it read still belong to it, so a worker that wakes late can never
// run a newer region under an older epoch (and then run it again: pending_
// went to -1 and run() waited forever, seen once under ASan).
void begin_region(std::atomic<uint32_t>& epoch) {
  epoch.fetch_add(1, std::memory_order_relaxed);  // odd: fields being written
  std::atomic_thread_fence(std::memory_order_release);
}

void publish_region(std::atomic<uint32_t>& epoch) {
  epoch.fetch_add(1, std::memory_order_release);  // even: the region is open
  epoch.notify_all();
}

using Job = const std::function<void(int, int)>*;
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  for (int i = 1; i < n_threads_; ++i) threads_.emplace_back([this, i] { worker_main(i); });
}

ThreadPool::~ThreadPool() {
  begin_region(epoch_);
  stop_.store(true, std::memory_order_relaxed);
  publish_region(epoch_);
  for (auto& t : threads_) t.join();
}


void ThreadPool::worker_main(int index) {
  uint32_t seen = 0;
  for (;;) {
    uint32_t e = epoch_.load(std::memory_order_acquire);
    for (int spin = 0; (e == seen || (e & 1u)) && spin < 4 * kSpinIterations; ++spin) {
      if (spin < kSpinIterations) {
        TERN_PAUSE();
      } else {
        std::this_thread::yield();
      }
      e = epoch_.load(std::memory_order_acquire);
    }
    if (e == seen) {
      epoch_.wait(seen, std::memory_order_acquire);
      continue;
    }
    if (e & 1u) {  // the caller is writing the next region's fields
      std::this_thread::yield();
      continue;
    }
    // Read the region, then check that it is still region `e`: the caller
    // may already be writing a newer one (this worker woke late).
    const bool stop = stop_.load(std::memory_order_relaxed);
    const bool shared = shared_.load(std::memory_order_relaxed);
    const Job job = std::atomic_ref<Job>(job_).load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (epoch_.load(std::memory_order_relaxed) != e) continue;
    seen = e;
    if (stop) return;
    if (shared) {
      // seq_cst pairs with the caller's close-then-check (see run_shared).
      active_.fetch_add(1, std::memory_order_seq_cst);
      if (open_.load(std::memory_order_seq_cst) && epoch_.load(std::memory_order_seq_cst) == e) (*job)(index, n_threads_);
      active_.fetch_sub(1, std::memory_order_seq_cst);
    } else {
      // A run() region cannot end (nor a newer one begin) before every
      // worker has counted itself out here.
      (*job)(index, n_threads_);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }
}

void ThreadPool::run_shared(const std::function<void(int, int)>& fn) {
  ++regions_;
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  begin_region(epoch_);
  std::atomic_ref<Job>(job_).store(&fn, std::memory_order_relaxed);
  shared_.store(true, std::memory_order_relaxed);
  open_.store(true, std::memory_order_seq_cst);
  publish_region(epoch_);
  fn(0, n_threads_);
  // Close, then wait for those inside. A worker that increments active_
  // after our load below sees open_ == false (seq_cst order) and skips.
  open_.store(false, std::memory_order_seq_cst);
  wait_ns_ += spin_then_yield([&] { return active_.load(std::memory_order_seq_cst) == 0; });
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  ++regions_;
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  begin_region(epoch_);
  std::atomic_ref<Job>(job_).store(&fn, std::memory_order_relaxed);
  shared_.store(false, std::memory_order_relaxed);
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  publish_region(epoch_);
  fn(0, n_threads_);
  // Spin briefly, then yield: on an oversubscribed machine (a server and its
  // clients on 2 cores) a pure spin would keep a late worker off the CPU.
  wait_ns_ += spin_then_yield([&] { return pending_.load(std::memory_order_acquire) == 0; });
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t blocks = (n + grain - 1) / grain;
  if (n_threads_ == 1 || blocks == 1) {
    fn(0, n, 0);
    return;
  }
  // Chunks are claimed dynamically so that a worker that is not running
  // right now (oversubscribed cores) leaves its share to the others.
  const int64_t chunks = std::min<int64_t>(blocks, 4 * int64_t{n_threads_});
  std::atomic<int64_t> next{0};
  run_shared([&](int ti, int) {
    for (int64_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < chunks;) {
      const int64_t b0 = blocks * c / chunks, b1 = blocks * (c + 1) / chunks;
      const int64_t begin = b0 * grain, end = std::min(n, b1 * grain);
      if (begin < end) fn(begin, end, ti);
    }
  });
}

}  // namespace tern
