// Drive an Engine synchronously from tests: submit requests, wait for their
// final events, collect tokens and text.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "tern/engine.h"

namespace tern::test {

struct Collected {
  std::vector<TokenId> tokens;
  std::string text;
  GenerationEvent last;
  bool done = false;
};

class Collector {
 public:
  // Returns an index into results(); the callback fills it.
  size_t add(Engine& engine, GenerationRequest req, Status* submit_status = nullptr, RequestId* id_out = nullptr) {
    std::lock_guard<std::mutex> lock(mu_);
    const size_t idx = results_.size();
    results_.emplace_back();
    auto id = engine.submit(std::move(req), [this, idx](const GenerationEvent& ev) {
      std::lock_guard<std::mutex> lock(mu_);
      Collected& c = results_[idx];
      c.tokens.insert(c.tokens.end(), ev.tokens.begin(), ev.tokens.end());
      c.text += ev.text;
      if (ev.finished) {
        c.last = ev;
        c.done = true;
        cv_.notify_all();
      }
    });
    if (submit_status) *submit_status = id.ok() ? Status::Ok() : id.status();
    if (!id.ok()) results_[idx].done = true;
    if (id_out && id.ok()) *id_out = *id;
    return idx;
  }
  void wait_all() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] {
      for (const auto& r : results_)
        if (!r.done) return false;
      return true;
    });
  }
  Collected get(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return results_[i];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Collected> results_;
};

}  // namespace tern::test
