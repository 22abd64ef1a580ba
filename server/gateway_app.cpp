// `tern serve --config GATEWAY.yaml`: the HTTP server in front of
// opt::Gateway (docs/gateway.md). The serve options (host, port, threads,
// body limit, drain, logging) apply as in single-model mode; the engine
// options apply to the config's local models.
#include <cstdio>
#include <ctime>
#include <memory>

#include "app.h"
#include "gateway/gateway.h"
#include "handlers/context.h"
#include "handlers/router.h"
#include "http/http_server.h"
#include "metrics/server_metrics.h"
#include "openai/errors.h"

namespace tern::server {

int run_gateway_server(const ServeOptions& o) {
  auto config = opt::load_gateway_config(o.config);
  if (!config.ok()) {
    std::fprintf(stderr, "tern serve: %s\n", config.status().message().c_str());
    return 1;
  }
  size_t n_models = config->models.size(), n_routes = config->routes.size();
  opt::GatewayOptions go;
  go.engine = engine_options(o);
  go.io_threads = o.http_threads;
  auto gateway = opt::Gateway::create(std::move(*config), go);
  if (!gateway.ok()) {
    std::fprintf(stderr, "tern serve: %s\n", gateway.status().message().c_str());
    return 1;
  }

  ServerMetrics metrics;
  ServerContext ctx;
  ctx.gateway = gateway->get();
  ctx.metrics = &metrics;
  ctx.model_id = "tern-gateway";
  ctx.created = static_cast<int64_t>(std::time(nullptr));
  // Keys are the config's virtual keys, checked by the gateway; --api-key
  // would demand a second, different bearer token.
  if (!o.api_key.empty()) {
    std::fprintf(stderr, "tern serve: --api-key does not apply with a gateway config (use its 'keys')\n");
    return 2;
  }

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
    std::fprintf(stderr, "tern serve: gateway (%zu models, %zu routes) on http://%s:%d  [%d HTTP threads]\n", n_models,
                 n_routes, o.host.c_str(), port, o.http_threads);
    std::fflush(stderr);
  });
  // The gateway goes first: its backends' callbacks post into the server's executors.
  gateway->reset();
  if (!st.ok()) {
    std::fprintf(stderr, "tern serve: %s\n", st.message().c_str());
    return 1;
  }
  std::fprintf(stderr, "tern serve: stopped\n");
  return 0;
}

}  // namespace tern::server
