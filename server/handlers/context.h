// What every handler needs: the engine, the metrics, the served identity and
// the few server settings handlers act on. Owned by server/app.cpp, alive
// for as long as the HTTP server runs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "compact/state_store.h"
#include "http/exchange.h"
#include "metrics/server_metrics.h"
#include "openai/errors.h"
#include "tern/engine.h"

namespace tern::opt {
class Gateway;
}

namespace tern::server {

struct ServerContext {
  Engine* engine = nullptr;
  ServerMetrics* metrics = nullptr;
  std::string model_id;            // the name clients use (--alias, else the model's name)
  std::string api_key;             // "": no authentication
  int64_t created = 0;             // unix seconds at start-up, reported by /v1/models
  std::function<bool()> draining;  // true while shutting down: new work gets 503
  // Set by `tern serve --config GATEWAY.yaml`: chat/completions go through the
  // gateway (docs/gateway.md) and `engine` is null.
  opt::Gateway* gateway = nullptr;
  // Runs blocking work (prompt compression, which waits for the engine) on a
  // worker thread. Unset: inline on the connection's strand.
  std::function<void(std::function<void()>)> offload;
  // Conversations' compactions (the "tern": {"compact": ...} stage); null:
  // every request is compacted on its own.
  compact::StateStore* compact_states = nullptr;
};

// work() on ctx.offload's thread (inline without one), then done() back on
// the connection's strand. An exception in work() becomes a 500 there.
void run_blocking(ServerContext& ctx, const std::shared_ptr<Exchange>& ex, std::function<void()> work,
                  std::function<void()> done);

// True when `model` names the served model ("" also does: clients may omit it).
bool model_matches(const ServerContext& ctx, const std::string& model);

// Answers with the error and logs its code.
void reply_error(Exchange& ex, const ApiError& e);
void reply_json(Exchange& ex, const std::string& body, int status = 200);

// The endpoints, one per file. Each runs on the connection's strand.
void handle_chat_completions(ServerContext& ctx, const HttpRequest& req, std::shared_ptr<Exchange> ex);
void handle_completions(ServerContext& ctx, const HttpRequest& req, std::shared_ptr<Exchange> ex);
void handle_embeddings(ServerContext& ctx, const HttpRequest& req, std::shared_ptr<Exchange> ex);
void handle_compress(ServerContext& ctx, const HttpRequest& req, std::shared_ptr<Exchange> ex);
void handle_models(ServerContext& ctx, const HttpRequest& req, std::shared_ptr<Exchange> ex);
void handle_health(ServerContext& ctx, const HttpRequest& req, std::shared_ptr<Exchange> ex);
void handle_metrics(ServerContext& ctx, const HttpRequest& req, std::shared_ptr<Exchange> ex);
// Gateway mode (handlers/gateway.cpp).
void handle_gateway_generation(ServerContext& ctx, const HttpRequest& req, std::shared_ptr<Exchange> ex, bool chat);
void handle_usage(ServerContext& ctx, const HttpRequest& req, std::shared_ptr<Exchange> ex);
void handle_cache_invalidate(ServerContext& ctx, const HttpRequest& req, std::shared_ptr<Exchange> ex);

}  // namespace tern::server
