// ThreadPool: a fixed set of workers that run one parallel region at a time.
//
// The caller thread is worker 0, so ThreadPool(n) starts n-1 threads.
// run(fn) calls fn(thread_index, n_threads) on every worker and returns when
// all are done. Workers spin briefly between regions (decode issues hundreds
// of small regions per token, and a futex round trip per region would cost
// more than the work), then sleep on an atomic wait.
//
// Thread safety: one caller at a time; run() is not re-entrant.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace tern {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // fn(thread_index, n_threads) on every worker, the caller included.
  void run(const std::function<void(int, int)>& fn);

  // Like run(), but only the caller is guaranteed to call fn: workers that
  // wake up while the region is still open join it, late ones skip it. For
  // work that threads claim from a shared counter, so that a worker the OS
  // has not scheduled (oversubscribed cores) never delays the caller. The
  // caller returns once every worker that joined has left fn.
  void run_shared(const std::function<void(int, int)>& fn);

  // Split [0, n) into contiguous chunks (up to 4 per worker), each a
  // multiple of `grain` (except the last), claimed dynamically by whichever
  // workers are running. fn(begin, end, thread_index); a thread index may
  // receive several chunks.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t, int)>& fn);

  // Regions run so far and nanoseconds the caller spent waiting for the
  // slowest worker (the synchronization cost made visible).
  uint64_t regions() const { return regions_; }
  uint64_t wait_ns() const { return wait_ns_; }

 private:
  void worker_main(int index);

  int n_threads_;
  std::vector<std::thread> threads_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint32_t> epoch_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> shared_{false};  // the current region is a run_shared one
  std::atomic<bool> open_{false};    // run_shared: late workers may still join
  std::atomic<int> active_{0};       // run_shared: workers inside fn
  std::atomic<bool> stop_{false};
  uint64_t regions_ = 0;
  uint64_t wait_ns_ = 0;
};

}  // namespace tern
