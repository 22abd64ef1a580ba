// OpenAI-shaped errors: {"error":{"message","type","param","code"}} with the
// HTTP status a client expects. Every failure a handler reports goes through
// an ApiError, so status, body and Retry-After stay consistent.
#pragma once

#include <string>

#include "http/exchange.h"
#include "tern/status.h"

namespace tern::server {

struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;        // "" → null
  std::string code;         // "" → null
  int retry_after_s = 0;    // > 0: a Retry-After header
};

ApiError bad_request(std::string message, std::string param = "", std::string code = "");
ApiError invalid_json(const std::string& detail);
ApiError unauthorized();
ApiError route_not_found(const std::string& method, const std::string& path);
ApiError method_not_allowed(const std::string& method, const std::string& path);
ApiError model_not_found(const std::string& model);
ApiError payload_too_large(const std::string& message);
ApiError queue_full(const std::string& message);   // 429, Retry-After
ApiError unavailable(const std::string& message);  // 503, Retry-After (draining, shutting down)
ApiError internal_error(const std::string& message);

// A Status from the engine as the client should see it: InvalidArgument and
// OutOfRange → 400 (OutOfRange: code "context_length_exceeded"),
// ResourceExhausted → 429, NotFound → 404, Cancelled/Unimplemented/other → 500/501.
ApiError from_status(const Status& status);

std::string error_body(const ApiError& e);       // the JSON text
HttpResponse error_response(const ApiError& e);  // status, body, Retry-After

}  // namespace tern::server
