// GET /v1/models and GET /v1/models/{id}: the one served model.
#include "gateway/gateway.h"
#include "handlers/context.h"
#include "openai/format.h"

namespace tern::server {

void handle_models(ServerContext& ctx, const HttpRequest& req, std::shared_ptr<Exchange> ex) {
  if (ctx.gateway) {
    opt::SimpleResponse r = ctx.gateway->models(ctx.created);
    return reply_json(*ex, r.body, r.status);
  }
  json list = models_json(ctx.model_id, ctx.created, ctx.engine->model_info().n_ctx);
  const std::string prefix = "/v1/models/";
  if (req.path.rfind(prefix, 0) == 0 && req.path.size() > prefix.size()) {
    std::string id = req.path.substr(prefix.size());
    while (!id.empty() && id.back() == '/') id.pop_back();
    if (id != ctx.model_id) return reply_error(*ex, model_not_found(id));
    return reply_json(*ex, dump_json(list["data"][0]));
  }
  reply_json(*ex, dump_json(list));
}

}  // namespace tern::server
