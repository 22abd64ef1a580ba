#include "handlers/generation.h"

#include <chrono>
#include <ctime>

#include "openai/format.h"

namespace tern::server {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0, Clock::time_point t1) {
  return std::chrono::duration<double>(t1 - t0).count();
}

class GenerationJob : public std::enable_shared_from_this<GenerationJob> {
 public:
  GenerationJob(ServerContext& ctx, std::shared_ptr<Exchange> ex, ApiKind kind, const GenerationParams& gen)
      : ctx_(ctx), ex_(std::move(ex)), kind_(kind), gen_(gen), start_(Clock::now()) {
    meta_.id = random_id(kind == ApiKind::kChat ? "chatcmpl-" : "cmpl-");
    meta_.model = ctx.model_id;
    meta_.created = static_cast<int64_t>(std::time(nullptr));
  }

  void start(std::vector<ChoicePlan> plans);

 private:
  struct Choice {
    RequestId id = 0;
    bool submitted = false;
    bool done = false;
    int prompt_index = 0;
    std::string echo;
    std::string text;
    TokenLogprobs lp;
    size_t text_offset = 0;     // completions logprobs: bytes of text so far
    FinishReason finish = FinishReason::kNone;
    Status error;
    Usage usage;
    double queue_ms = 0, ttft_ms = 0;
    Clock::time_point last_token{};
  };

  void on_event(size_t i, const GenerationEvent& ev, Clock::time_point t);
  void stream_delta(size_t i, const GenerationEvent& ev);
  void stream_finish(size_t i);
  void cancel_all();
  void complete();
  Usage total_usage() const;
  json logprobs_of(const TokenLogprobs& lp, size_t offset0) const;
  TokenLogprobs event_logprobs(const GenerationEvent& ev) const;
  const char* object() const { return kind_ == ApiKind::kChat ? "chat.completion.chunk" : "text_completion"; }

  ServerContext& ctx_;
  std::shared_ptr<Exchange> ex_;
  ApiKind kind_;
  GenerationParams gen_;
  ResponseMeta meta_;
  Clock::time_point start_;
  std::vector<Choice> choices_;
  size_t remaining_ = 0;
  bool failed_ = false;         // a submit failed and the error was sent
  bool disconnected_ = false;
};

void GenerationJob::start(std::vector<ChoicePlan> plans) {
  choices_.resize(plans.size());
  ex_->log_field("response_id", meta_.id);
  ex_->log_field("model", meta_.model);
  ex_->log_field("choices", static_cast<double>(plans.size()));
  ex_->log_field("stream", gen_.stream ? "true" : "false");
  auto self = shared_from_this();
  auto exchange = ex_;
  for (size_t i = 0; i < plans.size(); ++i) {
    choices_[i].prompt_index = plans[i].prompt_index;
    choices_[i].echo = std::move(plans[i].echo_prefix);
    auto r = ctx_.engine->submit(std::move(plans[i].request), [self, exchange, i](const GenerationEvent& ev) {
      Clock::time_point t = Clock::now();
      exchange->post([self, i, ev, t] { self->on_event(i, ev, t); });
    });
    if (!r.ok()) {
      failed_ = true;
      cancel_all();
      reply_error(*ex_, from_status(r.status()));
      if (remaining_ == 0) ex_.reset();
      return;
    }
    choices_[i].id = *r;
    choices_[i].submitted = true;
    ++remaining_;
  }
  std::weak_ptr<GenerationJob> weak = self;
  ex_->on_close([weak] {
    if (auto job = weak.lock()) {
      job->disconnected_ = true;
      job->cancel_all();
    }
  });
  if (gen_.stream) {
    ex_->begin_stream(200, "text/event-stream");
    if (kind_ == ApiKind::kChat) {
      for (size_t i = 0; i < choices_.size(); ++i)
        ex_->write(sse_data(chat_chunk_json(meta_, static_cast<int>(i), {{"role", "assistant"}, {"content", ""}},
                                            nullptr, nullptr, gen_.include_usage)));
    }
  }
}

void GenerationJob::cancel_all() {
  for (auto& c : choices_)
    if (c.submitted && !c.done) ctx_.engine->cancel(c.id);
}

TokenLogprobs GenerationJob::event_logprobs(const GenerationEvent& ev) const {
  TokenLogprobs lp;
  lp.tokens = ev.tokens;
  for (const auto& l : ev.logprobs) lp.logprobs.push_back(l.logprob);
  lp.top = ev.top_logprobs;
  return lp;
}

json GenerationJob::logprobs_of(const TokenLogprobs& lp, size_t offset0) const {
  if (!gen_.logprobs) return nullptr;
  auto text = [this](TokenId t) { return ctx_.engine->token_text(t); };
  if (kind_ == ApiKind::kChat) return chat_logprobs_json(lp, gen_.top_logprobs, text);
  return completion_logprobs_json(lp, gen_.top_logprobs, text, offset0);
}

void GenerationJob::on_event(size_t i, const GenerationEvent& ev, Clock::time_point t) {
  Choice& c = choices_[i];
  if (c.done) return;
  if (!ev.tokens.empty()) {
    if (c.last_token != Clock::time_point{}) {
      double per = seconds_since(c.last_token, t) / static_cast<double>(ev.tokens.size());
      for (size_t k = 0; k < ev.tokens.size(); ++k) ctx_.metrics->inter_token.observe(per);
    }
    c.last_token = t;
  }
  c.usage = ev.usage;
  if (ev.queue_ms > 0) c.queue_ms = ev.queue_ms;
  if (ev.ttft_ms > 0) c.ttft_ms = ev.ttft_ms;
  if (gen_.stream && !failed_ && !disconnected_) stream_delta(i, ev);
  c.text += ev.text;
  if (gen_.logprobs) {
    TokenLogprobs lp = event_logprobs(ev);
    c.lp.tokens.insert(c.lp.tokens.end(), lp.tokens.begin(), lp.tokens.end());
    c.lp.logprobs.insert(c.lp.logprobs.end(), lp.logprobs.begin(), lp.logprobs.end());
    c.lp.top.insert(c.lp.top.end(), lp.top.begin(), lp.top.end());
  }
  if (!ev.finished) return;

  c.done = true;
  c.finish = ev.finish_reason;
  if (ev.finish_reason == FinishReason::kError) c.error = ev.error;
  ctx_.metrics->finish(ev.finish_reason, ev.usage);
  if (ev.finish_reason != FinishReason::kCancelled && ev.finish_reason != FinishReason::kError) {
    if (c.ttft_ms > 0) ctx_.metrics->ttft.observe(c.ttft_ms / 1000.0);
    ctx_.metrics->queue.observe(c.queue_ms / 1000.0);
    ctx_.metrics->e2e.observe(seconds_since(start_, t));
  }
  if (gen_.stream && !failed_ && !disconnected_) stream_finish(i);
  if (--remaining_ == 0) complete();
}

void GenerationJob::stream_delta(size_t i, const GenerationEvent& ev) {
  Choice& c = choices_[i];
  json lp = nullptr;
  if (gen_.logprobs && !ev.tokens.empty()) lp = logprobs_of(event_logprobs(ev), c.text_offset);
  c.text_offset += ev.text.size();
  if (ev.text.empty() && lp.is_null()) return;
  int index = static_cast<int>(i);
  if (kind_ == ApiKind::kChat) {
    ex_->write(sse_data(chat_chunk_json(meta_, index, {{"content", ev.text}}, lp, nullptr, gen_.include_usage)));
  } else {
    std::string text = ev.text;
    if (!c.echo.empty()) {  // echo: the prompt leads the first chunk
      text = c.echo + text;
      c.echo.clear();
    }
    ex_->write(sse_data(completion_chunk_json(meta_, index, text, lp, nullptr, gen_.include_usage)));
  }
}

void GenerationJob::stream_finish(size_t i) {
  Choice& c = choices_[i];
  int index = static_cast<int>(i);
  if (c.finish == FinishReason::kError) {
    ApiError e = from_status(c.error);
    ex_->write(sse_data(json::parse(error_body(e))));
    return;
  }
  if (kind_ == ApiKind::kChat) {
    ex_->write(sse_data(chat_chunk_json(meta_, index, json::object(), nullptr, finish_reason_json(c.finish),
                                        gen_.include_usage)));
  } else {
    ex_->write(sse_data(completion_chunk_json(meta_, index, c.echo, nullptr, finish_reason_json(c.finish),
                                              gen_.include_usage)));
  }
}

Usage GenerationJob::total_usage() const {
  Usage u;
  std::vector<bool> seen;
  for (const auto& c : choices_) {
    u.completion_tokens += c.usage.completion_tokens;
    if (static_cast<size_t>(c.prompt_index) >= seen.size()) seen.resize(c.prompt_index + 1, false);
    if (!seen[c.prompt_index]) {  // n choices of one prompt: its tokens count once
      seen[c.prompt_index] = true;
      u.prompt_tokens += c.usage.prompt_tokens;
      u.cached_tokens += c.usage.cached_tokens;
    }
  }
  return u;
}

void GenerationJob::complete() {
  auto ex = std::move(ex_);  // the job holds the exchange no longer
  if (failed_) return;
  Usage u = total_usage();
  ex->log_field("prompt_tokens", u.prompt_tokens);
  ex->log_field("cached_tokens", u.cached_tokens);
  ex->log_field("completion_tokens", u.completion_tokens);
  if (!choices_.empty()) {
    ex->log_field("queue_ms", choices_[0].queue_ms);
    ex->log_field("ttft_ms", choices_[0].ttft_ms);
    json fr = finish_reason_json(choices_[0].finish);
    ex->log_field("finish_reason", fr.is_string() ? fr.get<std::string>() : "none");
  }
  ex->log_field("e2e_ms", seconds_since(start_, Clock::now()) * 1000.0);
  if (disconnected_) return;

  if (gen_.stream) {
    if (gen_.include_usage) ex->write(sse_data(usage_chunk_json(meta_, object(), u)));
    ex->write(sse_done());
    ex->end_stream();
    return;
  }
  std::vector<ChoiceResult> results;
  for (size_t i = 0; i < choices_.size(); ++i) {
    const Choice& c = choices_[i];
    if (c.finish == FinishReason::kError) {
      reply_error(*ex, from_status(c.error));
      return;
    }
    ChoiceResult r;
    r.index = static_cast<int>(i);
    r.text = c.echo + c.text;
    r.finish = c.finish;
    r.logprobs = logprobs_of(c.lp, c.echo.size());
    results.push_back(std::move(r));
  }
  json body = kind_ == ApiKind::kChat ? chat_completion_json(meta_, results, u) : completion_json(meta_, results, u);
  reply_json(*ex, dump_json(body));
}

}  // namespace

GenerationRequest make_engine_request(const GenerationParams& gen, int choice) {
  GenerationRequest r;
  r.sampling = gen.sampling;
  r.speculative = gen.speculative;
  if (gen.logprobs) r.sampling.n_probs = std::max(1, gen.top_logprobs);
  if (r.sampling.seed != 0xFFFFFFFFFFFFFFFFull) r.sampling.seed += static_cast<uint64_t>(choice);
  r.stop = gen.stop;
  return r;
}

void run_generation(ServerContext& ctx, std::shared_ptr<Exchange> ex, ApiKind kind, const GenerationParams& gen,
                    std::vector<ChoicePlan> plans) {
  if (ctx.draining && ctx.draining()) {
    reply_error(*ex, unavailable("the server is shutting down"));
    return;
  }
  auto job = std::make_shared<GenerationJob>(ctx, std::move(ex), kind, gen);
  job->start(std::move(plans));
}

}  // namespace tern::server
