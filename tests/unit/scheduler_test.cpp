// Scheduler traces: continuous batching, chunked prefill, preemption,
// cancellation, prefix reuse, copy-on-write, priority, and a randomized trace.
//
// FakeRunner stands in for the ModelRunner and the KV pool. Each slot stores
// (position, token); a step executes the batch's copies, writes the scheduled
// positions through the block table, and "attends" by reading the whole
// context back through the block table. The next token is a pure function of
// (sequence id, context), so any schedule must give the same outputs, and a
// bookkeeping error (a block freed or reused while in use, a missed copy, a
// wrong adoption) shows up as a context that differs from the sequence.
#include "sched/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <vector>

namespace tern {
namespace {

constexpr TokenId kVocab = 1000;

TokenId next_token(SeqId id, std::span<const TokenId> ctx) {
  uint64_t h = 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(id + 1);
  for (TokenId t : ctx) {
    h ^= static_cast<uint32_t>(t);
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 29;
  }
  return static_cast<TokenId>(h % kVocab);
}

std::vector<TokenId> iota_tokens(int n, TokenId first = 100) {
  std::vector<TokenId> t(n);
  std::iota(t.begin(), t.end(), first);
  return t;
}

class FakeRunner {
 public:
  FakeRunner(int32_t num_blocks, int32_t block_size)
      : bs_(block_size), kv_(static_cast<size_t>(num_blocks) * block_size, kEmpty) {}

  // Executes one batch; returns one token per entry (-1 where !sample).
  std::vector<TokenId> run(const Scheduler& s, const ScheduledBatch& b) {
    for (const BlockCopy& c : b.copies) {
      std::copy_n(&kv_[static_cast<size_t>(c.src) * bs_], bs_, &kv_[static_cast<size_t>(c.dst) * bs_]);
    }
    for (const ScheduledSeq& e : b.seqs) {
      const Sequence* seq = s.find(e.seq_id);
      const BlockTable& t = s.block_table(e.seq_id);
      EXPECT_GE(static_cast<int64_t>(t.blocks.size()) * bs_, e.start + e.num_tokens);
      for (int32_t p = e.start; p < e.start + e.num_tokens; ++p) {
        if (s.block_manager().allocator().ref_count(t.blocks[p / bs_]) != 1) {
          ADD_FAILURE() << "write into a shared block, seq " << e.seq_id << " pos " << p;
        }
        kv_[t.slot(p, bs_)] = encode(p, seq->tokens()[p]);
      }
    }
    std::vector<TokenId> out;
    for (const ScheduledSeq& e : b.seqs) {
      if (!e.sample) {
        out.push_back(-1);
        continue;
      }
      const std::vector<TokenId> ctx = read_context(s, e.seq_id, e.start + e.num_tokens);
      const Sequence* seq = s.find(e.seq_id);
      EXPECT_TRUE(ctx.size() == static_cast<size_t>(e.start + e.num_tokens) &&
                  std::equal(ctx.begin(), ctx.end(), seq->tokens().begin()))
          << "seq " << e.seq_id;
      out.push_back(next_token(e.seq_id, ctx));
    }
    return out;
  }

  // The KV of every running sequence's computed positions is its tokens.
  void check_running(const Scheduler& s) {
    for (const Sequence* seq : s.running()) {
      const std::vector<TokenId> ctx = read_context(s, seq->id(), seq->num_computed_tokens());
      ASSERT_TRUE(ctx.size() == static_cast<size_t>(seq->num_computed_tokens()) &&
                  std::equal(ctx.begin(), ctx.end(), seq->tokens().begin()))
          << "KV of seq " << seq->id();
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~0ull;
  static uint64_t encode(int32_t pos, TokenId t) {
    return (static_cast<uint64_t>(pos) << 32) | static_cast<uint32_t>(t);
  }

  std::vector<TokenId> read_context(const Scheduler& s, SeqId id, int32_t n) {
    const BlockTable& t = s.block_table(id);
    std::vector<TokenId> ctx;
    ctx.reserve(n);
    for (int32_t p = 0; p < n; ++p) {
      const uint64_t v = kv_[t.slot(p, bs_)];
      if (static_cast<int32_t>(v >> 32) != p) {
        ADD_FAILURE() << "seq " << id << ": the slot of position " << p << " holds another position";
        break;
      }
      ctx.push_back(static_cast<TokenId>(static_cast<uint32_t>(v)));
    }
    return ctx;
  }

  int32_t bs_;
  std::vector<uint64_t> kv_;
};

// Drives a Scheduler with a FakeRunner, checking invariants after each phase.
struct Sim {
  explicit Sim(SchedulerConfig c) : sched(c), runner(c.num_blocks, c.block_size), config(std::move(c)) {}

  SeqId add(std::vector<TokenId> prompt, int32_t max_tokens = -1, int32_t priority = 0, bool ignore_eos = false) {
    StopRules stop;
    stop.max_tokens = max_tokens;
    stop.ignore_eos = ignore_eos;
    Result<SeqId> id = sched.add(prompt, SamplingParams::greedy(), stop, priority);
    EXPECT_TRUE(id.ok()) << id.status().message();
    start_tokens[*id] = std::move(prompt);
    return *id;
  }

  void check_batch(const ScheduledBatch& b) {
    ASSERT_LE(b.num_tokens, config.max_batch_tokens);
    ASSERT_LE(static_cast<int32_t>(b.seqs.size()), config.max_num_seqs);
    int32_t sum = 0;
    std::set<SeqId> ids;
    for (const ScheduledSeq& e : b.seqs) {
      const Sequence* s = sched.find(e.seq_id);
      ASSERT_NE(s, nullptr);
      ASSERT_TRUE(ids.insert(e.seq_id).second) << "seq scheduled twice";
      ASSERT_EQ(s->status(), SequenceStatus::kRunning);
      ASSERT_EQ(e.start, s->num_computed_tokens());
      ASSERT_GE(e.num_tokens, 1);
      ASSERT_LE(e.start + e.num_tokens, s->num_tokens());
      ASSERT_EQ(e.sample, e.start + e.num_tokens == s->num_tokens());
      sum += e.num_tokens;
    }
    ASSERT_EQ(sum, b.num_tokens);
    for (SeqId id : b.preempted) ASSERT_EQ(ids.count(id), 0u);
  }

  void check() {
    const Status st = sched.check_invariants();
    ASSERT_TRUE(st.ok()) << "step " << steps << ": " << st.message();
  }

  // One engine step. `between` runs after the forward, before postprocess.
  ScheduledBatch step(const std::function<void()>& between = {}) {
    const bool had_work = sched.has_work();
    ScheduledBatch b = sched.schedule();
    ++steps;
    if (had_work) {
      EXPECT_FALSE(b.empty() && b.preempted.empty()) << "stalled at step " << steps;
    }
    check_batch(b);
    check();
    const std::vector<TokenId> sampled = runner.run(sched, b);
    if (between) between();
    for (const SeqOutput& o : sched.postprocess(b, sampled)) {
      EXPECT_EQ(finished.count(o.seq_id), 0u) << "output after finish";
      outputs[o.seq_id].push_back(o.token);
      if (o.finish != FinishReason::kNone) finished[o.seq_id] = o.finish;
    }
    check();
    runner.check_running(sched);
    return b;
  }

  void run_until_idle(int max_steps = 10000) {
    while (sched.has_work() && steps < max_steps && !::testing::Test::HasFatalFailure()) step();
    EXPECT_FALSE(sched.has_work()) << "not done after " << max_steps << " steps";
    if (sched.has_work()) {  // say what is stuck
      for (const Sequence* s : sched.running()) {
        std::printf("running %lld: %d tokens, %d computed\n", static_cast<long long>(s->id()), s->num_tokens(),
                    s->num_computed_tokens());
      }
      for (const Sequence* s : sched.waiting()) {
        std::printf("waiting %lld: %d tokens\n", static_cast<long long>(s->id()), s->num_tokens());
      }
    }
    EXPECT_EQ(sched.block_manager().allocator().num_used(), 0);
  }

  // Outputs of `id` are what the fake model gives from its start tokens.
  void expect_consistent_outputs(SeqId id) {
    std::vector<TokenId> ctx = start_tokens.at(id);
    for (TokenId t : outputs[id]) {
      ASSERT_EQ(t, next_token(id, ctx)) << "seq " << id;
      ctx.push_back(t);
    }
  }

  Scheduler sched;
  FakeRunner runner;
  SchedulerConfig config;
  int steps = 0;
  std::map<SeqId, std::vector<TokenId>> start_tokens;
  std::map<SeqId, std::vector<TokenId>> outputs;
  std::map<SeqId, FinishReason> finished;
};

SchedulerConfig small_config(int32_t num_blocks, int32_t block_size = 4, int32_t max_batch_tokens = 64,
                             int32_t max_num_seqs = 8) {
  SchedulerConfig c;
  c.num_blocks = num_blocks;
  c.block_size = block_size;
  c.max_batch_tokens = max_batch_tokens;
  c.max_num_seqs = max_num_seqs;
  return c;
}

TEST(Scheduler, SingleRequestPrefillsThenDecodesToMaxTokens) {
  Sim sim(small_config(16));
  const SeqId id = sim.add(iota_tokens(10), 5);
  ScheduledBatch b = sim.step();
  ASSERT_EQ(b.seqs.size(), 1u);
  EXPECT_EQ(b.seqs[0].start, 0);
  EXPECT_EQ(b.seqs[0].num_tokens, 10);
  EXPECT_TRUE(b.seqs[0].sample);
  for (int i = 0; i < 4; ++i) {
    b = sim.step();
    ASSERT_EQ(b.seqs.size(), 1u);
    EXPECT_EQ(b.seqs[0].start, 10 + i);
    EXPECT_EQ(b.seqs[0].num_tokens, 1);
  }
  EXPECT_EQ(sim.finished[id], FinishReason::kLength);
  EXPECT_EQ(sim.outputs[id].size(), 5u);
  EXPECT_EQ(sim.sched.find(id), nullptr);
  EXPECT_FALSE(sim.sched.has_work());
  EXPECT_EQ(sim.sched.block_manager().allocator().num_used(), 0);
  sim.expect_consistent_outputs(id);
  EXPECT_EQ(sim.sched.stats().generation_tokens, 5);
  EXPECT_EQ(sim.sched.stats().prompt_tokens, 10);
}

TEST(Scheduler, EosStopsUnlessIgnored) {
  const auto prompt = iota_tokens(6);
  SchedulerConfig c = small_config(16);
  c.eos_tokens = {next_token(0, prompt), next_token(1, prompt)};  // first token of seq 0 and of seq 1
  Sim sim(c);
  const SeqId a = sim.add(prompt, 8);
  const SeqId b = sim.add(prompt, 8, 0, /*ignore_eos=*/true);
  sim.run_until_idle();
  EXPECT_EQ(sim.finished[a], FinishReason::kStop);
  EXPECT_EQ(sim.outputs[a].size(), 1u);
  EXPECT_EQ(sim.finished[b], FinishReason::kLength);
  EXPECT_EQ(sim.outputs[b].size(), 8u);
}

TEST(Scheduler, StopHookFinishesWithStop) {
  Sim sim(small_config(16));
  const SeqId id = sim.add(iota_tokens(5), 50);
  sim.sched.set_stop_hook([](const Sequence& s) { return s.num_output_tokens() == 3; });
  sim.run_until_idle();
  EXPECT_EQ(sim.finished[id], FinishReason::kStop);
  EXPECT_EQ(sim.outputs[id].size(), 3u);
}

TEST(Scheduler, ChunkedPrefillUnderTheTokenBudgetWithDecodesFirst) {
  Sim sim(small_config(32, 4, /*max_batch_tokens=*/8));
  const SeqId a = sim.add(iota_tokens(4), 20);
  const SeqId b = sim.add(iota_tokens(20, 500), 20);
  auto entries = [](const ScheduledBatch& batch) {
    std::vector<std::tuple<SeqId, int32_t, int32_t, bool>> v;
    for (const auto& e : batch.seqs) v.emplace_back(e.seq_id, e.start, e.num_tokens, e.sample);
    return v;
  };
  using E = std::vector<std::tuple<SeqId, int32_t, int32_t, bool>>;
  EXPECT_EQ(entries(sim.step()), (E{{a, 0, 4, true}, {b, 0, 4, false}}));
  EXPECT_EQ(entries(sim.step()), (E{{a, 4, 1, true}, {b, 4, 7, false}}));
  EXPECT_EQ(entries(sim.step()), (E{{a, 5, 1, true}, {b, 11, 7, false}}));
  EXPECT_EQ(entries(sim.step()), (E{{a, 6, 1, true}, {b, 18, 2, true}}));
  EXPECT_EQ(entries(sim.step()), (E{{a, 7, 1, true}, {b, 20, 1, true}}));
  sim.run_until_idle();
  sim.expect_consistent_outputs(a);
  sim.expect_consistent_outputs(b);
}

TEST(Scheduler, MaxNumSeqsBoundsTheRunningSet) {
  Sim sim(small_config(64, 4, 64, /*max_num_seqs=*/2));
  for (int i = 0; i < 5; ++i) sim.add(iota_tokens(3, 10 * i), 4);
  while (sim.sched.has_work()) {
    sim.step();
    EXPECT_LE(sim.sched.stats().num_running, 2);
  }
  EXPECT_EQ(sim.finished.size(), 5u);
}

TEST(Scheduler, RejectsRequestsThatCanNeverRun) {
  SchedulerConfig c = small_config(4, 4);  // 16 token slots
  Scheduler s(c);
  EXPECT_EQ(s.add({}).status().code(), StatusCode::kInvalidArgument);
  StopRules zero;
  zero.max_tokens = 0;
  EXPECT_EQ(s.add(iota_tokens(3), {}, zero).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.add(iota_tokens(17)).status().code(), StatusCode::kOutOfRange);
  EXPECT_TRUE(s.add(iota_tokens(16)).ok());
  c.max_model_len = 8;
  Scheduler t(c);
  EXPECT_EQ(t.max_context(), 8);
  EXPECT_EQ(t.add(iota_tokens(9)).status().code(), StatusCode::kOutOfRange);
  EXPECT_FALSE(t.has_work());
}

TEST(Scheduler, AFullContextFinishesWithLength) {
  Sim sim(small_config(4, 4));  // 16 slots
  const SeqId id = sim.add(iota_tokens(14));
  sim.run_until_idle();
  // Positions 0..15 computed; the token sampled after position 15 is the last.
  EXPECT_EQ(sim.finished[id], FinishReason::kLength);
  EXPECT_EQ(sim.outputs[id].size(), 3u);
}

TEST(Scheduler, PoolExhaustionPreemptsTheLatestRunningSequence) {
  Sim sim(small_config(6, 4));  // 24 slots
  const SeqId a = sim.add(iota_tokens(6, 100), 12);
  const SeqId b = sim.add(iota_tokens(6, 200), 12);
  const SeqId c = sim.add(iota_tokens(6, 300), 12);
  sim.step();  // three prefills, 2 blocks each: pool full
  sim.step();  // position 6
  sim.step();  // position 7
  const ScheduledBatch batch = sim.step();  // position 8 needs a third block each
  EXPECT_EQ(batch.preempted, std::vector<SeqId>{c});
  ASSERT_EQ(batch.seqs.size(), 2u);
  EXPECT_EQ(batch.seqs[0].seq_id, a);
  EXPECT_EQ(batch.seqs[1].seq_id, b);
  const Sequence* pc = sim.sched.find(c);
  ASSERT_NE(pc, nullptr);
  EXPECT_EQ(pc->status(), SequenceStatus::kPreempted);
  EXPECT_EQ(pc->num_tokens(), 6 + 3);  // generated tokens kept, to recompute
  EXPECT_EQ(pc->num_computed_tokens(), 0);
  EXPECT_EQ(sim.sched.stats().num_preemptions, 1);
  sim.run_until_idle();
  for (SeqId id : {a, b, c}) {
    EXPECT_EQ(sim.finished[id], FinishReason::kLength);
    EXPECT_EQ(sim.outputs[id].size(), 12u);
    sim.expect_consistent_outputs(id);
  }
}

TEST(Scheduler, PreemptionWithdrawsWorkAlreadyScheduledThisStep) {
  SchedulerConfig c = small_config(5, 4, /*max_batch_tokens=*/4);
  c.policy = SchedulePolicy::kPriority;
  Sim sim(c);
  const SeqId y = sim.add(iota_tokens(2, 100), 100, /*priority=*/5);
  sim.step();
  const SeqId x = sim.add(iota_tokens(20, 500), 100, /*priority=*/0);
  for (int i = 0; i < 4; ++i) sim.step();
  // Now Y decodes position 6 first (decodes go first) and X's chunk
  // [12, 15) needs a fourth block: Y, the lowest priority, is preempted and
  // its scheduled decode withdrawn.
  const ScheduledBatch b = sim.step();
  EXPECT_EQ(b.preempted, std::vector<SeqId>{y});
  ASSERT_EQ(b.seqs.size(), 1u);
  EXPECT_EQ(b.seqs[0].seq_id, x);
  EXPECT_EQ(b.seqs[0].start, 12);
  EXPECT_EQ(b.seqs[0].num_tokens, 3);
  EXPECT_EQ(b.num_tokens, 3);
  sim.run_until_idle();
  sim.expect_consistent_outputs(x);
  sim.expect_consistent_outputs(y);
}

TEST(Scheduler, PreemptedSequencesRecomputeFromThePrefixCacheAndMatchAnUnconstrainedRun) {
  auto trace = [](int32_t num_blocks) {
    Sim sim(small_config(num_blocks, 4, 16, 4));
    for (int i = 0; i < 6; ++i) sim.add(iota_tokens(5 + 3 * i, 100 * i), 20 + i);
    sim.run_until_idle();
    return std::make_pair(sim.outputs, sim.sched.stats());
  };
  const auto [tight, tight_stats] = trace(12);
  const auto [roomy, roomy_stats] = trace(200);
  EXPECT_GT(tight_stats.num_preemptions, 0);
  EXPECT_EQ(roomy_stats.num_preemptions, 0);
  EXPECT_GT(tight_stats.prefix_hit_tokens, 0);  // recomputation reuses cached blocks
  EXPECT_EQ(tight, roomy);
}

TEST(Scheduler, CancelAtAnyTimeReturnsTheBlocks) {
  Sim sim(small_config(16, 4, 8));
  const SeqId a = sim.add(iota_tokens(6, 100));
  const SeqId b = sim.add(iota_tokens(12, 200));
  const SeqId c = sim.add(iota_tokens(6, 300));
  // Cancel c while it waits.
  EXPECT_TRUE(sim.sched.cancel(c).ok());
  EXPECT_EQ(sim.sched.cancel(c).code(), StatusCode::kNotFound);
  sim.step();
  // Cancel b after the forward pass of a step that included it, before postprocess.
  sim.step([&] { EXPECT_TRUE(sim.sched.cancel(b).ok()); });
  EXPECT_EQ(sim.sched.find(b), nullptr);
  EXPECT_EQ(sim.outputs.count(b), 0u);
  sim.step();
  // Cancel a while it runs.
  EXPECT_TRUE(sim.sched.cancel(a).ok());
  sim.check();
  EXPECT_FALSE(sim.sched.has_work());
  EXPECT_EQ(sim.sched.block_manager().allocator().num_used(), 0);
  EXPECT_EQ(sim.sched.stats().num_finished, 3);
}

TEST(Scheduler, SharedPrefixesAreAdoptedAndCountedInTokens) {
  Sim sim(small_config(32, 4));
  const auto system = iota_tokens(16, 7);
  auto with = [&](std::vector<TokenId> tail) {
    auto t = system;
    t.insert(t.end(), tail.begin(), tail.end());
    return t;
  };
  const SeqId a = sim.add(with({1, 2, 3}), 3);
  sim.run_until_idle();
  const SeqId b = sim.add(with({4, 5}), 3);
  const ScheduledBatch batch = sim.step();
  ASSERT_EQ(batch.seqs.size(), 1u);
  EXPECT_EQ(batch.seqs[0].start, 16);  // 4 blocks adopted
  EXPECT_EQ(batch.seqs[0].num_tokens, 2);
  EXPECT_EQ(sim.sched.find(b)->num_cached_tokens(), 16);
  sim.run_until_idle();
  const SchedulerStats st = sim.sched.stats();
  EXPECT_EQ(st.prefix_query_tokens, 19 + 18);
  EXPECT_EQ(st.prefix_hit_tokens, 16);
  sim.expect_consistent_outputs(a);
  sim.expect_consistent_outputs(b);
}

TEST(Scheduler, ForkSharesBlocksAndTheBatchCarriesTheCopy) {
  Sim sim(small_config(16, 4));
  const SeqId p = sim.add(iota_tokens(6), 6);
  sim.step();  // prefill: 7 tokens, positions 0..5 computed, block 1 partial
  Result<SeqId> child = sim.sched.fork(p);
  ASSERT_TRUE(child.ok());
  sim.start_tokens[*child] = std::vector<TokenId>(sim.sched.find(p)->tokens().begin(),
                                                  sim.sched.find(p)->tokens().end());
  sim.outputs[*child] = {};
  EXPECT_EQ(sim.sched.block_table(*child).blocks, sim.sched.block_table(p).blocks);
  sim.check();
  const BlockId partial = sim.sched.block_table(p).blocks[1];
  const ScheduledBatch b = sim.step();
  // Both write position 6, in the shared partial block. The first writer in
  // batch order (the parent, earlier arrival) gets a copy; the child, then the
  // only holder, writes in place. The full block stays shared.
  ASSERT_EQ(b.copies.size(), 1u);
  EXPECT_EQ(b.copies[0].src, partial);
  EXPECT_EQ(b.copies[0].dst, sim.sched.block_table(p).blocks[1]);
  EXPECT_EQ(sim.sched.block_table(*child).blocks[1], partial);
  EXPECT_EQ(sim.sched.block_table(*child).blocks[0], sim.sched.block_table(p).blocks[0]);
  sim.run_until_idle();
  sim.expect_consistent_outputs(*child);
  EXPECT_NE(sim.outputs[*child], std::vector<TokenId>(sim.outputs[p].begin() + 1, sim.outputs[p].end()));
}

TEST(Scheduler, PriorityOrdersAdmissionUnderThePriorityPolicyOnly) {
  for (SchedulePolicy policy : {SchedulePolicy::kFcfs, SchedulePolicy::kPriority}) {
    SchedulerConfig c = small_config(32, 4, 64, /*max_num_seqs=*/1);
    c.policy = policy;
    Sim sim(c);
    const SeqId low = sim.add(iota_tokens(4, 100), 2, /*priority=*/9);
    const SeqId high = sim.add(iota_tokens(4, 200), 2, /*priority=*/1);
    const ScheduledBatch b = sim.step();
    ASSERT_EQ(b.seqs.size(), 1u);
    EXPECT_EQ(b.seqs[0].seq_id, policy == SchedulePolicy::kPriority ? high : low);
    sim.run_until_idle();
  }
}

TEST(Scheduler, CachedBlocksOfFinishedSequencesAreEvictedWhenNeeded) {
  Sim sim(small_config(8, 4));
  const auto a = iota_tokens(13, 100);
  sim.add(a, 1);
  sim.run_until_idle();
  EXPECT_EQ(sim.sched.block_manager().prefix_cache().size(), 3);
  // A different request needs every block: cached ones are evicted.
  sim.add(iota_tokens(29, 500), 1);
  sim.run_until_idle();
  EXPECT_GT(sim.sched.block_manager().prefix_stats().evictions, 0);
  const SeqId again = sim.add(a, 1);
  sim.step();
  EXPECT_EQ(sim.sched.stats().prefix_hit_tokens, 0);
  (void)again;
}

// --- randomized traces -------------------------------------------------------

void random_trace(uint32_t seed, int num_steps, SchedulerStats* out) {
  std::mt19937 rng(seed);
  auto pick = [&](int lo, int hi) { return lo + static_cast<int>(rng() % (hi - lo + 1)); };
  SchedulerConfig c;
  c.block_size = std::vector<int>{1, 2, 4, 16}[rng() % 4];
  c.num_blocks = pick(4, 48) * 16 / c.block_size;
  c.max_batch_tokens = rng() % 5 == 0 ? pick(1, 8) : pick(16, 96);
  c.max_num_seqs = pick(1, 10);
  c.max_model_len = rng() % 2 == 0 ? pick(8, 160) : 0;
  c.enable_prefix_caching = rng() % 4 != 0;
  c.policy = rng() % 2 ? SchedulePolicy::kPriority : SchedulePolicy::kFcfs;
  c.eos_tokens = {0, 1};  // 2 in kVocab per token
  SCOPED_TRACE(::testing::Message() << "seed " << seed << " bs " << c.block_size << " blocks " << c.num_blocks
                                    << " budget " << c.max_batch_tokens << " seqs " << c.max_num_seqs);
  Sim sim(c);
  const int32_t context = sim.sched.max_context();
  std::vector<std::vector<TokenId>> prefixes;
  for (int i = 0; i < 3; ++i) prefixes.push_back(iota_tokens(pick(1, 40), 10 + 100 * i));
  std::set<SeqId> cancelled;
  int rejected = 0;

  for (int step = 0; step < num_steps && !::testing::Test::HasFatalFailure(); ++step) {
    const bool draining = step >= num_steps - 200;
    if (!draining && rng() % 5 == 0) {
      std::vector<TokenId> prompt;
      if (rng() % 3) prompt = prefixes[rng() % prefixes.size()];
      const int tail = pick(rng() % 4 == 0 ? 0 : 1, 24);
      for (int i = 0; i < tail; ++i) prompt.push_back(static_cast<TokenId>(2 + rng() % 50));
      if (rng() % 40 == 0) prompt.resize(context + 1, 7);  // can never fit
      StopRules stop;
      stop.max_tokens = rng() % 10 == 0 ? -1 : pick(1, 40);
      stop.ignore_eos = rng() % 4 == 0;
      Result<SeqId> id = sim.sched.add(prompt, SamplingParams::greedy(), stop, pick(0, 3));
      if (prompt.empty() || static_cast<int32_t>(prompt.size()) > context) {
        ASSERT_FALSE(id.ok());
        ++rejected;
      } else {
        ASSERT_TRUE(id.ok()) << id.status().message();
        sim.start_tokens[*id] = prompt;
      }
    }
    if (!draining && rng() % 25 == 0 && !sim.sched.running().empty()) {
      const Sequence* parent = sim.sched.running()[rng() % sim.sched.running().size()];
      const std::vector<TokenId> tokens(parent->tokens().begin(), parent->tokens().end());
      Result<SeqId> child = sim.sched.fork(parent->id());
      if (child.ok()) {
        sim.start_tokens[*child] = tokens;
        sim.check();
      }
    }
    auto cancel_some = [&] {
      if (sim.start_tokens.empty()) return;
      auto it = sim.start_tokens.begin();
      std::advance(it, rng() % sim.start_tokens.size());
      if (sim.sched.find(it->first) && sim.sched.cancel(it->first).ok()) cancelled.insert(it->first);
    };
    if (!draining && rng() % 15 == 0) cancel_some();
    const bool cancel_in_flight = !draining && rng() % 20 == 0;
    sim.step(cancel_in_flight ? std::function<void()>(cancel_some) : std::function<void()>());
  }
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  sim.run_until_idle(num_steps + 50000);
  // Every accepted sequence ended exactly once, with outputs the fake model
  // would give, and the pool is whole again.
  for (const auto& [id, start] : sim.start_tokens) {
    EXPECT_TRUE(sim.finished.count(id) || cancelled.count(id)) << "seq " << id << " never finished";
    sim.expect_consistent_outputs(id);
    if (sim.finished.count(id) && sim.finished[id] == FinishReason::kLength && !cancelled.count(id)) {
      EXPECT_TRUE(static_cast<int32_t>(start.size() + sim.outputs[id].size()) > context ||
                  sim.outputs[id].size() >= 1);
    }
  }
  const SchedulerStats st = sim.sched.stats();
  EXPECT_EQ(st.num_running + st.num_waiting, 0);
  EXPECT_EQ(st.kv_usage, 0.0f);
  EXPECT_EQ(sim.sched.block_manager().num_free_blocks(), c.num_blocks);
  EXPECT_LE(st.prefix_hit_tokens, st.prefix_query_tokens);
  *out = st;
}

TEST(SchedulerRandom, SeededTracesKeepEveryInvariant) {
  int64_t preemptions = 0, hits = 0, finished = 0, steps = 0;
  for (uint32_t seed = 1; seed <= 10; ++seed) {
    SchedulerStats st;
    ASSERT_NO_FATAL_FAILURE(random_trace(seed, 1500, &st));
    preemptions += st.num_preemptions;
    hits += st.prefix_hit_tokens;
    finished += st.num_finished;
    steps += st.num_steps;
  }
  // The traces reach the paths they are meant to test.
  EXPECT_GT(preemptions, 50);
  EXPECT_GT(hits, 1000);
  EXPECT_GT(finished, 500);
  std::printf("random traces: %lld steps, %lld finished, %lld preemptions, %lld prefix hit tokens\n",
              static_cast<long long>(steps), static_cast<long long>(finished), static_cast<long long>(preemptions), static_cast<long long>(hits));
}

}  // namespace
}  // namespace tern
