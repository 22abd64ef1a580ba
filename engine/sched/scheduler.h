// Scheduler: iteration-level continuous batching over a paged KV cache.
//
// Usage (the engine loop; a ModelRunner does the arithmetic):
//
//   Scheduler sched(config);
//   Result<SeqId> id = sched.add(prompt, sampling, stop);   // status if it can never fit
//   while (sched.has_work()) {
//     ScheduledBatch batch = sched.schedule();
//     // for each copy in batch.copies: copy block src -> dst (all layers), in order
//     // for each ScheduledSeq e in batch.seqs:
//     //   const Sequence& s = *sched.find(e.seq_id);
//     //   const BlockTable& t = sched.block_table(e.seq_id);
//     //   tokens    s.tokens()[e.start, e.start + e.num_tokens)
//     //   positions e.start .. e.start + e.num_tokens - 1
//     //   K/V slots t.slot(p, block_size) for those positions (write)
//     //   context   t.blocks, positions [0, e.start + e.num_tokens) (read)
//     //   if e.sample: sample a token from the logits of the last position
//     std::vector<TokenId> sampled = runner.run(batch);      // one per entry
//     for (const SeqOutput& o : sched.postprocess(batch, sampled)) stream(o);
//   }
//
// Each schedule() step, under max_batch_tokens and max_num_seqs:
//   1. running sequences that decode (one token each), then running sequences
//      with prefill left (a chunk each, up to the remaining token budget:
//      chunked prefill), each group in (priority, arrival) order;
//   2. when a running sequence finds no free block, the running sequence with
//      the largest (priority, arrival), possibly itself, is preempted: its
//      blocks are freed and it waits to be recomputed, generated tokens kept
//      (its already-scheduled work this step, if any, is withdrawn);
//   3. if nobody was preempted, waiting sequences in (priority, arrival) order
//      are admitted while blocks, budget and max_num_seqs allow: each adopts
//      its longest cached prefix and gets a first chunk. Admission stops at the
//      first that does not fit (no overtaking, so large requests do not
//      starve).
// Under the FCFS policy priority is ignored (all 0). A sequence alone always
// fits: add() rejects prompts longer than the context, and a sequence is
// finished (kLength) when it outgrows it. So some sequence always progresses
// and schedule() returns work whenever has_work().
//
// postprocess() advances num_computed_tokens, registers blocks that became
// full in the prefix cache, appends sampled tokens and applies stop rules:
// EOS (unless ignore_eos), max_tokens, context full, and the engine's stop
// hook (stop strings are matched on text, which the scheduler never sees).
// Finished sequences free their blocks and are forgotten; their last
// SeqOutput carries the reason.
//
// Errors: bad requests get a status from add(); unknown ids a NotFound from
// cancel()/finish()/fork(). Misuse (schedule() twice without postprocess(),
// wrong number of sampled tokens) is asserted.
// Thread safety: none. One engine thread calls everything; cancel()/finish()
// may come between schedule() and postprocess() as long as the batch's
// forward pass is over (postprocess() then skips the sequence).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "kv/block_manager.h"
#include "sched/sequence.h"
#include "tern/status.h"
#include "tern/types.h"

namespace tern {

enum class SchedulePolicy {
  kFcfs,      // arrival order
  kPriority,  // Sequence::priority() first (lower first), then arrival
};

struct SchedulerConfig {
  int32_t num_blocks = 0;           // KV pool size, in blocks
  int32_t block_size = 16;          // token slots per block
  int32_t max_batch_tokens = 2048;  // tokens computed per step, all sequences together
  int32_t max_num_seqs = 256;       // running sequences at once
  int32_t max_model_len = 0;        // context per sequence; 0 or more than the pool: the pool
  bool enable_prefix_caching = true;
  SchedulePolicy policy = SchedulePolicy::kFcfs;
  std::vector<TokenId> eos_tokens;  // any of them stops a sequence (unless ignore_eos)
  uint64_t model_salt = 0;          // identity of weights + adapter, mixed into every prefix hash
};

// Work for one sequence in one step: compute positions [start, start + num_tokens).
struct ScheduledSeq {
  SeqId seq_id = -1;
  int32_t start = 0;       // == num_computed_tokens before the step
  int32_t num_tokens = 0;  // 1 for a decode; 1 + num_draft for a speculative decode
  bool sample = false;     // the chunk reaches the newest token: sample after it
  // Speculative decoding: slots reserved after the newest token for this many
  // draft tokens (positions start + 1 .. start + num_draft), verified in the
  // same pass. Slots of drafts the target rejects are rolled back by
  // postprocess().
  int32_t num_draft = 0;
};

// Draft slots a decoding sequence asks for in schedule().
struct DraftSlots {
  SeqId seq_id = -1;
  int32_t num_draft = 0;
};

struct ScheduledBatch {
  std::vector<ScheduledSeq> seqs;
  std::vector<BlockCopy> copies;   // copy-on-write, to run in order before the forward pass
  std::vector<SeqId> preempted;    // preempted while building this batch (informational)
  int32_t num_tokens = 0;          // sum of seqs[i].num_tokens <= max_batch_tokens
  bool empty() const { return seqs.empty(); }
};

// What postprocess() reports for each sampled token.
struct SeqOutput {
  SeqId seq_id = -1;
  TokenId token = -1;
  FinishReason finish = FinishReason::kNone;  // kNone: still running
};

struct SchedulerStats {
  int32_t num_running = 0;
  int32_t num_waiting = 0;            // including preempted
  float kv_usage = 0.0f;              // fraction of blocks referenced
  int64_t prefix_query_tokens = 0;    // vLLM: prefix_cache_queries
  int64_t prefix_hit_tokens = 0;      // vLLM: prefix_cache_hits
  int64_t num_preemptions = 0;
  int64_t num_steps = 0;
  int64_t prompt_tokens = 0;          // computed by prefill chunks (recomputation included)
  int64_t generation_tokens = 0;      // sampled
  int64_t num_finished = 0;           // sequences finished, cancelled ones included
};

class Scheduler {
 public:
  // Called after each token is appended; true finishes the sequence (kStop).
  using StopHook = std::function<bool(const Sequence&)>;

  explicit Scheduler(SchedulerConfig config);

  const SchedulerConfig& config() const { return config_; }
  // Tokens one sequence can hold: min(max_model_len, pool).
  int32_t max_context() const { return max_context_; }

  // Queues a request. InvalidArgument for an empty prompt or max_tokens == 0
  // or < -1; OutOfRange for a prompt longer than max_context() (it could
  // never be computed). `salt` separates prefix-cache tenants (0: shared).
  Result<SeqId> add(std::vector<TokenId> prompt, SamplingParams sampling = {}, StopRules stop = {},
                    int32_t priority = 0, uint64_t salt = 0);

  // Finishes a waiting or running sequence now and frees its blocks.
  Status cancel(SeqId id) { return finish(id, FinishReason::kCancelled); }
  Status finish(SeqId id, FinishReason reason);

  // A running or waiting copy of `parent` under a new id, sharing its blocks
  // (parallel sampling); the shared partial block is copied on write.
  // ResourceExhausted when max_num_seqs are running. Not between schedule()
  // and postprocess().
  Result<SeqId> fork(SeqId parent);

  void set_stop_hook(StopHook hook) { stop_hook_ = std::move(hook); }

  // `drafts`: decoding sequences that verify draft tokens this step. Each gets
  // up to num_draft extra slots, fewer when the token budget, the context or
  // the free blocks do not allow them (draft slots never preempt anyone).
  ScheduledBatch schedule(std::span<const DraftSlots> drafts = {});
  // sampled[i] is the token drawn for batch.seqs[i]; ignored where !sample.
  std::vector<SeqOutput> postprocess(const ScheduledBatch& batch, std::span<const TokenId> sampled);
  // Speculative form: tokens[i] are the tokens batch.seqs[i] produced, the
  // kept drafts then one more (1 + kept <= 1 + num_draft; ignored where
  // !sample). Positions of rejected drafts are rolled back: the sequence
  // counts as computed up to its kept tokens and blocks past them are freed.
  // Stop rules apply token by token; tokens after a stop are dropped. One
  // SeqOutput per appended token.
  std::vector<SeqOutput> postprocess(const ScheduledBatch& batch, std::span<const std::vector<TokenId>> tokens);

  bool has_work() const { return !running_.empty() || !waiting_.empty(); }
  // nullptr once finished (or never added).
  const Sequence* find(SeqId id) const;
  const BlockTable& block_table(SeqId id) const { return blocks_.table(id); }
  const BlockManager& block_manager() const { return blocks_; }
  std::span<Sequence* const> running() const { return running_; }
  std::span<Sequence* const> waiting() const { return waiting_; }

  SchedulerStats stats() const;

  // BlockManager invariants, and: queues sorted and agreeing with statuses;
  // running sequences hold blocks for exactly their computed tokens (at least,
  // while a batch is in flight); waiting ones hold none; no live sequence
  // exceeds max_context(); at most max_num_seqs running.
  Status check_invariants() const;

 private:
  bool before(const Sequence* a, const Sequence* b) const;  // (priority, arrival) order
  void insert_sorted(std::vector<Sequence*>& queue, Sequence* s) const;
  static void remove(std::vector<Sequence*>& queue, Sequence* s);
  // Running sequence last in (priority, arrival) order.
  Sequence* pick_victim() const;
  void preempt(Sequence* s, ScheduledBatch* batch, int32_t* budget);
  void schedule_running(ScheduledBatch* batch, int32_t* budget, std::span<const DraftSlots> drafts);
  void admit_waiting(ScheduledBatch* batch, int32_t* budget);
  FinishReason stop_reason(const Sequence& s) const;
  void release(Sequence* s, FinishReason reason);  // free blocks, unqueue, forget

  SchedulerConfig config_;
  int32_t max_context_;
  BlockManager blocks_;
  std::unordered_map<SeqId, std::unique_ptr<Sequence>> seqs_;
  std::vector<Sequence*> running_;  // sorted by before()
  std::vector<Sequence*> waiting_;  // sorted by before()
  StopHook stop_hook_;
  SeqId next_id_ = 0;
  uint64_t next_arrival_ = 0;
  bool in_flight_ = false;
  int64_t num_preemptions_ = 0;
  int64_t num_steps_ = 0;
  int64_t prompt_tokens_ = 0;
  int64_t generation_tokens_ = 0;
  int64_t num_finished_ = 0;
};

}  // namespace tern
