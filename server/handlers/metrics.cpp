// GET /metrics: Prometheus text format (see metrics/server_metrics.h).
#include "gateway/gateway.h"
#include "handlers/context.h"

namespace tern::server {

void handle_metrics(ServerContext& ctx, const HttpRequest&, std::shared_ptr<Exchange> ex) {
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = ctx.metrics->render(ctx.engine ? ctx.engine->stats() : EngineStats{}, ctx.model_id);
  if (ctx.gateway) r.body += ctx.gateway->prometheus();
  ex->respond(std::move(r));
}

}  // namespace tern::server
