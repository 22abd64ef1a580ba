#include "app.h"

#include <cstdio>
#include <ctime>
#include <memory>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "handlers/context.h"
#include "handlers/router.h"
#include "http/http_server.h"
#include "metrics/server_metrics.h"
#include "openai/errors.h"

namespace tern::server {

EngineOptions engine_options(const ServeOptions& o) {
  EngineOptions e;
  e.model_path = o.model;
  e.threads = o.threads;
  e.n_ctx = o.ctx_size;
  e.kv_memory_bytes = o.kv_memory;
  e.max_batch_tokens = o.max_batch_tokens;
  e.max_num_seqs = o.max_seqs;
  e.max_queue = o.max_queue;
  e.prefix_caching = o.prefix_caching;
  e.kv_type = o.kv_type == "f32" ? KvCacheType::kF32 : KvCacheType::kF16;
  e.speculative.draft_model_path = o.draft_model;
  e.speculative.max_draft_tokens = o.draft_max;
  e.speculative.adaptive = o.spec_adaptive;
  if (!o.spec.empty()) parse_spec_method(o.spec, &e.speculative.method);
  else if (!o.draft_model.empty()) e.speculative.method = SpecMethod::kDraftModel;
  return e;
}

int run_server(const ServeOptions& o) {
  if (o.gateway) return run_gateway_server(o);
  auto created = Engine::create(engine_options(o));
  if (!created.ok()) {
    std::fprintf(stderr, "tern serve: %s\n", created.status().message().c_str());
    return 1;
  }
  std::unique_ptr<Engine> engine = std::move(*created);
  const ModelInfo& info = engine->model_info();

  ServerMetrics metrics;
  ServerContext ctx;
  ctx.engine = engine.get();
  ctx.metrics = &metrics;
  ctx.model_id = o.alias.empty() ? info.name : o.alias;
  ctx.api_key = o.api_key;
  ctx.created = static_cast<int64_t>(std::time(nullptr));
  // Blocking work of handlers (prompt compression waits for the engine) runs
  // here, never on the I/O threads.
  boost::asio::thread_pool stage_pool(4);  // mostly waiting: on the engine, on summaries
  ctx.offload = [&stage_pool](std::function<void()> fn) { boost::asio::post(stage_pool, std::move(fn)); };
  compact::StateStore compact_states(1024);
  ctx.compact_states = &compact_states;

  HttpServerOptions ho;
  ho.host = o.host;
  ho.port = o.port;
  ho.max_body_bytes = o.max_body;
  ho.threads = o.http_threads;
  ho.drain_timeout_s = o.drain_timeout;
  ho.log_requests = o.log_requests;
  ho.error_response = [](int status, const std::string& message) {
    ApiError e = status == 413 ? payload_too_large(message) : status >= 500 ? internal_error(message)
                                                                           : bad_request(message);
    e.status = status;
    return error_response(e);
  };
  ho.on_response = [&metrics](int status) { metrics.http_response(status); };
  HttpServer server(ho, make_router(ctx));
  ctx.draining = [&server] { return server.draining(); };

  Status st = server.run([&](int port) {
    std::fprintf(stderr,
                 "tern serve: model '%s' (%s, ctx %d, vocab %d) on http://%s:%d  "
                 "[batch %d tokens, %d seqs, %d HTTP threads%s]\n",
                 ctx.model_id.c_str(), info.arch.c_str(), info.n_ctx, info.n_vocab, o.host.c_str(), port,
                 o.max_batch_tokens, o.max_seqs, o.http_threads, o.api_key.empty() ? "" : ", API key required");
    std::fflush(stderr);
  });
  // Stage work still running needs the engine; then the engine goes before
  // the server: its callbacks post into the server's executors.
  stage_pool.join();
  engine.reset();
  if (!st.ok()) {
    std::fprintf(stderr, "tern serve: %s\n", st.message().c_str());
    return 1;
  }
  std::fprintf(stderr, "tern serve: stopped\n");
  return 0;
}

}  // namespace tern::server
