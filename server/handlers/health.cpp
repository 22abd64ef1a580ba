// GET /health: 200 while serving (503 while shutting down), with the engine's
// load so that probes and tests can see the KV pool return to idle.
#include "handlers/context.h"
#include "openai/format.h"

namespace tern::server {

void handle_health(ServerContext& ctx, const HttpRequest&, std::shared_ptr<Exchange> ex) {
  bool draining = ctx.draining && ctx.draining();
  if (!ctx.engine) {  // gateway mode: no engine of its own
    reply_json(*ex, dump_json({{"status", draining ? "shutting_down" : "ok"}, {"gateway", true}}), draining ? 503 : 200);
    return;
  }
  EngineStats s = ctx.engine->stats();
  json body = {{"status", draining ? "shutting_down" : "ok"},
               {"model", ctx.model_id},
               {"running", s.running},
               {"waiting", s.waiting},
               {"kv_cache_usage", s.kv_usage},
               {"kv_blocks_used", s.kv_blocks_used},
               {"kv_blocks_total", s.kv_blocks_total}};
  reply_json(*ex, dump_json(body), draining ? 503 : 200);
}

}  // namespace tern::server
