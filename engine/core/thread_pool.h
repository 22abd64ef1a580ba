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

  // Split [0, n) into contiguous chunks, one per worker, each a multiple of
  // `grain` (except the last). fn(begin, end, thread_index).
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
  std::atomic<bool> stop_{false};
  uint64_t regions_ = 0;
  uint64_t wait_ns_ = 0;
};

}  // namespace tern
