#include "handlers/router.h"

#include <vector>

#include "openai/format.h"

namespace tern::server {

bool model_matches(const ServerContext& ctx, const std::string& model) {
  return model.empty() || model == ctx.model_id;
}

void reply_error(Exchange& ex, const ApiError& e) {
  ex.log_field("error", e.code.empty() ? e.type : e.code);
  ex.respond(error_response(e));
}

void run_blocking(ServerContext& ctx, const std::shared_ptr<Exchange>& ex, std::function<void()> work,
                  std::function<void()> done) {
  auto job = [ex, work = std::move(work), done = std::move(done)]() mutable {
    std::string failure;
    try {
      work();
    } catch (const std::exception& e) {
      failure = std::string("internal error: ") + e.what();
    } catch (...) {
      failure = "internal error";
    }
    if (failure.empty()) return ex->post(std::move(done));
    ex->post([ex, failure] { reply_error(*ex, internal_error(failure)); });
  };
  if (ctx.offload) ctx.offload(std::move(job));
  else job();
}

void reply_json(Exchange& ex, const std::string& body, int status) {
  HttpResponse r;
  r.status = status;
  r.body = body;
  ex.respond(std::move(r));
}

bool constant_time_equal(const std::string& a, const std::string& b) {
  // Compare every byte of the longer string; the length difference is folded
  // into the result, so timing reveals neither a prefix nor the key's length
  // beyond what the loop count says about the input.
  size_t n = std::max(a.size(), b.size());
  volatile unsigned char diff = static_cast<unsigned char>(a.size() != b.size());
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = diff | static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

namespace {

using EndpointFn = void (*)(ServerContext&, const HttpRequest&, std::shared_ptr<Exchange>);

struct Route {
  const char* method;
  const char* path;
  EndpointFn fn;
  bool auth;  // requires the API key when one is set
};

const std::vector<Route>& routes() {
  static const std::vector<Route> table = {
      {"POST", "/v1/chat/completions", handle_chat_completions, true},
      {"POST", "/v1/completions", handle_completions, true},
      {"POST", "/v1/embeddings", handle_embeddings, true},
      {"POST", "/v1/compress", handle_compress, true},
      {"GET", "/v1/models", handle_models, true},
      {"GET", "/health", handle_health, false},
      {"GET", "/metrics", handle_metrics, false},
      {"GET", "/v1/usage", handle_usage, false},                  // gateway: virtual or admin key
      {"POST", "/admin/cache/invalidate", handle_cache_invalidate, false},  // gateway: admin key
  };
  return table;
}

bool authorized(const ServerContext& ctx, const HttpRequest& req) {
  if (ctx.api_key.empty()) return true;
  const std::string& h = req.header("authorization");
  const std::string prefix = "Bearer ";
  std::string presented = h.size() >= prefix.size() && h.compare(0, prefix.size(), prefix) == 0
                              ? h.substr(prefix.size())
                              : std::string();
  if (presented.empty()) presented = req.header("x-api-key");
  return constant_time_equal(presented, ctx.api_key);
}

}  // namespace

Handler make_router(ServerContext& ctx) {
  return [&ctx](const HttpRequest& req, std::shared_ptr<Exchange> ex) {
    std::string path = req.path;
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    // GET /v1/models/{id} is the one parameterised route.
    bool model_path = path.rfind("/v1/models/", 0) == 0;
    const Route* match = nullptr;
    bool path_known = model_path;
    for (const auto& r : routes()) {
      if (path != r.path) continue;
      path_known = true;
      if (req.method == r.method) match = &r;
    }
    if (model_path && req.method == "GET") {
      static const Route kModel = {"GET", "/v1/models/{id}", handle_models, true};
      match = &kModel;
    }
    try {
      if (!match) {
        reply_error(*ex, path_known ? method_not_allowed(req.method, path) : route_not_found(req.method, path));
        return;
      }
      if (match->auth && !authorized(ctx, req)) {
        reply_error(*ex, unauthorized());
        return;
      }
      match->fn(ctx, req, ex);
    } catch (const std::exception& e) {
      reply_error(*ex, internal_error(std::string("internal error: ") + e.what()));
      ex->end_stream();
    } catch (...) {
      reply_error(*ex, internal_error("internal error"));
      ex->end_stream();
    }
  };
}

}  // namespace tern::server
