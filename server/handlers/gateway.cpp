// Gateway mode (`tern serve --config GATEWAY.yaml`, docs/gateway.md): the
// chat/completions handlers hand requests to opt::Gateway with the
// connection as its ResponseSink; /v1/usage and /admin/cache/invalidate
// answer from the gateway's store. Parsing and formatting stay here; the
// pipeline is opt/gateway.
#include <sstream>

#include "gateway/gateway.h"
#include "handlers/context.h"

namespace tern::server {

namespace {

class ExchangeSink final : public opt::ResponseSink {
 public:
  explicit ExchangeSink(std::shared_ptr<Exchange> ex) : ex_(std::move(ex)) {}
  void post(std::function<void()> fn) override { ex_->post(std::move(fn)); }
  void respond(int status, std::string body, Headers headers) override {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    r.headers = std::move(headers);
    ex_->respond(std::move(r));
  }
  void begin_stream(Headers headers) override { ex_->begin_stream(200, "text/event-stream", headers); }
  void write(std::string data) override { ex_->write(std::move(data)); }
  void end_stream() override { ex_->end_stream(); }
  void on_close(std::function<void()> cb) override { ex_->on_close(std::move(cb)); }
  void log_field(const std::string& key, const std::string& value) override { ex_->log_field(key, value); }

 private:
  std::shared_ptr<Exchange> ex_;
};

std::string bearer_of(const HttpRequest& req) {
  const std::string& h = req.header("authorization");
  if (h.rfind("Bearer ", 0) == 0) return h.substr(7);
  return req.header("x-api-key");
}

std::vector<std::string> split_tags(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string t;
  while (std::getline(in, t, ',')) {
    size_t a = t.find_first_not_of(' '), b = t.find_last_not_of(' ');
    if (a != std::string::npos) out.push_back(t.substr(a, b - a + 1));
  }
  return out;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string url_decode(const std::string& s) {
  std::string o;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') o += ' ';
    else if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      o += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else o += s[i];
  }
  return o;
}

std::map<std::string, std::string> query_of(const std::string& target) {
  std::map<std::string, std::string> q;
  size_t qm = target.find('?');
  if (qm == std::string::npos) return q;
  std::stringstream in(target.substr(qm + 1));
  std::string kv;
  while (std::getline(in, kv, '&')) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) q[url_decode(kv)] = "";
    else q[url_decode(kv.substr(0, eq))] = url_decode(kv.substr(eq + 1));
  }
  return q;
}

}  // namespace

void handle_gateway_generation(ServerContext& ctx, const HttpRequest& req, std::shared_ptr<Exchange> ex, bool chat) {
  if (ctx.draining && ctx.draining()) return reply_error(*ex, unavailable("the server is shutting down"));
  opt::GatewayRequest g;
  g.kind = chat ? opt::ApiKind::kChat : opt::ApiKind::kCompletion;
  g.body = req.body;
  g.bearer = bearer_of(req);
  g.tags = split_tags(req.header("x-tern-tags"));
  g.no_cache = req.header("cache-control").find("no-cache") != std::string::npos;
  g.request_id = ex->request_id();
  ctx.gateway->handle(std::move(g), std::make_shared<ExchangeSink>(std::move(ex)));
}

void handle_usage(ServerContext& ctx, const HttpRequest& req, std::shared_ptr<Exchange> ex) {
  if (!ctx.gateway) return reply_error(*ex, route_not_found(req.method, req.path));
  opt::SimpleResponse r = ctx.gateway->usage(bearer_of(req), query_of(req.target));
  reply_json(*ex, r.body, r.status);
}

void handle_cache_invalidate(ServerContext& ctx, const HttpRequest& req, std::shared_ptr<Exchange> ex) {
  if (!ctx.gateway) return reply_error(*ex, route_not_found(req.method, req.path));
  opt::SimpleResponse r = ctx.gateway->invalidate(bearer_of(req), req.body);
  reply_json(*ex, r.body, r.status);
}

}  // namespace tern::server
