#include "openai/errors.h"

#include <nlohmann/json.hpp>

namespace tern::server {

ApiError bad_request(std::string message, std::string param, std::string code) {
  ApiError e;
  e.status = 400;
  e.message = std::move(message);
  e.param = std::move(param);
  e.code = std::move(code);
  return e;
}

ApiError invalid_json(const std::string& detail) {
  return bad_request("request body is not valid JSON: " + detail, "", "invalid_json");
}

ApiError unauthorized() {
  ApiError e;
  e.status = 401;
  e.message = "missing or incorrect API key; send it as 'Authorization: Bearer <key>'";
  e.type = "authentication_error";
  e.code = "invalid_api_key";
  return e;
}

ApiError route_not_found(const std::string& method, const std::string& path) {
  ApiError e;
  e.status = 404;
  e.message = "no such route: " + method + " " + path;
  e.code = "not_found";
  return e;
}

ApiError method_not_allowed(const std::string& method, const std::string& path) {
  ApiError e;
  e.status = 405;
  e.message = "method " + method + " is not allowed on " + path;
  e.code = "method_not_allowed";
  return e;
}

ApiError model_not_found(const std::string& model) {
  ApiError e;
  e.status = 404;
  e.message = "the model '" + model + "' does not exist; GET /v1/models lists the served model";
  e.param = "model";
  e.code = "model_not_found";
  return e;
}

ApiError payload_too_large(const std::string& message) {
  ApiError e;
  e.status = 413;
  e.message = message;
  e.code = "request_too_large";
  return e;
}

ApiError queue_full(const std::string& message) {
  ApiError e;
  e.status = 429;
  e.message = "the server's request queue is full, retry later (" + message + ")";
  e.type = "rate_limit_error";
  e.code = "queue_full";
  e.retry_after_s = 1;
  return e;
}

ApiError unavailable(const std::string& message) {
  ApiError e;
  e.status = 503;
  e.message = message;
  e.type = "server_error";
  e.code = "unavailable";
  e.retry_after_s = 5;
  return e;
}

ApiError internal_error(const std::string& message) {
  ApiError e;
  e.status = 500;
  e.message = message;
  e.type = "server_error";
  e.code = "internal_error";
  return e;
}

ApiError from_status(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument: return bad_request(status.message());
    case StatusCode::kOutOfRange: return bad_request(status.message(), "messages", "context_length_exceeded");
    case StatusCode::kResourceExhausted: return queue_full(status.message());
    case StatusCode::kNotFound: {
      ApiError e = bad_request(status.message());
      e.status = 404;
      e.code = "not_found";
      return e;
    }
    case StatusCode::kUnimplemented: {
      ApiError e = bad_request(status.message(), "", "unsupported");
      e.status = 501;
      e.type = "server_error";
      return e;
    }
    case StatusCode::kCancelled: return unavailable("request cancelled: " + status.message());
    default: return internal_error(status.message());
  }
}

std::string error_body(const ApiError& e) {
  nlohmann::json err = {{"message", e.message}, {"type", e.type}, {"param", nullptr}, {"code", nullptr}};
  if (!e.param.empty()) err["param"] = e.param;
  if (!e.code.empty()) err["code"] = e.code;
  return nlohmann::json{{"error", err}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

HttpResponse error_response(const ApiError& e) {
  HttpResponse r;
  r.status = e.status;
  r.body = error_body(e);
  if (e.retry_after_s > 0) r.headers.emplace_back("Retry-After", std::to_string(e.retry_after_s));
  return r;
}

}  // namespace tern::server
