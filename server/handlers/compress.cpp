// POST /v1/compress: prompt compression with the served model as the scorer
// (docs/compression.md). Body: {"prompt": "..."} or {"messages": [...]}, plus
// "instruction", "question", "ratio", "target_tokens", "force_tokens",
// "coarse", "fine", "toon". The answer names its fields as LLMLingua does
// (compressed_prompt, origin_tokens, compressed_tokens, ratio).
//
// Compression waits for the engine (a few ms per 1,000 tokens on small
// models), so it runs on the server's stage threads (run_blocking), never on
// the I/O thread that received the request.
#include <nlohmann/json.hpp>

#include "backend/local_backend.h"
#include "backend/summarize.h"
#include "compress/compressor.h"
#include "compress/message_stages.h"
#include "handlers/context.h"
#include "handlers/stages.h"
#include "openai/format.h"
#include "toon/stage.h"

namespace tern::server {

namespace {

using json = nlohmann::json;

std::optional<ApiError> string_list(const json& body, const char* key, std::vector<std::string>& out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_array()) return bad_request(std::string("'") + key + "' must be an array of strings", key);
  for (const auto& s : *it) {
    if (!s.is_string()) return bad_request(std::string("'") + key + "' must be an array of strings", key);
    out.push_back(s.get<std::string>());
  }
  return std::nullopt;
}

}  // namespace

Status apply_stages(Engine& engine, const TernStages& st, std::string& messages_json, StageReport* report,
                    compact::StateStore* states) {
  toon::Json messages = toon::Json::parse(messages_json, nullptr, false);
  if (messages.is_discarded() || !messages.is_array()) return InvalidArgument("messages must be a JSON array");
  compress::EngineScorer scorer(engine);
  opt::LocalBackend summariser("served model", &engine);  // compaction's summaries: the served model
  compress::StageReport rep;
  TERN_RETURN_IF_ERROR(
      compress::apply_message_stages(scorer, st, messages, &rep, opt::backend_summarizer(summariser), states));
  messages_json = messages.dump(-1, ' ', false, toon::Json::error_handler_t::replace);
  if (report) *report = rep;
  return Status::Ok();
}

void handle_compress(ServerContext& ctx, const HttpRequest& req, std::shared_ptr<Exchange> ex) {
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded()) return reply_error(*ex, invalid_json(req.body.empty() ? "the body is empty" : "syntax error"));
  if (!body.is_object()) return reply_error(*ex, bad_request("the body must be a JSON object"));
  if (body.contains("model") && !body["model"].is_null() && !body["model"].is_string())
    return reply_error(*ex, bad_request("'model' must be a string", "model"));
  const std::string model = body.contains("model") && body["model"].is_string() ? body["model"].get<std::string>() : "";
  if (!model_matches(ctx, model)) return reply_error(*ex, model_not_found(model));
  if (ctx.draining && ctx.draining()) return reply_error(*ex, unavailable("the server is shutting down"));

  compress::CompressOptions o;
  bool toon_stage = false;
  try {
    auto num = [&](const char* k, double lo, double hi, double& out) -> std::optional<ApiError> {
      if (!body.contains(k) || body[k].is_null()) return std::nullopt;
      if (!body[k].is_number() || body[k].get<double>() < lo || body[k].get<double>() > hi)
        return bad_request(std::string("'") + k + "' must be a number between " + std::to_string(static_cast<int64_t>(lo)) +
                               " and " + std::to_string(static_cast<int64_t>(hi)), k);
      out = body[k].get<double>();
      return std::nullopt;
    };
    auto flag = [&](const char* k, bool& out) -> std::optional<ApiError> {
      if (!body.contains(k) || body[k].is_null()) return std::nullopt;
      if (!body[k].is_boolean()) return bad_request(std::string("'") + k + "' must be a boolean", k);
      out = body[k].get<bool>();
      return std::nullopt;
    };
    double target = 0;
    for (auto e : {num("ratio", 1, 1000, o.ratio), num("target_tokens", 0, 1e9, target), flag("coarse", o.coarse),
                   flag("fine", o.fine), flag("iterative", o.iterative), flag("toon", toon_stage),
                   string_list(body, "force_tokens", o.protect.force)})
      if (e) return reply_error(*ex, *e);
    o.target_tokens = static_cast<int64_t>(target);
  } catch (const json::exception&) {
    return reply_error(*ex, bad_request("malformed compression options"));
  }
  const bool has_prompt = body.contains("prompt") && !body["prompt"].is_null();
  const bool has_messages = body.contains("messages") && !body["messages"].is_null();
  if (has_prompt == has_messages) return reply_error(*ex, bad_request("give exactly one of 'prompt' and 'messages'"));

  if (has_messages) {
    if (!body["messages"].is_array()) return reply_error(*ex, bad_request("'messages' must be an array", "messages"));
    for (const auto& m : body["messages"])
      if (!m.is_object() || !m.contains("role") || !m["role"].is_string() ||
          (m.contains("content") && !m["content"].is_string() && !m["content"].is_null()))
        return reply_error(*ex, bad_request("every message needs a string role and a string content", "messages"));
  } else {
    if (!body["prompt"].is_string()) return reply_error(*ex, bad_request("'prompt' must be a string", "prompt"));
    for (const char* k : {"instruction", "question"})
      if (body.contains(k) && !body[k].is_null() && !body[k].is_string())
        return reply_error(*ex, bad_request(std::string("'") + k + "' must be a string", k));
  }

  // The compression itself waits for the engine: off the connection's strand.
  struct Job {
    json body, out;
    std::optional<ApiError> error;
  };
  auto job = std::make_shared<Job>();
  job->body = std::move(body);
  job->out = {{"object", "compression"}, {"model", ctx.model_id}};
  auto work = [&ctx, job, o, toon_stage, has_messages] {
    const json& body = job->body;
    json& out = job->out;
    compress::EngineScorer scorer(*ctx.engine);
    if (has_messages) {
      TernStages st;
      st.toon = toon_stage;
      st.compress = true;
      st.ratio = o.ratio;
      st.target_tokens = o.target_tokens;
      st.force = o.protect.force;
      st.coarse = o.coarse;
      st.fine = o.fine;
      st.iterative = o.iterative;
      std::string messages = body["messages"].dump();
      StageReport rep;
      Status s = apply_stages(*ctx.engine, st, messages, &rep);
      if (!s.ok()) return job->error.emplace(from_status(s)), void();
      out["messages"] = json::parse(messages);
      out["origin_tokens"] = rep.tokens_before;
      out["compressed_tokens"] = rep.tokens_after;
      out["ms"] = rep.compress_ms;
    } else {
      std::string prompt = body["prompt"].get<std::string>();
      compress::CompressOptions po = o;
      if (toon_stage) {
        toon::StageStats ts;
        prompt = toon::rewrite_text(prompt, [&](std::string_view s) { return scorer.tokenize(s).size(); }, {}, &ts);
        for (std::string& r : ts.replacements) po.protect.force.push_back(std::move(r));  // TOON blocks stay whole
      }
      std::vector<compress::Segment> segs;
      if (body.contains("instruction") && body["instruction"].is_string())
        segs.push_back({body["instruction"].get<std::string>(), compress::Role::kInstruction});
      for (auto& s : compress::split_segments(prompt)) segs.push_back(std::move(s));
      if (body.contains("question") && body["question"].is_string())
        segs.push_back({body["question"].get<std::string>(), compress::Role::kQuestion});
      auto r = compress::Compressor(scorer).compress(segs, po);
      if (!r.ok()) return job->error.emplace(from_status(r.status())), void();
      out["compressed_prompt"] = r->text;
      out["origin_tokens"] = r->tokens_before;
      out["compressed_tokens"] = r->tokens_after;
      out["protected_spans"] = r->protected_spans.size();
      out["unchanged"] = r->unchanged;
      out["model_calls"] = r->model_calls;
      out["ms"] = r->ms;
    }
    const double before = out["origin_tokens"].get<double>(), after = out["compressed_tokens"].get<double>();
    out["ratio"] = after > 0 ? before / after : 0.0;
  };
  run_blocking(ctx, ex, std::move(work), [ex, job] {
    if (job->error) return reply_error(*ex, *job->error);
    ex->log_field("origin_tokens", job->out["origin_tokens"].get<double>());
    ex->log_field("compressed_tokens", job->out["compressed_tokens"].get<double>());
    reply_json(*ex, job->out.dump(-1, ' ', false, json::error_handler_t::replace));
  });
}

}  // namespace tern::server
