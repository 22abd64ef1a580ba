// POST /v1/embeddings: one engine request per input with want_embedding; the
// engine returns the L2-normalised, mean-pooled final hidden state (a
// generative model's, not a trained embedding model's: see docs/server.md).
#include <variant>

#include "handlers/context.h"
#include "openai/format.h"
#include "openai/parse.h"

namespace tern::server {

namespace {

class EmbeddingJob : public std::enable_shared_from_this<EmbeddingJob> {
 public:
  EmbeddingJob(ServerContext& ctx, std::shared_ptr<Exchange> ex, bool base64)
      : ctx_(ctx), ex_(std::move(ex)), base64_(base64) {}

  void start(std::vector<GenerationRequest> requests) {
    n_ = requests.size();
    results_.resize(n_);
    ids_.resize(n_, 0);
    auto self = shared_from_this();
    auto exchange = ex_;
    for (size_t i = 0; i < n_; ++i) {
      auto r = ctx_.engine->submit(std::move(requests[i]), [self, exchange, i](const GenerationEvent& ev) {
        if (!ev.finished) return;
        exchange->post([self, i, ev] { self->on_done(i, ev); });
      });
      if (!r.ok()) {
        failed_ = true;
        for (size_t k = 0; k < i; ++k) ctx_.engine->cancel(ids_[k]);
        reply_error(*ex_, from_status(r.status()));
        if (remaining_ == 0) ex_.reset();
        return;
      }
      ids_[i] = *r;
      ++remaining_;
    }
    std::weak_ptr<EmbeddingJob> weak = self;
    ex_->on_close([weak] {
      if (auto job = weak.lock())
        for (RequestId id : job->ids_) job->ctx_.engine->cancel(id);
    });
  }

 private:
  void on_done(size_t i, const GenerationEvent& ev) {
    prompt_tokens_ += ev.usage.prompt_tokens;
    if (ev.finish_reason == FinishReason::kError && error_.ok()) error_ = ev.error;
    if (ev.finish_reason == FinishReason::kCancelled && error_.ok()) error_ = Status(StatusCode::kCancelled, "cancelled");
    results_[i] = ev.embedding;
    if (--remaining_ > 0) return;
    auto ex = std::move(ex_);
    if (failed_ || ex->closed()) return;
    ex->log_field("model", ctx_.model_id);
    ex->log_field("inputs", static_cast<double>(n_));
    ex->log_field("prompt_tokens", prompt_tokens_);
    if (!error_.ok()) return reply_error(*ex, from_status(error_));
    for (const auto& e : results_)
      if (e.empty()) return reply_error(*ex, internal_error("the engine returned no embedding"));
    reply_json(*ex, dump_json(embeddings_json(ctx_.model_id, results_, base64_, prompt_tokens_)));
  }

  ServerContext& ctx_;
  std::shared_ptr<Exchange> ex_;
  bool base64_;
  size_t n_ = 0, remaining_ = 0;
  bool failed_ = false;
  Status error_;
  int32_t prompt_tokens_ = 0;
  std::vector<RequestId> ids_;
  std::vector<std::vector<float>> results_;
};

}  // namespace

void handle_embeddings(ServerContext& ctx, const HttpRequest& req, std::shared_ptr<Exchange> ex) {
  if (!ctx.engine)
    return reply_error(*ex, bad_request("embeddings are not routed by the gateway; query the model's server directly"));
  auto parsed = parse_embedding_request(req.body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return reply_error(*ex, *e);
  EmbeddingRequest& er = std::get<EmbeddingRequest>(parsed);
  if (!model_matches(ctx, er.model)) return reply_error(*ex, model_not_found(er.model));
  if (ctx.draining && ctx.draining()) return reply_error(*ex, unavailable("the server is shutting down"));
  const int32_t n_vocab = ctx.engine->model_info().n_vocab;
  std::vector<GenerationRequest> requests;
  for (const auto& in : er.inputs) {
    GenerationRequest r;
    r.want_embedding = true;
    r.sampling = SamplingParams::greedy();
    for (TokenId t : in.tokens)
      if (t >= n_vocab) return reply_error(*ex, bad_request("token id outside the vocabulary", "input"));
    if (in.is_tokens) r.prompt_tokens = in.tokens;
    else r.prompt = in.text;
    requests.push_back(std::move(r));
  }
  auto job = std::make_shared<EmbeddingJob>(ctx, std::move(ex), er.base64);
  job->start(std::move(requests));
}

}  // namespace tern::server
