// Engine::Impl — the engine loop: a Scheduler decides each step's work, a
// ModelRunner computes it, Samplers pick tokens, events go to callbacks.
// Private to engine/api.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "core/thread_pool.h"
#include "model/kv_pool.h"
#include "model/model.h"
#include "model/model_runner.h"
#include "model/score_runner.h"
#include "sample/sampler.h"
#include "sample/stop.h"
#include "sched/scheduler.h"
#include "spec/speculator.h"
#include "tern/engine.h"

namespace tern {

using Clock = std::chrono::steady_clock;

class Engine::Impl {
 public:
  static Result<std::unique_ptr<Impl>> create(const EngineOptions& options);
  ~Impl();

  Result<RequestId> submit(GenerationRequest request, EventCallback on_event);
  Result<std::vector<RequestId>> submit_batch(std::vector<GenerationRequest> requests, EventCallback on_event);
  void cancel(RequestId id);
  EngineStats stats() const;
  const ModelInfo& model_info() const { return info_; }
  const Model& model() const { return *model_; }

 private:
  // A request between submit() and the engine thread picking it up.
  struct Pending {
    RequestId id;
    std::vector<TokenId> prompt;
    GenerationRequest request;
    EventCallback on_event;
    Clock::time_point arrival;
  };
  // Engine-thread state of an admitted request.
  struct Active {
    RequestId id;
    EventCallback on_event;
    std::unique_ptr<Sampler> sampler;
    std::unique_ptr<StopMatcher> stop;
    int32_t n_probs = 0;
    Usage usage;
    Clock::time_point arrival;
    double queue_ms = -1;
    double ttft_ms = 0;
  };

  Impl() = default;
  void loop();
  void admit(Pending& p);
  void apply_cancels();
  void step();
  void embed(Pending& p);
  Result<std::vector<TokenId>> validate(GenerationRequest& r) const;
  void score(const std::vector<Pending*>& ps);
  void score_chunked(Pending& p);
  void finish_prompt_only(Pending& p, GenerationEvent& ev, const Status& st);
  // A cache outside the pool for requests that generate nothing, and its runner.
  struct Scratch {
    std::unique_ptr<KvPool> kv;
    std::unique_ptr<ModelRunner> runner;
  };
  ModelRunner& scratch(Scratch& s, int32_t n_tokens, KvType type);  // grown on demand
  void finish(SeqId seq, Active& a, FinishReason reason, Status error = {});
  void publish_stats();

  EngineOptions options_;
  ModelInfo info_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<KvPool> kv_;
  std::unique_ptr<ModelRunner> runner_;
  std::unique_ptr<Scheduler> sched_;
  std::unique_ptr<spec::Speculator> spec_;  // speculative decoding (drafters, cost model, per-sequence state)

  // Shared with submitting threads, under mu_.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> incoming_;
  std::vector<RequestId> cancels_;
  bool stop_ = false;
  RequestId next_id_ = 1;
  EngineStats stats_;
  int32_t n_active_ = 0;  // admitted, not finished (queue limit)

  // Engine thread only.
  std::unordered_map<SeqId, Active> active_;
  std::unordered_map<RequestId, SeqId> seq_of_;
  std::vector<float> logits_;
  Scratch scratch_;  // embeddings and prompt scoring: F32 K/V
  std::unique_ptr<ScoreRunner> scorer_;  // prompt scoring, made on first use
  int64_t prompt_tokens_ = 0, generation_tokens_ = 0, finished_ = 0;
  std::thread thread_;
};

}  // namespace tern
