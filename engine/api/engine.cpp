#include "tern/engine.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "api/engine_impl.h"
#include "template/chat_template.h"

namespace tern {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
    case FinishReason::kNone: break;
  }
  return "none";
}

namespace {
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }
}  // namespace

// ------------------------------------------------------------------ creation

Result<std::unique_ptr<Engine::Impl>> Engine::Impl::create(const EngineOptions& o) {
  if (o.n_ctx == 1) return InvalidArgument("n_ctx must be at least 2");
  if (o.block_size <= 0 || o.max_batch_tokens <= 0 || o.max_num_seqs <= 0 || o.n_ctx < 0 || o.kv_memory_bytes < 0 ||
      o.max_queue <= 0)
    return InvalidArgument("engine options must be positive");
  auto impl = std::unique_ptr<Impl>(new Impl());
  impl->options_ = o;
  TERN_ASSIGN_OR_RETURN(impl->model_, Model::load(o.model_path));
  const ModelConfig& c = impl->model_->config();
  const Tokenizer& tok = impl->model_->tokenizer();

  ModelInfo& info = impl->info_;
  info.path = o.model_path;
  info.name = c.name.empty() ? std::filesystem::path(o.model_path).stem().string() : c.name;
  info.arch = c.arch_name;
  info.n_vocab = c.n_vocab;
  info.dim = c.dim;
  info.n_ctx = o.n_ctx > 0 ? o.n_ctx : std::min(c.n_ctx_train, 8192);
  info.chat_template = impl->model_->chat_template();
  if (tok.bos() >= 0) info.bos_text = std::string(tok.token_text(tok.bos()));
  if (tok.eos() >= 0) info.eos_text = std::string(tok.token_text(tok.eos()));

  const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  impl->pool_ = std::make_unique<ThreadPool>(threads);

  const KvType kv_type = o.kv_type == KvCacheType::kF32 ? KvType::kF32 : KvType::kF16;
  const int64_t per_token = 2LL * c.n_layers * c.kv_dim() * (kv_type == KvType::kF32 ? 4 : 2);
  int64_t kv_bytes = o.kv_memory_bytes;
  if (kv_bytes == 0) {
    // Room for four full contexts (or four batches), but at most 2 GiB
    // unless a single context needs more.
    const int64_t tokens = 4LL * std::max<int64_t>(info.n_ctx, o.max_batch_tokens);
    kv_bytes = std::min(tokens * per_token, std::max<int64_t>(int64_t{2} << 30, info.n_ctx * per_token));
  }
  const int n_blocks = KvPool::blocks_for_bytes(kv_bytes, c.n_layers, c.kv_dim(), o.block_size, kv_type);
  if (n_blocks < 2) return InvalidArgument("KV memory too small: fewer than 2 blocks fit");
  impl->kv_ = std::make_unique<KvPool>(c.n_layers, c.kv_dim(), o.block_size, n_blocks, kv_type);
  impl->runner_ = std::make_unique<ModelRunner>(*impl->model_, *impl->kv_, *impl->pool_);
  TERN_ASSIGN_OR_RETURN(impl->spec_, spec::Speculator::create(o.speculative, *impl->model_, *impl->kv_, *impl->pool_,
                                                              int64_t{n_blocks} * o.block_size));

  SchedulerConfig sc;
  sc.num_blocks = n_blocks;
  sc.block_size = o.block_size;
  sc.max_batch_tokens = o.max_batch_tokens;
  sc.max_num_seqs = o.max_num_seqs;
  // The scheduler counts tokens whose K/V it stores; the newest sampled token
  // needs none, so prompt + completion <= n_ctx as OpenAI counts it.
  sc.max_model_len = info.n_ctx - 1;
  sc.enable_prefix_caching = o.prefix_caching;
  sc.policy = SchedulePolicy::kPriority;
  for (TokenId t = 0; t < c.n_vocab; ++t)
    if (tok.is_eog(t)) sc.eos_tokens.push_back(t);
  // Prefix hashes must not match across different weights.
  sc.model_salt = std::hash<std::string>{}(std::filesystem::absolute(o.model_path).string() + "#" +
                                           std::to_string(impl->model_->gguf().file_size()));
  impl->sched_ = std::make_unique<Scheduler>(sc);
  info.n_ctx = std::min(info.n_ctx, impl->sched_->max_context() + 1);
  impl->stats_.kv_blocks_total = n_blocks;
  impl->thread_ = std::thread([p = impl.get()] { p->loop(); });
  return impl;
}

Engine::Impl::~Impl() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

// ------------------------------------------------------------------ client side

// A request's checks before it is queued; its prompt tokens.
Result<std::vector<TokenId>> Engine::Impl::validate(GenerationRequest& r) const {
  std::vector<TokenId> prompt = std::move(r.prompt_tokens);
  if (prompt.empty()) prompt = model_->tokenizer().encode(r.prompt, r.add_special, r.parse_special);
  if (prompt.empty()) return InvalidArgument("the prompt is empty");
  for (TokenId t : prompt)
    if (t < 0 || t >= info_.n_vocab) return InvalidArgument("prompt token id " + std::to_string(t) + " is out of range");
  const bool no_generation = r.want_embedding || r.want_prompt_logprobs;
  if (r.want_embedding && r.want_prompt_logprobs)
    return InvalidArgument("a request wants either an embedding or prompt logprobs, not both");
  if (static_cast<int64_t>(prompt.size()) >= info_.n_ctx && !no_generation)
    return OutOfRange("the prompt has " + std::to_string(prompt.size()) + " tokens; the context holds " +
                      std::to_string(info_.n_ctx) + " including at least one generated token");
  if (no_generation && static_cast<int64_t>(prompt.size()) > info_.n_ctx)
    return OutOfRange("the input has " + std::to_string(prompt.size()) + " tokens; the context holds " +
                      std::to_string(info_.n_ctx));
  TERN_RETURN_IF_ERROR(Sampler::validate(r.sampling, info_.n_vocab));
  TERN_RETURN_IF_ERROR(spec_->validate(r.speculative));
  if (r.stop.max_tokens == 0 || r.stop.max_tokens < -1) return InvalidArgument("max_tokens must be positive");
  return prompt;
}

Result<RequestId> Engine::Impl::submit(GenerationRequest r, EventCallback on_event) {
  std::vector<GenerationRequest> one;
  one.push_back(std::move(r));
  TERN_ASSIGN_OR_RETURN(std::vector<RequestId> ids, submit_batch(std::move(one), std::move(on_event)));
  return ids.front();
}

Result<std::vector<RequestId>> Engine::Impl::submit_batch(std::vector<GenerationRequest> rs, EventCallback on_event) {
  if (!on_event) return InvalidArgument("submit() needs an event callback");
  if (rs.empty()) return InvalidArgument("the batch is empty");
  std::vector<std::vector<TokenId>> prompts;
  for (size_t i = 0; i < rs.size(); ++i) {
    Result<std::vector<TokenId>> p = validate(rs[i]);
    if (!p.ok())
      return rs.size() == 1 ? p.status()
                            : Status(p.status().code(), "request " + std::to_string(i) + ": " + p.status().message());
    prompts.push_back(std::move(*p));
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (static_cast<int64_t>(incoming_.size()) + n_active_ + static_cast<int64_t>(rs.size()) > options_.max_queue)
    return ResourceExhausted("the request queue is full (" + std::to_string(options_.max_queue) + " requests)");
  std::vector<RequestId> ids;
  const Clock::time_point now = Clock::now();
  for (size_t i = 0; i < rs.size(); ++i) {
    ids.push_back(next_id_++);
    incoming_.push_back(Pending{ids.back(), std::move(prompts[i]), std::move(rs[i]), on_event, now});
  }
  cv_.notify_one();
  return ids;
}

void Engine::Impl::cancel(RequestId id) {
  std::lock_guard<std::mutex> lock(mu_);
  cancels_.push_back(id);
  cv_.notify_one();
}

EngineStats Engine::Impl::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

// ------------------------------------------------------------------ engine thread

void Engine::Impl::loop() {
  for (;;) {
    std::deque<Pending> arrived;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !incoming_.empty() || !cancels_.empty() || sched_->has_work(); });
      if (stop_) break;
      arrived.swap(incoming_);
      n_active_ += static_cast<int32_t>(arrived.size());
    }
    std::vector<Pending*> scoring;  // scored together: side by side on the compute threads
    for (Pending& p : arrived) {
      if (p.request.want_embedding) {
        embed(p);
      } else if (p.request.want_prompt_logprobs) {
        scoring.push_back(&p);
      } else {
        admit(p);
      }
    }
    if (!scoring.empty()) score(scoring);
    apply_cancels();
    if (sched_->has_work()) step();
    publish_stats();
  }
  // Shutting down: every live request gets its final event.
  std::vector<SeqId> live;
  for (auto& [seq, a] : active_) live.push_back(seq);
  for (SeqId seq : live) {
    (void)sched_->cancel(seq);
    finish(seq, active_.at(seq), FinishReason::kCancelled);
  }
}

void Engine::Impl::admit(Pending& p) {
  GenerationRequest& r = p.request;
  const int32_t n_prompt = static_cast<int32_t>(p.prompt.size());
  auto seq = sched_->add(std::move(p.prompt), r.sampling, r.stop, r.priority);
  if (!seq.ok()) {
    GenerationEvent ev;
    ev.id = p.id;
    ev.finished = true;
    ev.finish_reason = FinishReason::kError;
    ev.error = seq.status();
    ev.usage.prompt_tokens = n_prompt;
    p.on_event(ev);
    std::lock_guard<std::mutex> lock(mu_);
    --n_active_;
    return;
  }
  Active a;
  a.id = p.id;
  a.on_event = std::move(p.on_event);
  a.sampler = std::make_unique<Sampler>(r.sampling, info_.n_vocab);
  a.stop = std::make_unique<StopMatcher>(r.stop.stop_strings);
  a.n_probs = r.sampling.n_probs;
  a.usage.prompt_tokens = n_prompt;
  a.arrival = p.arrival;
  seq_of_[p.id] = *seq;
  active_.emplace(*seq, std::move(a));
  spec_->add(*seq, r.speculative, r.sampling);
}

void Engine::Impl::apply_cancels() {
  std::vector<RequestId> ids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ids.swap(cancels_);
  }
  for (RequestId id : ids) {
    auto it = seq_of_.find(id);
    if (it == seq_of_.end()) continue;  // unknown, finished, or an embedding
    const SeqId seq = it->second;
    (void)sched_->cancel(seq);
    finish(seq, active_.at(seq), FinishReason::kCancelled);
  }
}

void Engine::Impl::finish(SeqId seq, Active& a, FinishReason reason, Status error) {
  GenerationEvent ev;
  ev.id = a.id;
  ev.text = a.stop->stopped() ? "" : a.stop->flush();
  ev.finished = true;
  ev.finish_reason = reason;
  ev.error = std::move(error);
  ev.usage = a.usage;
  ev.queue_ms = a.queue_ms < 0 ? ms_since(a.arrival) : a.queue_ms;
  ev.ttft_ms = a.ttft_ms;
  EventCallback cb = std::move(a.on_event);
  spec_->remove(seq);
  seq_of_.erase(a.id);
  active_.erase(seq);
  ++finished_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    --n_active_;
  }
  cb(ev);
}

void Engine::Impl::step() {
  const auto t_begin = Clock::now();
  const std::vector<DraftSlots> slots = spec_->plan(*sched_);
  const ScheduledBatch batch = sched_->schedule(slots);
  if (batch.empty()) return;
  for (const BlockCopy& c : batch.copies) kv_->copy_block(c.src, c.dst);
  // Drafting runs after the copies: self-speculation writes into the blocks.
  Status st = slots.empty() ? Status::Ok() : spec_->draft(batch, *sched_);
  const auto t_step = Clock::now();

  // Flatten the scheduled chunks into one ubatch. A speculative decode is
  // [newest token, drafts...] with logits for every row.
  std::vector<TokenId> tokens;
  std::vector<int32_t> positions, seq_index, logit_rows;
  std::vector<std::span<const int32_t>> tables;
  std::vector<std::span<const TokenId>> drafts(batch.seqs.size());
  bool prefill = false;
  int32_t prefill_tokens = 0;  // prompt tokens computed this step
  double attended = 0;  // positions the batch's tokens attend to (the cost model's attention term)
  tokens.reserve(static_cast<size_t>(batch.num_tokens));
  for (size_t i = 0; i < batch.seqs.size() && st.ok(); ++i) {
    const ScheduledSeq& e = batch.seqs[i];
    const Sequence* s = sched_->find(e.seq_id);
    const std::span<const TokenId> all = s->tokens();
    if (e.num_draft > 0) drafts[i] = spec_->drafts(e.seq_id);
    const int32_t n = e.num_draft > 0 ? 1 + static_cast<int32_t>(drafts[i].size()) : e.num_tokens;
    prefill |= e.num_draft == 0 && e.num_tokens > 1;
    if (e.num_draft == 0 && e.num_tokens > 1) prefill_tokens += e.num_tokens;
    for (int32_t p = e.start; p < e.start + n; ++p) {
      const int32_t j = p - e.start;
      tokens.push_back(j == 0 || e.num_draft == 0 ? all[static_cast<size_t>(p)] : drafts[i][static_cast<size_t>(j - 1)]);
      positions.push_back(p);
      attended += p + 1;
      seq_index.push_back(static_cast<int32_t>(i));
      if (e.sample && (j == n - 1 || e.num_draft > 0)) logit_rows.push_back(static_cast<int32_t>(tokens.size()) - 1);
    }
    tables.emplace_back(sched_->block_table(e.seq_id).blocks);
    Active& a = active_.at(e.seq_id);
    if (a.queue_ms < 0) a.queue_ms = ms_since(a.arrival);
  }
  const size_t vocab = static_cast<size_t>(info_.n_vocab);
  logits_.resize(logit_rows.size() * vocab);
  if (st.ok()) st = runner_->forward(ForwardBatch{tokens, positions, seq_index, tables, logit_rows}, logits_.data());

  // Per sequence: the tokens it produced (kept drafts, then one sampled) and,
  // when asked for, each one's logprobs from its own row.
  std::vector<std::vector<TokenId>> produced(batch.seqs.size());
  std::vector<std::vector<std::pair<TokenLogprob, std::vector<TokenLogprob>>>> probs(batch.seqs.size());
  std::vector<int32_t> kept(batch.seqs.size(), 0);
  size_t row = 0;
  for (size_t i = 0; i < batch.seqs.size() && st.ok(); ++i) {
    const ScheduledSeq& e = batch.seqs[i];
    if (!e.sample) continue;
    Active& a = active_.at(e.seq_id);
    const std::span<const TokenId> history = sched_->find(e.seq_id)->tokens();
    const size_t n_rows = e.num_draft > 0 ? 1 + drafts[i].size() : 1;
    const std::span<const float> rows(&logits_[row * vocab], n_rows * vocab);
    if (n_rows > 1) {
      spec::VerifyResult v = spec_->verify(e.seq_id, *a.sampler, rows, history);
      produced[i] = std::move(v.tokens);
      kept[i] = v.num_accepted;
    } else {
      produced[i].push_back(a.sampler->sample(rows, history));
    }
    if (a.n_probs > 0) {
      for (size_t j = 0; j < produced[i].size(); ++j) {
        const std::span<const float> l = rows.subspan(j * vocab, vocab);
        auto& entry = probs[i].emplace_back();
        entry.first = {produced[i][j], Sampler::logprob(l, produced[i][j])};
        for (const auto& [t, lp] : Sampler::top_logprobs(l, a.n_probs)) entry.second.push_back({t, lp});
      }
    }
    row += n_rows;
  }
  if (st.ok() && !prefill) spec_->observe_step(static_cast<int32_t>(tokens.size()), attended, ms_since(t_step) / 1000.0);
  for (const ScheduledSeq& e : batch.seqs)
    prompt_tokens_ += std::min(e.num_tokens, std::max(0, sched_->find(e.seq_id)->num_prompt_tokens() - e.start));
  if (!st.ok()) {
    // Cannot happen for batches the scheduler builds; never leave clients hanging.
    for (const ScheduledSeq& e : batch.seqs) (void)sched_->cancel(e.seq_id);
    for (const ScheduledSeq& e : batch.seqs) finish(e.seq_id, active_.at(e.seq_id), FinishReason::kError, st);
    return;
  }
  // Cached-token counts are known once a sequence is first admitted.
  for (const ScheduledSeq& e : batch.seqs) {
    const Sequence* s = sched_->find(e.seq_id);
    Active& a = active_.at(e.seq_id);
    if (s->num_preemptions() == 0 && e.start == s->num_cached_tokens()) a.usage.cached_tokens = s->num_cached_tokens();
  }

  const std::vector<SeqOutput> outs = sched_->postprocess(batch, produced);
  // The outcome check sees every step, prompt chunks included (counted as
  // work done): under a steady stream of arrivals nearly every step carries
  // some prefill, and drafting must pay there too.
  spec_->record_step(!slots.empty(), ms_since(t_begin) / 1000.0, static_cast<int32_t>(outs.size()) + prefill_tokens);
  for (size_t i = 0; i < batch.seqs.size(); ++i) {
    const ScheduledSeq& e = batch.seqs[i];
    if (e.num_draft == 0 || !active_.count(e.seq_id)) continue;
    Active& a = active_.at(e.seq_id);
    const int32_t drafted = static_cast<int32_t>(drafts[i].size());
    a.usage.draft_tokens += drafted;
    a.usage.accepted_tokens += kept[i];
    if (const Sequence* s = sched_->find(e.seq_id)) spec_->finish_seq(e.seq_id, s->num_tokens() - 1, drafted, kept[i]);
    else spec_->finish_seq(e.seq_id, 0, drafted, kept[i]);  // finished: its state goes with finish()
  }
  std::vector<size_t> cursor(batch.seqs.size(), 0);
  for (const SeqOutput& o : outs) {
    auto it = active_.find(o.seq_id);
    if (it == active_.end()) continue;  // finished by a stop string at an earlier token of this step
    Active& a = it->second;
    ++generation_tokens_;
    a.usage.completion_tokens++;
    if (a.usage.completion_tokens == 1) a.ttft_ms = ms_since(a.arrival);
    GenerationEvent ev;
    ev.id = a.id;
    ev.tokens.push_back(o.token);
    size_t idx = 0;
    while (idx < batch.seqs.size() && batch.seqs[idx].seq_id != o.seq_id) ++idx;
    if (idx < probs.size() && cursor[idx] < probs[idx].size()) {
      auto& entry = probs[idx][cursor[idx]++];
      ev.logprobs.push_back(entry.first);
      if (!entry.second.empty()) ev.top_logprobs.push_back(std::move(entry.second));
    }
    FinishReason reason = o.finish;
    const bool eog = reason == FinishReason::kStop;  // the scheduler stops only on EOS/EOG tokens
    if (!eog) {
      StopMatcher::Output out = a.stop->push(model_->tokenizer().token_to_piece(o.token));
      ev.text = std::move(out.text);
      if (out.stopped && reason == FinishReason::kNone) {
        (void)sched_->finish(o.seq_id, FinishReason::kStop);
        reason = FinishReason::kStop;
      }
    }
    ev.usage = a.usage;
    ev.queue_ms = a.queue_ms;
    ev.ttft_ms = a.ttft_ms;
    if (reason == FinishReason::kNone) {
      a.on_event(ev);
    } else {
      // Deliver the token's text, then the final event with the flushed tail.
      if (!ev.text.empty() || !ev.tokens.empty()) a.on_event(ev);
      finish(o.seq_id, a, reason);
    }
  }
}

ModelRunner& Engine::Impl::scratch(Scratch& s, int32_t n, KvType type) {
  const ModelConfig& c = model_->config();
  const int bs = options_.block_size;
  const int need_blocks = (n + bs - 1) / bs;
  if (!s.kv || s.kv->n_blocks() < need_blocks) {
    s.runner.reset();
    s.kv = std::make_unique<KvPool>(c.n_layers, c.kv_dim(), bs, need_blocks, type);
    s.runner = std::make_unique<ModelRunner>(*model_, *s.kv, *pool_);
  }
  return *s.runner;
}

void Engine::Impl::embed(Pending& p) {
  const ModelConfig& c = model_->config();
  const int32_t n = static_cast<int32_t>(p.prompt.size());
  const int bs = options_.block_size;
  const int need_blocks = (n + bs - 1) / bs;
  ModelRunner& runner = scratch(scratch_, n, KvType::kF32);
  std::vector<int32_t> table(static_cast<size_t>(need_blocks)), pos(static_cast<size_t>(n)), sidx(static_cast<size_t>(n), 0);
  for (int i = 0; i < need_blocks; ++i) table[static_cast<size_t>(i)] = i;
  for (int i = 0; i < n; ++i) pos[static_cast<size_t>(i)] = i;
  GenerationEvent ev;
  ev.id = p.id;
  ev.embedding.resize(static_cast<size_t>(c.dim));
  const Status st = runner.embed(ForwardBatch{p.prompt, pos, sidx, {table}, {}}, ev.embedding.data());
  finish_prompt_only(p, ev, st);
}

// The one event of a prompt-only request (embedding, scoring), after its pass.
void Engine::Impl::finish_prompt_only(Pending& p, GenerationEvent& ev, const Status& st) {
  const int32_t n = static_cast<int32_t>(p.prompt.size());
  ev.finished = true;
  ev.finish_reason = st.ok() ? FinishReason::kStop : FinishReason::kError;
  ev.error = st;
  ev.usage.prompt_tokens = n;
  ev.queue_ms = ev.ttft_ms = ms_since(p.arrival);
  prompt_tokens_ += n;
  ++finished_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    --n_active_;
  }
  p.on_event(ev);
}

// Prompt scoring. Heads up to 256 wide: the ScoreRunner, all requests that
// arrived together in one score_many() (each sequence on one thread when the
// model is small). Wider: each prompt runs through a scratch cache in chunks
// of at most max_batch_tokens, every row's logits wanted; row i's
// log-softmax at token i+1 is that token's logprob. Chunking bounds the
// logits buffer to max_batch_tokens x n_vocab whatever the prompt length.
void Engine::Impl::score(const std::vector<Pending*>& ps) {
  if (model_->config().head_dim > 256) {
    for (Pending* p : ps) score_chunked(*p);
    return;
  }
  if (!scorer_) scorer_ = std::make_unique<ScoreRunner>(*model_, *pool_);
  std::vector<GenerationEvent> evs(ps.size());
  std::vector<std::span<const TokenId>> seqs;
  std::vector<float*> outs;
  for (size_t i = 0; i < ps.size(); ++i) {
    evs[i].id = ps[i]->id;
    evs[i].prompt_logprobs.assign(ps[i]->prompt.size(), 0.0f);
    seqs.emplace_back(ps[i]->prompt);
    outs.push_back(evs[i].prompt_logprobs.data());
  }
  const std::vector<Status> st = scorer_->score_many(seqs, outs);
  for (size_t i = 0; i < ps.size(); ++i) {
    if (!st[i].ok()) evs[i].prompt_logprobs.clear();
    finish_prompt_only(*ps[i], evs[i], st[i]);
  }
}

void Engine::Impl::score_chunked(Pending& p) {
  const int32_t n = static_cast<int32_t>(p.prompt.size());
  const int bs = options_.block_size;
  const int need_blocks = (n + bs - 1) / bs;
  ModelRunner& runner = scratch(scratch_, n, KvType::kF32);
  std::vector<int32_t> table(static_cast<size_t>(need_blocks));
  for (int i = 0; i < need_blocks; ++i) table[static_cast<size_t>(i)] = i;
  GenerationEvent ev;
  ev.id = p.id;
  ev.prompt_logprobs.assign(static_cast<size_t>(n), 0.0f);
  const size_t vocab = static_cast<size_t>(info_.n_vocab);
  const int32_t chunk = std::max(1, options_.max_batch_tokens);
  Status st;
  // The last token predicts nothing we score, so it never needs logits.
  for (int32_t start = 0; start < n - 1 && st.ok(); start += chunk) {
    const int32_t len = std::min(chunk, n - 1 - start);
    std::vector<int32_t> pos(static_cast<size_t>(len)), sidx(static_cast<size_t>(len), 0), rows(static_cast<size_t>(len));
    for (int32_t i = 0; i < len; ++i) {
      pos[static_cast<size_t>(i)] = start + i;
      rows[static_cast<size_t>(i)] = i;
    }
    logits_.resize(static_cast<size_t>(len) * vocab);
    const std::span<const TokenId> toks(p.prompt.data() + start, static_cast<size_t>(len));
    st = runner.forward(ForwardBatch{toks, pos, sidx, {table}, rows}, logits_.data());
    for (int32_t i = 0; i < len && st.ok(); ++i) {
      const std::span<const float> l(&logits_[static_cast<size_t>(i) * vocab], vocab);
      ev.prompt_logprobs[static_cast<size_t>(start + i + 1)] = Sampler::logprob(l, p.prompt[static_cast<size_t>(start + i + 1)]);
    }
  }
  if (!st.ok()) ev.prompt_logprobs.clear();
  finish_prompt_only(p, ev, st);
}

void Engine::Impl::publish_stats() {
  const SchedulerStats s = sched_->stats();
  std::lock_guard<std::mutex> lock(mu_);
  stats_.running = s.num_running;
  stats_.waiting = s.num_waiting + static_cast<int32_t>(incoming_.size());
  stats_.kv_usage = s.kv_usage;
  stats_.kv_blocks_used = stats_.kv_blocks_total - sched_->block_manager().num_free_blocks();
  stats_.prefix_query_tokens = s.prefix_query_tokens;
  stats_.prefix_hit_tokens = s.prefix_hit_tokens;
  stats_.preemptions = s.num_preemptions;
  stats_.steps = s.num_steps;
  stats_.prompt_tokens = prompt_tokens_;
  stats_.generation_tokens = generation_tokens_;
  stats_.requests_finished = finished_;
  const spec::SpecStats& sp = spec_->stats();
  stats_.spec_drafts = sp.drafts;
  stats_.spec_draft_tokens = sp.draft_tokens;
  stats_.spec_accepted_tokens = sp.accepted_tokens;
  stats_.spec_accepted_per_pos = sp.accepted_per_pos;
}

// ------------------------------------------------------------------ facade

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::create(const EngineOptions& options) {
  TERN_ASSIGN_OR_RETURN(auto impl, Impl::create(options));
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Result<RequestId> Engine::submit(GenerationRequest request, EventCallback on_event) {
  return impl_->submit(std::move(request), std::move(on_event));
}
Result<std::vector<RequestId>> Engine::submit_batch(std::vector<GenerationRequest> requests, EventCallback on_event) {
  return impl_->submit_batch(std::move(requests), std::move(on_event));
}
void Engine::cancel(RequestId id) { impl_->cancel(id); }
EngineStats Engine::stats() const { return impl_->stats(); }
const ModelInfo& Engine::model_info() const { return impl_->model_info(); }

std::vector<TokenId> Engine::tokenize(const std::string& text, bool add_special, bool parse_special) const {
  return impl_->model().tokenizer().encode(text, add_special, parse_special);
}
std::string Engine::detokenize(const std::vector<TokenId>& tokens) const {
  return impl_->model().tokenizer().decode(tokens);
}
std::string Engine::token_text(TokenId id) const { return impl_->model().tokenizer().token_to_piece(id); }

Result<std::string> Engine::apply_chat_template(const std::string& messages_json, const std::string& tools_json,
                                                bool add_generation_prompt) const {
  nlohmann::json messages, tools;
  try {
    messages = nlohmann::json::parse(messages_json);
    if (!tools_json.empty()) tools = nlohmann::json::parse(tools_json);
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("invalid messages JSON: ") + e.what());
  }
  const ModelInfo& info = model_info();
  const std::string_view source =
      info.chat_template.empty() ? default_chat_template() : std::string_view(info.chat_template);
  return tern::apply_chat_template(source, messages, tools, add_generation_prompt, info.bos_text, info.eos_text);
}

}  // namespace tern
