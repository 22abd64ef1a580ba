// Gateway: the agent optimization pipeline in front of any model, local or
// remote. One request goes through
//
//   authenticate virtual key → rate/budget reservation → exact cache →
//   semantic cache → route (rules) → cascade (small → large, escalating on
//   low confidence, invalid JSON/schema or refusals) → backend (with
//   fallbacks) → reconcile the reservation + ledger row + cache fill
//
// and is answered OpenAI-style (JSON or SSE) with an `x-tern-cache:
// hit|miss|semantic` header and a `usage.tern_cache` field.
//
// The server's handlers stay thin: they parse the HTTP request into a
// GatewayRequest and hand it over with a ResponseSink (their connection).
//
// Threads: handle() runs on the connection's thread and may block briefly on
// the store (SQLite/Redis round trips); backend events come back through
// ResponseSink::post(), so all of one request's state lives on its
// connection's strand. Remote backends run on the gateway's own I/O threads.
//
// Errors: every failure is an OpenAI error body with the right status: 400
// bad request, 401 unknown key, 402 budget exhausted, 403 model not allowed,
// 404 unknown model/route, 429 rate limit (Retry-After), 502/504 upstream
// failure after retries and fallbacks.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "config/gateway_config.h"
#include "tern/engine.h"

namespace tern::opt {

// Where the gateway writes one HTTP response (the server's connection).
class ResponseSink {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;
  virtual ~ResponseSink() = default;
  virtual void post(std::function<void()> fn) = 0;  // from any thread onto the sink's thread
  virtual void respond(int status, std::string body, Headers headers) = 0;
  virtual void begin_stream(Headers headers) = 0;   // 200, text/event-stream
  virtual void write(std::string data) = 0;
  virtual void end_stream() = 0;
  virtual void on_close(std::function<void()> cb) = 0;  // the peer went away
  virtual void log_field(const std::string& key, const std::string& value) = 0;
};

struct GatewayRequest {
  ApiKind kind = ApiKind::kChat;
  std::string body;                 // the client's JSON text
  std::string bearer;               // presented key ("" none)
  std::vector<std::string> tags;    // x-tern-tags (comma-separated)
  bool no_cache = false;            // cache-control: no-cache: skip lookups (still fills)
  std::string request_id;
};

struct GatewayOptions {
  int io_threads = 1;               // threads for remote backends
  // Local models share these engine settings (per-model fields override).
  EngineOptions engine;
};

// An HTTP answer computed synchronously (admin endpoints, usage, models).
struct SimpleResponse {
  int status = 200;
  std::string body;
};

class Gateway {
 public:
  // Opens the store, loads local models, connects nothing yet (remote
  // backends connect on first use).
  static Result<std::unique_ptr<Gateway>> create(GatewayConfig config, GatewayOptions options = {});
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  void handle(GatewayRequest request, std::shared_ptr<ResponseSink> sink);

  // GET /v1/usage?key=&team=&model=&route=&from=&to=&group_by=key,model,day
  // A virtual key sees its own usage; the admin key sees everyone's.
  SimpleResponse usage(const std::string& bearer, const std::map<std::string, std::string>& query);
  // POST /admin/cache/invalidate {"key"|"prefix"|"tag" (+ "namespace")}: admin key only.
  SimpleResponse invalidate(const std::string& bearer, const std::string& body);
  // GET /v1/models: the routes and models clients may name.
  SimpleResponse models(int64_t created) const;
  // Prometheus text: cost, cache hits by kind, escalations, savings, ...
  std::string prometheus() const;

  const GatewayConfig& config() const;
  // Test hook: the backend serving a model (nullptr when unknown).
  Backend* backend(const std::string& model) const;

  struct Impl;
  // Internal: built by create() / make_gateway_with_backends().
  explicit Gateway(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

// Builds a Gateway around backends supplied by the caller (tests: fake
// backends); models in the config without a supplied backend are created as
// usual.
Result<std::unique_ptr<Gateway>> make_gateway_with_backends(
    GatewayConfig config, std::map<std::string, std::shared_ptr<Backend>> backends, GatewayOptions options = {});

}  // namespace tern::opt
