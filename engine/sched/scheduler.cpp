#include "sched/scheduler.h"

#include <algorithm>
#include <cassert>
#include <limits>
#include <string>

namespace tern {

namespace {

int32_t ceil_div(int32_t a, int32_t b) { return (a + b - 1) / b; }

int32_t context_limit(const SchedulerConfig& c) {
  const int64_t pool = static_cast<int64_t>(c.num_blocks) * c.block_size;
  const int64_t limit = c.max_model_len > 0 ? std::min<int64_t>(c.max_model_len, pool) : pool;
  return static_cast<int32_t>(std::min<int64_t>(limit, std::numeric_limits<int32_t>::max()));
}

}  // namespace

Scheduler::Scheduler(SchedulerConfig config)
    : config_(std::move(config)),
      max_context_(context_limit(config_)),
      blocks_(config_.num_blocks, config_.block_size, config_.enable_prefix_caching) {
  assert(config_.max_batch_tokens >= 1);
  assert(config_.max_num_seqs >= 1);
}

bool Scheduler::before(const Sequence* a, const Sequence* b) const {
  if (config_.policy == SchedulePolicy::kPriority && a->priority() != b->priority()) {
    return a->priority() < b->priority();
  }
  return a->arrival() < b->arrival();
}

void Scheduler::insert_sorted(std::vector<Sequence*>& queue, Sequence* s) const {
  const auto pos = std::upper_bound(queue.begin(), queue.end(), s,
                                    [this](const Sequence* a, const Sequence* b) { return before(a, b); });
  queue.insert(pos, s);
}

void Scheduler::remove(std::vector<Sequence*>& queue, Sequence* s) {
  const auto it = std::find(queue.begin(), queue.end(), s);
  if (it != queue.end()) queue.erase(it);
}

const Sequence* Scheduler::find(SeqId id) const {
  const auto it = seqs_.find(id);
  return it == seqs_.end() ? nullptr : it->second.get();
}

Result<SeqId> Scheduler::add(std::vector<TokenId> prompt, SamplingParams sampling, StopRules stop,
                             int32_t priority, uint64_t salt) {
  if (prompt.empty()) return InvalidArgument("empty prompt");
  if (stop.max_tokens == 0 || stop.max_tokens < -1) {
    return InvalidArgument("max_tokens must be -1 (unlimited) or >= 1, got " + std::to_string(stop.max_tokens));
  }
  if (static_cast<int64_t>(prompt.size()) > max_context_) {
    return OutOfRange("prompt of " + std::to_string(prompt.size()) + " tokens exceeds the context of " +
                      std::to_string(max_context_) + " tokens (KV pool " + std::to_string(config_.num_blocks) +
                      " blocks x " + std::to_string(config_.block_size) + ")");
  }
  const uint64_t cache_salt = salt == 0 ? config_.model_salt : config_.model_salt ^ hash_root(salt);
  const SeqId id = next_id_++;
  const int32_t prio = config_.policy == SchedulePolicy::kPriority ? priority : 0;
  auto seq = std::make_unique<Sequence>(id, std::move(prompt), std::move(sampling), std::move(stop), prio,
                                        next_arrival_++, cache_salt);
  insert_sorted(waiting_, seq.get());
  seqs_.emplace(id, std::move(seq));
  return id;
}

Status Scheduler::finish(SeqId id, FinishReason reason) {
  assert(reason != FinishReason::kNone);
  const auto it = seqs_.find(id);
  if (it == seqs_.end()) return NotFound("no live sequence " + std::to_string(id));
  release(it->second.get(), reason);
  return Status::Ok();
}

void Scheduler::release(Sequence* s, FinishReason reason) {
  if (blocks_.has_table(s->id())) blocks_.free(s->id());
  remove(s->status_ == SequenceStatus::kRunning ? running_ : waiting_, s);
  s->status_ = SequenceStatus::kFinished;
  s->finish_reason_ = reason;
  ++num_finished_;
  seqs_.erase(s->id());  // destroys *s
}

Result<SeqId> Scheduler::fork(SeqId parent_id) {
  assert(!in_flight_ && "fork() between schedule() and postprocess()");
  const auto it = seqs_.find(parent_id);
  if (it == seqs_.end()) return NotFound("no live sequence " + std::to_string(parent_id));
  const Sequence& parent = *it->second;
  const bool running = parent.status() == SequenceStatus::kRunning;
  if (running && static_cast<int32_t>(running_.size()) >= config_.max_num_seqs) {
    return ResourceExhausted("max_num_seqs sequences are running");
  }
  auto child = std::make_unique<Sequence>(parent);
  child->id_ = next_id_++;
  child->arrival_ = next_arrival_++;
  child->num_preemptions_ = 0;
  if (running) {
    blocks_.fork(parent.id(), child->id());
    insert_sorted(running_, child.get());
  } else {
    insert_sorted(waiting_, child.get());
  }
  const SeqId id = child->id();
  seqs_.emplace(id, std::move(child));
  return id;
}

Sequence* Scheduler::pick_victim() const {
  assert(!running_.empty());
  return running_.back();
}

void Scheduler::preempt(Sequence* s, ScheduledBatch* batch, int32_t* budget) {
  // Withdraw work already scheduled for it this step, with its copies (their
  // destinations are its own fresh blocks).
  const auto e = std::find_if(batch->seqs.begin(), batch->seqs.end(),
                              [&](const ScheduledSeq& x) { return x.seq_id == s->id(); });
  if (e != batch->seqs.end()) {
    *budget += e->num_tokens;
    batch->num_tokens -= e->num_tokens;
    batch->seqs.erase(e);
    const std::vector<BlockId>& own = blocks_.table(s->id()).blocks;
    std::erase_if(batch->copies, [&](const BlockCopy& c) {
      return std::find(own.begin(), own.end(), c.dst) != own.end();
    });
  }
  blocks_.free(s->id());
  s->status_ = SequenceStatus::kPreempted;
  s->num_computed_tokens_ = 0;
  s->num_cached_tokens_ = 0;
  ++s->num_preemptions_;
  remove(running_, s);
  insert_sorted(waiting_, s);
  batch->preempted.push_back(s->id());
  ++num_preemptions_;
}

void Scheduler::schedule_running(ScheduledBatch* batch, int32_t* budget, std::span<const DraftSlots> drafts) {
  // Decodes first, so that long prefills never stall token streams.
  std::vector<Sequence*> order;
  order.reserve(running_.size());
  for (Sequence* s : running_) {
    if (s->is_decode()) order.push_back(s);
  }
  for (Sequence* s : running_) {
    if (!s->is_decode()) order.push_back(s);
  }
  for (Sequence* s : order) {
    if (s->status_ != SequenceStatus::kRunning) continue;  // preempted by an earlier one
    if (*budget == 0) break;
    const int32_t start = s->num_computed_tokens_;
    const int32_t n = std::min(s->num_uncomputed_tokens(), *budget);
    if (s->is_decode() && !drafts.empty()) {
      const auto d = std::find_if(drafts.begin(), drafts.end(), [&](const DraftSlots& x) { return x.seq_id == s->id(); });
      // Slots for positions start .. start + k must exist: start + k < max_context_.
      int32_t k = d == drafts.end() ? 0 : std::min({d->num_draft, *budget - 1, max_context_ - 1 - start});
      if (k > 0 && blocks_.blocks_to_append(s->id(), start, 1 + k) <= blocks_.num_free_blocks()) {
        const Status st = blocks_.append_slots(s->id(), start, 1 + k, &batch->copies);
        assert(st.ok());
        (void)st;
        batch->seqs.push_back({s->id(), start, 1 + k, true, k});
        batch->num_tokens += 1 + k;
        *budget -= 1 + k;
        continue;
      }
    }
    for (;;) {
      if (blocks_.blocks_to_append(s->id(), start, n) <= blocks_.num_free_blocks()) {
        const Status st = blocks_.append_slots(s->id(), start, n, &batch->copies);
        assert(st.ok());
        (void)st;
        batch->seqs.push_back({s->id(), start, n, start + n == s->num_tokens()});
        batch->num_tokens += n;
        *budget -= n;
        break;
      }
      Sequence* victim = pick_victim();
      preempt(victim, batch, budget);
      if (victim == s) break;
    }
  }
}

void Scheduler::admit_waiting(ScheduledBatch* batch, int32_t* budget) {
  const int32_t bs = config_.block_size;
  while (!waiting_.empty() && *budget > 0 && static_cast<int32_t>(running_.size()) < config_.max_num_seqs) {
    Sequence* s = waiting_.front();
    const PrefixMatch match = blocks_.match_prefix(s->tokens(), s->cache_salt());
    const int32_t cached = match.num_tokens(bs);
    const int32_t n = std::min(s->num_tokens() - cached, *budget);
    if (!blocks_.allocate(s->id(), match, n).ok()) break;  // head of line waits for blocks
    s->status_ = SequenceStatus::kRunning;
    s->num_computed_tokens_ = cached;
    s->num_cached_tokens_ = cached;
    waiting_.erase(waiting_.begin());
    insert_sorted(running_, s);
    batch->seqs.push_back({s->id(), cached, n, cached + n == s->num_tokens()});
    batch->num_tokens += n;
    *budget -= n;
  }
}

ScheduledBatch Scheduler::schedule(std::span<const DraftSlots> drafts) {
  assert(!in_flight_ && "schedule() twice without postprocess()");
  ScheduledBatch batch;
  int32_t budget = config_.max_batch_tokens;
  schedule_running(&batch, &budget, drafts);
  if (batch.preempted.empty()) admit_waiting(&batch, &budget);
  assert(batch.num_tokens + budget == config_.max_batch_tokens);
  in_flight_ = !batch.empty();
  ++num_steps_;
  return batch;
}

FinishReason Scheduler::stop_reason(const Sequence& s) const {
  const TokenId t = s.last_token();
  if (!s.stop().ignore_eos &&
      std::find(config_.eos_tokens.begin(), config_.eos_tokens.end(), t) != config_.eos_tokens.end()) {
    return FinishReason::kStop;
  }
  if (s.stop().max_tokens > 0 && s.num_output_tokens() >= s.stop().max_tokens) return FinishReason::kLength;
  // The next step would compute position num_tokens() - 1: it needs
  // num_tokens() slots.
  if (s.num_tokens() > max_context_) return FinishReason::kLength;
  return FinishReason::kNone;
}

std::vector<SeqOutput> Scheduler::postprocess(const ScheduledBatch& batch, std::span<const TokenId> sampled) {
  assert(sampled.size() == batch.seqs.size());
  std::vector<std::vector<TokenId>> tokens(sampled.size());
  for (size_t i = 0; i < sampled.size(); ++i) tokens[i].push_back(sampled[i]);
  return postprocess(batch, tokens);
}

std::vector<SeqOutput> Scheduler::postprocess(const ScheduledBatch& batch, std::span<const std::vector<TokenId>> tokens) {
  assert(in_flight_ || batch.empty());
  assert(tokens.size() == batch.seqs.size());
  in_flight_ = false;
  std::vector<SeqOutput> out;
  for (size_t i = 0; i < batch.seqs.size(); ++i) {
    const ScheduledSeq& e = batch.seqs[i];
    const auto it = seqs_.find(e.seq_id);
    if (it == seqs_.end()) continue;  // cancelled or finished after schedule()
    Sequence* s = it->second.get();
    assert(s->status_ == SequenceStatus::kRunning && s->num_computed_tokens_ == e.start);
    if (!s->is_decode()) prompt_tokens_ += e.num_tokens;
    if (e.num_draft > 0) {
      // The pass computed [start, start + 1 + num_draft); only the newest
      // token and the kept drafts are valid (the last produced token is new).
      const int32_t kept = static_cast<int32_t>(tokens[i].size()) - 1;
      assert(kept >= 0 && kept <= e.num_draft);
      s->num_computed_tokens_ += 1 + kept;
      blocks_.truncate(s->id(), s->num_computed_tokens_);
    } else {
      s->num_computed_tokens_ += e.num_tokens;
    }
    if (!e.sample) {
      blocks_.commit(s->id(), s->tokens(), s->num_computed_tokens_);
      continue;
    }
    assert(!tokens[i].empty() && (e.num_draft > 0 || tokens[i].size() == 1));
    bool released = false;
    for (TokenId t : tokens[i]) {
      s->tokens_.push_back(t);
      ++generation_tokens_;
      FinishReason reason = stop_reason(*s);
      if (reason == FinishReason::kNone && stop_hook_ && stop_hook_(*s)) reason = FinishReason::kStop;
      out.push_back({s->id(), t, reason});
      if (reason != FinishReason::kNone) {
        // Finished blocks stay reusable; a stop inside a verified chunk can
        // leave computed positions whose tokens were dropped.
        blocks_.commit(s->id(), s->tokens(), std::min(s->num_computed_tokens_, s->num_tokens()));
        release(s, reason);
        released = true;
        break;
      }
    }
    // Kept drafts are tokens now, so full blocks can be hashed.
    if (!released) blocks_.commit(s->id(), s->tokens(), s->num_computed_tokens_);
  }
  return out;
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats st;
  st.num_running = static_cast<int32_t>(running_.size());
  st.num_waiting = static_cast<int32_t>(waiting_.size());
  st.kv_usage = blocks_.usage();
  st.prefix_query_tokens = blocks_.prefix_stats().query_tokens;
  st.prefix_hit_tokens = blocks_.prefix_stats().hit_tokens;
  st.num_preemptions = num_preemptions_;
  st.num_steps = num_steps_;
  st.prompt_tokens = prompt_tokens_;
  st.generation_tokens = generation_tokens_;
  st.num_finished = num_finished_;
  return st;
}

Status Scheduler::check_invariants() const {
  TERN_RETURN_IF_ERROR(blocks_.check_invariants());
  const int32_t bs = config_.block_size;
  for (const auto* q : {&running_, &waiting_}) {
    for (size_t i = 1; i < q->size(); ++i) {
      if (before((*q)[i], (*q)[i - 1])) return Internal("queue out of (priority, arrival) order");
    }
  }
  if (running_.size() + waiting_.size() != seqs_.size()) return Internal("a live sequence is in no queue");
  if (static_cast<int32_t>(running_.size()) > config_.max_num_seqs) return Internal("more than max_num_seqs running");
  if (blocks_.num_tables() != static_cast<int32_t>(running_.size())) {
    return Internal("block tables (" + std::to_string(blocks_.num_tables()) + ") != running sequences (" +
                    std::to_string(running_.size()) + ")");
  }
  for (const Sequence* s : running_) {
    const std::string who = "running sequence " + std::to_string(s->id());
    if (s->status() != SequenceStatus::kRunning) return Internal(who + " has status " + std::string(to_string(s->status())));
    if (!blocks_.has_table(s->id())) return Internal(who + " has no block table");
    const int32_t have = static_cast<int32_t>(blocks_.table(s->id()).blocks.size());
    const int32_t need = ceil_div(s->num_computed_tokens(), bs);
    if (have < need || (!in_flight_ && have != need)) {
      return Internal(who + " holds " + std::to_string(have) + " blocks for " +
                      std::to_string(s->num_computed_tokens()) + " computed tokens");
    }
    if (!in_flight_ && s->num_computed_tokens() > s->num_tokens() - 1) return Internal(who + ": newest token computed");
    if (s->num_cached_tokens() > s->num_computed_tokens()) return Internal(who + ": cached > computed");
  }
  for (const Sequence* s : waiting_) {
    const std::string who = "waiting sequence " + std::to_string(s->id());
    if (s->status() != SequenceStatus::kWaiting && s->status() != SequenceStatus::kPreempted) {
      return Internal(who + " has status " + std::string(to_string(s->status())));
    }
    if (blocks_.has_table(s->id())) return Internal(who + " holds blocks");
    if (s->num_computed_tokens() != 0) return Internal(who + " has computed tokens");
  }
  for (const auto& [id, s] : seqs_) {
    if (s->id() != id) return Internal("sequence map key mismatch");
    if (s->num_tokens() > max_context_) return Internal("sequence " + std::to_string(id) + " exceeds the context");
  }
  return Status::Ok();
}

}  // namespace tern
