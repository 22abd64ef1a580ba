// Scheduler with speculative decoding: draft slots, rollback of rejected
// drafts at and across block boundaries, prefix caching after rollbacks,
// stop rules inside a verified chunk, and draft slots that never preempt.
//
// A fake KV stores (position, token) per slot. Each step writes the chunk
// [newest token, drafts...] through the block table, then "verifies": the
// target's token after each prefix is a pure function of the context read
// back through the block table. A rollback that leaves a rejected draft's
// slot counted as computed, or caches it, shows up as a wrong context.
#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "sched/scheduler.h"

namespace tern {
namespace {

constexpr TokenId kVocab = 50;  // small, so drafts are sometimes right by chance

TokenId oracle(std::span<const TokenId> ctx) {
  uint64_t h = 0x9e3779b97f4a7c15ull;
  for (TokenId t : ctx) {
    h ^= static_cast<uint32_t>(t) + 1;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 31;
  }
  return static_cast<TokenId>(3 + h % (kVocab - 3));
}

struct Harness {
  explicit Harness(SchedulerConfig c)
      : sched(c), bs(c.block_size), kv(static_cast<size_t>(c.num_blocks) * c.block_size, {-1, -1}) {}
  Scheduler sched;
  int32_t bs;
  std::vector<std::pair<int32_t, TokenId>> kv;  // slot -> (position, token)
  std::mt19937 rng{7};

  std::vector<TokenId> context(SeqId id, int32_t n) {
    const BlockTable& t = sched.block_table(id);
    std::vector<TokenId> ctx;
    for (int32_t p = 0; p < n; ++p) {
      const auto [pos, tok] = kv[static_cast<size_t>(t.slot(p, bs))];
      EXPECT_EQ(pos, p) << "slot of position " << p << " holds position " << pos;
      ctx.push_back(tok);
    }
    return ctx;
  }

  // One step. Drafts are the true continuation with one token corrupted at a
  // random position (or none), so every acceptance length occurs.
  std::vector<SeqOutput> step(int32_t k_wanted) {
    std::vector<DraftSlots> slots;
    for (const Sequence* s : sched.running())
      if (s->is_decode()) slots.push_back({s->id(), k_wanted});
    ScheduledBatch b = sched.schedule(slots);
    for (const BlockCopy& c : b.copies)
      std::copy_n(&kv[static_cast<size_t>(c.src) * bs], bs, &kv[static_cast<size_t>(c.dst) * bs]);
    std::vector<std::vector<TokenId>> produced(b.seqs.size());
    for (size_t i = 0; i < b.seqs.size(); ++i) {
      const ScheduledSeq& e = b.seqs[i];
      const Sequence* s = sched.find(e.seq_id);
      std::vector<TokenId> chunk(s->tokens().begin() + e.start, s->tokens().begin() + e.start + (e.num_tokens - e.num_draft));
      if (e.num_draft > 0) {
        std::vector<TokenId> truth(s->tokens().begin(), s->tokens().end());
        const int32_t bad = static_cast<int32_t>(rng() % static_cast<uint32_t>(e.num_draft + 1));  // == k: all right
        for (int32_t j = 0; j < e.num_draft; ++j) {
          TokenId t = oracle(truth);
          truth.push_back(t);
          chunk.push_back(j == bad ? (t + 1) % kVocab : t);
        }
      }
      const BlockTable& t = sched.block_table(e.seq_id);
      EXPECT_GE(static_cast<int32_t>(t.blocks.size()) * bs, e.start + e.num_tokens);
      for (int32_t j = 0; j < e.num_tokens; ++j) {
        const int32_t p = e.start + j;
        kv[static_cast<size_t>(t.slot(p, bs))] = {p, chunk[static_cast<size_t>(j)]};
      }
      if (!e.sample) continue;
      // Verify: target after the newest token and after each draft.
      const int32_t first_row = e.num_draft > 0 ? e.start : e.start + e.num_tokens - 1;
      for (int32_t p = first_row; p < e.start + e.num_tokens; ++p) {
        const TokenId target = oracle(context(e.seq_id, p + 1));
        produced[i].push_back(target);
        const int32_t next = p + 1 - e.start;  // index of the draft after position p
        if (p + 1 == e.start + e.num_tokens || chunk[static_cast<size_t>(next)] != target) break;
      }
    }
    auto out = sched.postprocess(b, produced);
    EXPECT_TRUE(sched.check_invariants().ok()) << sched.check_invariants().message();
    for (const Sequence* s : sched.running()) {
      EXPECT_EQ(s->num_computed_tokens(), s->num_tokens() - 1);
      EXPECT_EQ(static_cast<int32_t>(sched.block_table(s->id()).blocks.size()),
                (s->num_computed_tokens() + bs - 1) / bs);
    }
    return out;
  }

  std::vector<TokenId> run(SeqId id, int32_t k) {
    std::vector<TokenId> out;
    while (sched.has_work()) {
      for (const SeqOutput& o : step(k))
        if (o.seq_id == id) out.push_back(o.token);
    }
    return out;
  }
};

std::vector<TokenId> plain_greedy(std::vector<TokenId> prompt, int n) {
  std::vector<TokenId> out;
  for (int i = 0; i < n; ++i) {
    const TokenId t = oracle(prompt);
    out.push_back(t);
    prompt.push_back(t);
  }
  return out;
}

SchedulerConfig config(int32_t blocks, int32_t bs) {
  SchedulerConfig c;
  c.num_blocks = blocks;
  c.block_size = bs;
  c.max_batch_tokens = 64;
  return c;
}

TEST(SchedulerSpec, RollbackAtEveryOffsetMatchesPlainDecoding) {
  const std::vector<TokenId> prompt = {1, 5, 9, 13, 17, 21};
  for (int32_t bs : {1, 2, 4, 5}) {
    for (int32_t k : {1, 3, 4, 7}) {
      Harness h(config(64, bs));
      StopRules stop;
      stop.max_tokens = 40;
      stop.ignore_eos = true;
      auto id = h.sched.add(prompt, {}, stop);
      ASSERT_TRUE(id.ok());
      EXPECT_EQ(h.run(*id, k), plain_greedy(prompt, 40)) << "block size " << bs << ", k " << k;
      EXPECT_EQ(h.sched.block_manager().num_free_blocks(), 64);
    }
  }
}

TEST(SchedulerSpec, PrefixCacheNeverHoldsRejectedDrafts) {
  // The first request's blocks (computed with drafts and rollbacks) are
  // cached; the second adopts them and must read the true tokens back.
  Harness h(config(64, 4));
  const std::vector<TokenId> prompt = {2, 4, 6, 8, 10};
  StopRules stop;
  stop.max_tokens = 30;
  auto a = h.sched.add(prompt, {}, stop);
  ASSERT_TRUE(a.ok());
  const std::vector<TokenId> out_a = h.run(*a, 5);
  std::vector<TokenId> longer = prompt;
  longer.insert(longer.end(), out_a.begin(), out_a.end());
  stop.max_tokens = 10;
  auto b = h.sched.add(longer, {}, stop);
  ASSERT_TRUE(b.ok());
  const std::vector<TokenId> out_b = h.run(*b, 3);
  EXPECT_GT(h.sched.stats().prefix_hit_tokens, 20);
  EXPECT_EQ(out_b, plain_greedy(longer, 10));
}

TEST(SchedulerSpec, SeveralSequencesDifferentDraftLengths) {
  Harness h(config(128, 4));
  std::vector<SeqId> ids;
  std::vector<std::vector<TokenId>> prompts;
  for (int i = 0; i < 5; ++i) {
    prompts.push_back({static_cast<TokenId>(3 + i), 7, static_cast<TokenId>(11 + i)});
    StopRules stop;
    stop.max_tokens = 25 + i;
    ids.push_back(h.sched.add(prompts.back(), {}, stop).value());
  }
  std::map<SeqId, std::vector<TokenId>> out;
  int step = 0;
  while (h.sched.has_work()) {
    std::vector<DraftSlots> slots;
    for (const SeqOutput& o : h.step(1 + step++ % 6)) out[o.seq_id].push_back(o.token);
  }
  for (int i = 0; i < 5; ++i) EXPECT_EQ(out[ids[i]], plain_greedy(prompts[i], 25 + i)) << i;
}

TEST(SchedulerSpec, StopRulesApplyInsideAChunk) {
  SchedulerConfig c = config(16, 4);
  c.eos_tokens = {2};
  Scheduler s(c);
  StopRules stop;
  stop.max_tokens = 10;
  SeqId id = s.add({1, 5, 6}, {}, stop).value();
  auto b = s.schedule();
  (void)s.postprocess(b, std::vector<TokenId>{7});
  std::vector<DraftSlots> slots = {{id, 4}};
  b = s.schedule(slots);
  ASSERT_EQ(b.seqs.size(), 1u);
  EXPECT_EQ(b.seqs[0].num_draft, 4);
  EXPECT_EQ(b.seqs[0].num_tokens, 5);
  // Two drafts kept, then EOS: the third token ends the sequence.
  std::vector<std::vector<TokenId>> toks = {{8, 9, 2}};
  auto out = s.postprocess(b, toks);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].finish, FinishReason::kStop);
  EXPECT_EQ(s.find(id), nullptr);
  EXPECT_EQ(s.block_manager().num_free_blocks(), 16);

  // max_tokens: tokens past it are dropped.
  SeqId id2 = s.add({1, 5, 6}, {}, StopRules{3, false, {}}).value();
  b = s.schedule();
  (void)s.postprocess(b, std::vector<TokenId>{7});
  slots = {{id2, 4}};
  b = s.schedule(slots);
  toks = {{8, 9, 10, 11}};
  out = s.postprocess(b, toks);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].finish, FinishReason::kLength);
  EXPECT_TRUE(s.check_invariants().ok());
}

TEST(SchedulerSpec, DraftSlotsAreClampedAndNeverPreempt) {
  // Context of 8 tokens: at most start + k < 8.
  SchedulerConfig c = config(16, 4);
  c.max_model_len = 8;
  Scheduler s(c);
  SeqId id = s.add({1, 2, 3, 4, 5}, {}, StopRules{}).value();
  auto b = s.schedule();
  (void)s.postprocess(b, std::vector<TokenId>{6});
  std::vector<DraftSlots> slots = {{id, 10}};
  b = s.schedule(slots);
  ASSERT_EQ(b.seqs.size(), 1u);
  EXPECT_EQ(b.seqs[0].start, 5);
  EXPECT_EQ(b.seqs[0].num_draft, 2);  // positions 5, 6, 7
  (void)s.postprocess(b, std::vector<std::vector<TokenId>>{{7}});  // all rejected
  EXPECT_TRUE(s.check_invariants().ok());
  EXPECT_EQ(s.find(id)->num_computed_tokens(), 6);

  // A pool with no free block left: the draft slots are dropped, nobody is preempted.
  SchedulerConfig c2 = config(2, 4);
  Scheduler t(c2);
  SeqId x = t.add({1, 2, 3}, {}, StopRules{}).value();
  SeqId y = t.add({4, 5, 6}, {}, StopRules{}).value();
  b = t.schedule();
  (void)t.postprocess(b, std::vector<TokenId>{7, 8});
  slots = {{x, 3}, {y, 3}};
  b = t.schedule(slots);
  ASSERT_EQ(b.seqs.size(), 2u);
  EXPECT_EQ(b.seqs[0].num_draft, 0);
  EXPECT_EQ(b.seqs[1].num_draft, 0);
  EXPECT_TRUE(b.preempted.empty());
  (void)t.postprocess(b, std::vector<TokenId>{9, 10});
  EXPECT_TRUE(t.check_invariants().ok());
}

}  // namespace
}  // namespace tern
