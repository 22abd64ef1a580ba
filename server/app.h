// The `tern serve` application: engine + metrics + routes + HTTP server,
// wired together and run until SIGINT/SIGTERM.
#pragma once

#include <functional>

#include "config/serve_options.h"
#include "tern/engine.h"

namespace tern::server {

// EngineOptions from the serve options (threads, ctx, KV pool, batching).
EngineOptions engine_options(const ServeOptions& o);

// Loads the model, serves until a signal, drains, stops. Returns the process
// exit code; prints why on failure.
int run_server(const ServeOptions& options);

// Gateway mode (options.gateway: --config names a gateway YAML): the
// gateway's models, routes, caches and budgets instead of one engine
// (server/gateway_app.cpp, docs/gateway.md).
int run_gateway_server(const ServeOptions& options);

}  // namespace tern::server
