// One request through the gateway pipeline (see gateway.h for the order).
// A Flight lives on its connection's strand: handle() starts it there and
// every backend event is posted back there, so its state needs no lock.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

#include <boost/asio/post.hpp>

#include "backend/openai_wire.h"
#include "backend/summarize.h"
#include "compress/message_stages.h"
#include "gateway/gateway_impl.h"

namespace tern::opt {

namespace {

using Clock = std::chrono::steady_clock;

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string random_id(const char* prefix) {
  static const char* kAlnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string s = prefix;
  for (int i = 0; i < 24; ++i) s += kAlnum[rng() % 62];
  return s;
}

json usage_json(const TokenUsage& u, const std::string& cache) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}},
          {"tern_cache", cache}};
}

std::string sse(const std::string& payload) { return "data: " + payload + "\n\n"; }
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Rough upper bound of a prompt's tokens for the budget reservation: one
// token per byte of text (no tokenizer emits more: every token covers at
// least one byte) plus the chat template's framing per message.
int64_t prompt_token_bound(const json& body, const RequestFeatures& f) {
  int64_t messages = 1;
  if (auto m = body.find("messages"); m != body.end() && m->is_array()) messages = static_cast<int64_t>(m->size());
  int64_t tools = 0;
  if (auto t = body.find("tools"); t != body.end()) tools = static_cast<int64_t>(t->dump().size());
  return static_cast<int64_t>(f.text.size()) + tools + 48 * messages + 32;
}

class Flight : public std::enable_shared_from_this<Flight> {
 public:
  Flight(Gateway::Impl& gw, GatewayRequest req, std::shared_ptr<ResponseSink> sink)
      : gw_(gw), req_(std::move(req)), sink_(std::move(sink)), start_(Clock::now()), start_ms_(unix_ms()) {}

  void run();

 private:
  // Pipeline steps.
  bool authenticate();
  bool resolve_route();
  bool stage_options(compress::MessageStages& st);
  void run_stages(const compress::MessageStages& st);
  void stages_done(const Status& s, const std::string& messages, const compress::StageReport& rep);
  void proceed();
  bool serve_from_cache();
  bool admit();
  void run_stage();
  void on_event(BackendEvent ev);
  void on_stage_done(BackendEvent ev);
  bool try_fallback(const BackendEvent& ev);
  void finish_ok();
  void finish_error(int status, const std::string& message, const std::string& type);
  void settle(int status);
  void log_outcome();
  void fill_cache(const json& response);

  // Output.
  ResponseSink::Headers headers(const std::string& cache) const;
  void stream_delta(const BackendEvent& ev);
  json chunk_base() const;
  json response_json() const;
  void reply_error(int status, const std::string& message, const std::string& type, int64_t retry_after_ms = 0);

  Gateway::Impl& gw_;
  GatewayRequest req_;
  std::shared_ptr<ResponseSink> sink_;
  Clock::time_point start_;
  int64_t start_ms_;
  json body_;
  std::string stages_header_;  // "before->after" content tokens when stages ran
  bool stream_ = false, include_usage_ = false;
  RequestFeatures features_;
  const budget::VirtualKey* key_ = nullptr;
  std::string ns_;
  std::string client_model_;   // what the client named (a route or a model)
  const RouteConfig* route_ = nullptr;  // nullptr: a model named directly
  RouteCacheConfig cache_cfg_;
  std::vector<std::string> targets_;
  std::vector<std::string> fallbacks_;
  size_t fallback_next_ = 0;
  size_t stage_ = 0;
  std::string model_;          // the model of the current attempt
  Backend* backend_ = nullptr;
  uint64_t handle_ = 0;
  bool in_call_ = false;
  // Cache.
  std::optional<cache::CacheKey> exact_key_;
  std::optional<cache::SemanticQuery> semantic_q_;
  // Budget.
  budget::Admission admission_;
  // The current stage's answer.
  std::string text_;
  json tool_calls_;
  std::vector<float> logprobs_;
  bool client_logprobs_ = false;  // the client asked for logprobs: they pass through
  json logprobs_json_;            // this stage's choice.logprobs so far (client_logprobs_)
  std::string finish_reason_;
  TokenUsage usage_;           // of the answering stage
  TokenUsage total_usage_;     // all stages
  Picodollars cost_ = 0;       // all stages
  double upstream_ms_ = 0;     // all stages: time spent in the models
  int escalations_ = 0;
  // Response.
  std::string id_;
  int64_t created_ = 0;
  bool streaming_ = false;     // begin_stream sent
  bool disconnected_ = false;
  bool done_ = false;
};

void Flight::run() {
  body_ = json::parse(req_.body, nullptr, false);
  if (!body_.is_object()) return reply_error(400, "request body is not a JSON object", "invalid_request_error");
  id_ = random_id(req_.kind == ApiKind::kChat ? "chatcmpl-" : "cmpl-");
  created_ = static_cast<int64_t>(std::time(nullptr));
  stream_ = body_.value("stream", false);
  if (auto so = body_.find("stream_options"); so != body_.end() && so->is_object())
    include_usage_ = so->value("include_usage", false);
  if (auto lp = body_.find("logprobs"); lp != body_.end())  // chat: true; completions: a count
    client_logprobs_ = (lp->is_boolean() && lp->get<bool>()) || lp->is_number_integer();
  if (auto n = body_.find("n"); n != body_.end() && !n->is_null() && (!n->is_number_integer() || n->get<int>() != 1))
    return reply_error(400, "the gateway serves n = 1 only", "invalid_request_error");
  if (req_.kind == ApiKind::kChat && (!body_.contains("messages") || !body_["messages"].is_array()))
    return reply_error(400, "'messages' must be an array", "invalid_request_error");
  if (req_.kind == ApiKind::kCompletion && !body_.contains("prompt"))
    return reply_error(400, "'prompt' is required", "invalid_request_error");
  features_ = request_features(body_, req_.tags);
  if (!authenticate() || !resolve_route()) return;
  compress::MessageStages st;
  if (!stage_options(st)) return;
  if (st.any() && req_.kind == ApiKind::kChat) return run_stages(st);
  proceed();
}

// After the stages: cache, admission, the models.
void Flight::proceed() {
  sink_->log_field("route", client_model_);
  gw_.metrics.add(gw_.metrics.requests, client_model_);
  if (serve_from_cache()) return;
  if (!admit()) return;
  std::weak_ptr<Flight> weak = shared_from_this();
  sink_->on_close([weak] {
    if (auto f = weak.lock()) {
      f->disconnected_ = true;
      if (f->in_call_ && f->backend_) f->backend_->cancel(f->handle_);
    }
  });
  if (targets_.size() > 1) gw_.metrics.add(gw_.metrics.cascades, client_model_);
  model_ = targets_[0];
  run_stage();
}

bool Flight::authenticate() {
  if (!gw_.auth_required()) {
    ns_ = Gateway::Impl::namespace_of(nullptr);
    return true;
  }
  key_ = gw_.budgets->authenticate(req_.bearer);
  if (!key_) {
    std::lock_guard<std::mutex> lock(gw_.metrics.mu);
    gw_.metrics.denied[401]++;
    reply_error(401, "invalid API key", "invalid_request_error");
    return false;
  }
  ns_ = Gateway::Impl::namespace_of(key_);
  sink_->log_field("key", key_->id);
  return true;
}

bool Flight::resolve_route() {
  client_model_ = body_.value("model", "");
  if (client_model_.empty()) client_model_ = gw_.cfg.default_route;
  route_ = gw_.cfg.find_route(client_model_);
  if (route_) {
    targets_ = gw_.routers.at(route_->name)->plan(features_).targets;
    fallbacks_ = route_->fallbacks;
    cache_cfg_ = route_->cache;
  } else if (gw_.cfg.find_model(client_model_)) {
    targets_ = {client_model_};
  } else {
    reply_error(404, "the model '" + client_model_ + "' does not exist (no such route or model)",
                "invalid_request_error", 0);
    return false;
  }
  // The key's allow-list applies before the cache too (admit() checks it again).
  if (key_ && !key_->models.empty() &&
      std::find(key_->models.begin(), key_->models.end(), client_model_) == key_->models.end()) {
    {
      std::lock_guard<std::mutex> lock(gw_.metrics.mu);
      gw_.metrics.denied[403]++;
    }
    reply_error(403, "the key '" + key_->id + "' may not use '" + client_model_ + "'", "permission_denied");
    return false;
  }
  return true;
}

// The compact/toon/compress stages (the route's, with the request's "tern" field
// over them) rewrite the messages before the cache and the models see them;
// the "tern" field itself never goes upstream. stage_options() settles which
// stages run (false: answered with an error).
bool Flight::stage_options(compress::MessageStages& st) {
  st = route_ ? route_->stages : compress::MessageStages{};
  if (auto t = body_.find("tern"); t != body_.end()) {
    const std::string err = compress::parse_message_stages(*t, st);
    if (!err.empty()) {
      reply_error(400, err, "invalid_request_error");
      return false;
    }
    body_.erase("tern");
  }
  if (st.any() && req_.kind == ApiKind::kChat && !gw_.stage_scorer) {
    reply_error(400, "'tern' stages need a scoring model: this gateway has no compress_model and no local model",
                "invalid_request_error");
    return false;
  }
  if (st.compact && req_.kind == ApiKind::kChat) {
    if (st.context_tokens <= 0) {
      reply_error(400, "'tern.compact.context_tokens' is required in the gateway (the target model's window or a budget)",
                  "invalid_request_error");
      return false;
    }
    const std::string& m = st.compact_model.empty() ? targets_.front() : st.compact_model;
    if (!gw_.backends.count(m)) {
      reply_error(400, "compaction's summariser '" + m + "' is not a model of this gateway", "invalid_request_error");
      return false;
    }
  }
  return true;
}

// The stages wait for the scoring model (milliseconds per 1,000 tokens), so
// they run on the gateway's stage threads, not the connection's; the result
// comes back to the connection through the sink.
void Flight::run_stages(const compress::MessageStages& st) {
  auto self = shared_from_this();
  auto work = [self, st, messages = body_["messages"].dump()] {
    compress::StageReport rep;
    toon::Json m = toon::Json::parse(messages);  // key order kept while rewriting
    compact::Summarizer summarize;
    if (st.compact)  // the route's compact.model, else its first target
      summarize = opt::backend_summarizer(*self->gw_.backends.at(st.compact_model.empty() ? self->targets_.front()
                                                                                          : st.compact_model));
    const Status s =
        compress::apply_message_stages(*self->gw_.stage_scorer, st, m, &rep, summarize, &self->gw_.compact_states);
    std::string out = s.ok() ? m.dump(-1, ' ', false, toon::Json::error_handler_t::replace) : std::string();
    self->sink_->post([self, s, out = std::move(out), rep] { self->stages_done(s, out, rep); });
  };
  if (gw_.stage_pool) boost::asio::post(*gw_.stage_pool, std::move(work));
  else work();
}

void Flight::stages_done(const Status& s, const std::string& messages, const compress::StageReport& rep) {
  if (!s.ok()) {  // bad messages or options: the client's; the scorer or the summariser failing: ours
    if (s.code() == StatusCode::kInvalidArgument)
      return reply_error(400, "'tern' stages: " + s.message(), "invalid_request_error");
    return reply_error(502, "'tern' stages: " + s.message(), "api_error");
  }
  body_["messages"] = json::parse(messages);
  stages_header_ = std::to_string(rep.tokens_before) + "->" + std::to_string(rep.tokens_after);
  sink_->log_field("stages", stages_header_);
  proceed();
}

bool Flight::serve_from_cache() {
  if (!gw_.exact && !gw_.semantic) return false;
  std::string status = "miss";
  std::optional<cache::CachedResponse> hit;
  json keyed = body_;
  keyed["model"] = client_model_;
  if (gw_.exact && cache_cfg_.exact && gw_.exact->eligible(keyed).cacheable) {
    auto k = cache::make_cache_key(ns_, keyed);
    if (k.ok()) {
      exact_key_ = *k;
      if (!req_.no_cache) {
        auto r = gw_.exact->lookup(*exact_key_);
        if (r.ok() && *r) {
          hit = std::move(**r);
          status = "hit";
        }
      }
    }
  }
  if (!hit && gw_.semantic && cache_cfg_.semantic) {
    auto q = gw_.semantic->prepare(ns_, keyed);
    if (q.ok() && q->eligibility.cacheable) {
      semantic_q_ = std::move(*q);
      if (!req_.no_cache) {
        auto r = gw_.semantic->lookup(*semantic_q_, cache_cfg_.threshold);
        if (r.ok() && *r) {
          hit = std::move((*r)->response);
          status = "semantic";
        }
      }
    }
  }
  gw_.metrics.add(gw_.metrics.cache, status == "hit" ? "exact" : status == "semantic" ? "semantic"
                                     : (exact_key_ || semantic_q_) ? "miss" : "bypass");
  sink_->log_field("cache", status);
  if (!hit) return false;

  // Replay: the stored response, its usage marked with the cache status.
  const std::string kind = status == "hit" ? "exact" : "semantic";
  if (stream_) {
    sink_->begin_stream(headers(status));
    for (const std::string& c : hit->chunks) {
      if (c.find("\"choices\":[]") != std::string::npos) {  // the usage chunk
        if (!include_usage_) continue;
        json u = json::parse(c, nullptr, false);
        if (u.is_object() && u.contains("usage") && u["usage"].is_object()) u["usage"]["tern_cache"] = status;
        sink_->write(sse(dump(u)));
        continue;
      }
      sink_->write(sse(c));
    }
    sink_->write("data: [DONE]\n\n");
    sink_->end_stream();
  } else if (size_t u = hit->body.find("\"usage\":{\""); u != std::string::npos) {
    // The stored body is compact JSON written by fill_cache(): mark the
    // usage in place instead of parsing and re-serialising it per hit.
    std::string b = hit->body;
    b.insert(u + 9, "\"tern_cache\":\"" + status + "\",");
    sink_->respond(200, std::move(b), headers(status));
  } else {
    json b = json::parse(hit->body, nullptr, false);
    if (b.is_object()) {
      if (!b.contains("usage") || !b["usage"].is_object()) b["usage"] = json::object();
      b["usage"]["tern_cache"] = status;
      sink_->respond(200, dump(b), headers(status));
    } else {
      sink_->respond(200, hit->body, headers(status));
    }
  }
  budget::Outcome o;
  o.request_id = req_.request_id;
  o.model = hit->model;
  o.route = client_model_;
  o.tokens_in = hit->usage.prompt_tokens;
  o.tokens_out = hit->usage.completion_tokens;
  o.tokens_cached = hit->usage.cached_tokens;
  o.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
  o.cache = kind;
  o.saved = hit->cost_pico;
  o.charge = false;
  (void)gw_.budgets->record(key_, o, start_ms_);
  {
    std::lock_guard<std::mutex> lock(gw_.metrics.mu);
    gw_.metrics.saved += hit->cost_pico;
  }
  return true;
}

bool Flight::admit() {
  // Without max_tokens the worst case is unbounded: cap it at the largest
  // default of the models this request may reach, so the reservation holds.
  int64_t max_out = 0;
  for (const char* f : {"max_tokens", "max_completion_tokens"})
    if (auto it = body_.find(f); it != body_.end() && it->is_number_integer()) max_out = it->get<int64_t>();
  budget::Prices sum;
  sum.cached = -1;
  int64_t default_max = 0;
  auto add_model = [&](const std::string& name) -> budget::Prices {
    const ModelConfig* m = gw_.cfg.find_model(name);
    default_max = std::max(default_max, m->default_max_tokens);
    return m->prices;
  };
  // Worst case: every cascade stage runs, each on its most expensive
  // candidate (the stage's model or any fallback).
  for (const std::string& t : targets_) {
    budget::Prices worst = add_model(t);
    for (const std::string& fb : fallbacks_) {
      budget::Prices p = add_model(fb);
      worst.input = std::max(worst.input, p.input);
      worst.output = std::max(worst.output, p.output);
    }
    sum.input += worst.input;
    sum.output += worst.output;
  }
  if (max_out <= 0) {
    max_out = default_max;
    body_["max_tokens"] = max_out;
  }
  if (!key_) return true;
  budget::AdmitRequest ar;
  ar.model = client_model_;
  ar.prices = sum;
  ar.prompt_tokens = prompt_token_bound(body_, features_);
  ar.max_output_tokens = max_out;
  auto adm = gw_.budgets->admit(*key_, ar);
  if (!adm.ok()) {
    reply_error(503, "budget store unavailable: " + adm.status().message(), "server_error");
    return false;
  }
  if (!adm->admitted()) {
    const budget::Denial& d = *adm->denial;
    {
      std::lock_guard<std::mutex> lock(gw_.metrics.mu);
      gw_.metrics.denied[d.http_status]++;
    }
    budget::Outcome o;
    o.request_id = req_.request_id;
    o.route = client_model_;
    o.status = d.http_status;
    o.cache = "bypass";
    o.charge = false;
    (void)gw_.budgets->record(key_, o, start_ms_);
    reply_error(d.http_status, d.message, d.type, d.retry_after_ms);
    return false;
  }
  admission_ = std::move(*adm);
  return true;
}

void Flight::run_stage() {
  bool last = stage_ + 1 == targets_.size();
  auto it = gw_.backends.find(model_);
  backend_ = it->second.get();
  text_.clear();
  tool_calls_ = nullptr;
  logprobs_.clear();
  logprobs_json_ = nullptr;
  finish_reason_.clear();
  BackendRequest br;
  br.kind = req_.kind;
  br.body = body_;
  br.stream = stream_ && last;
  br.want_logprobs = !last && route_ && route_->escalate.needs_logprobs();
  in_call_ = true;
  auto self = shared_from_this();
  auto sink = sink_;
  handle_ = backend_->start(std::move(br), [self, sink](BackendEvent ev) {
    sink->post([self, ev = std::move(ev)]() mutable { self->on_event(std::move(ev)); });
  });
}

void Flight::on_event(BackendEvent ev) {
  if (done_) return;
  if (!ev.finished) {
    text_ += ev.text;
    logprobs_.insert(logprobs_.end(), ev.logprobs.begin(), ev.logprobs.end());
    if (client_logprobs_) append_logprobs(logprobs_json_, ev.logprobs_json);
    if (!ev.tool_calls.is_null()) {
      if (tool_calls_.is_null()) tool_calls_ = json::array();
      for (const auto& c : ev.tool_calls) tool_calls_.push_back(c);
    }
    if (stream_ && stage_ + 1 == targets_.size() && !disconnected_) stream_delta(ev);
    return;
  }
  in_call_ = false;
  on_stage_done(std::move(ev));
}

void Flight::on_stage_done(BackendEvent ev) {
  const ModelConfig* m = gw_.cfg.find_model(model_);
  Picodollars c = budget::cost_of(m->prices, ev.usage.prompt_tokens, ev.usage.completion_tokens, ev.usage.cached_tokens);
  cost_ += c;
  upstream_ms_ += ev.upstream_ms;
  total_usage_.prompt_tokens += ev.usage.prompt_tokens;
  total_usage_.completion_tokens += ev.usage.completion_tokens;
  total_usage_.cached_tokens += ev.usage.cached_tokens;
  {
    std::lock_guard<std::mutex> lock(gw_.metrics.mu);
    gw_.metrics.cost[model_] += c;
  }
  bool last = stage_ + 1 == targets_.size();
  if (!ev.error.ok()) {
    if (disconnected_ || ev.error.code() == StatusCode::kCancelled) {
      done_ = true;
      return settle(499);
    }
    gw_.metrics.add(gw_.metrics.upstream_errors, model_);
    if (!streaming_ && try_fallback(ev)) return;
    if (!last && ev.http_status != 400) {  // a failing small model escalates
      ++escalations_;
      {
        std::lock_guard<std::mutex> lock(gw_.metrics.mu);
        gw_.metrics.escalations[{client_model_, escalation_reason_name(EscalationReason::kError)}]++;
      }
      model_ = targets_[++stage_];
      return run_stage();
    }
    int status = ev.http_status >= 400 && ev.http_status < 500 && ev.http_status != 429 ? ev.http_status
                 : ev.http_status == 504                                                 ? 504
                                                                                         : 502;
    return finish_error(status, ev.error.message(), status < 500 ? "invalid_request_error" : "upstream_error");
  }
  // Completed: the final event may carry the whole (non-streamed) answer.
  text_ += ev.text;
  logprobs_.insert(logprobs_.end(), ev.logprobs.begin(), ev.logprobs.end());
  if (client_logprobs_) append_logprobs(logprobs_json_, ev.logprobs_json);
  if (!ev.tool_calls.is_null()) {
    if (tool_calls_.is_null()) tool_calls_ = json::array();
    for (const auto& tc : ev.tool_calls) tool_calls_.push_back(tc);
  }
  finish_reason_ = ev.finish_reason;
  usage_ = ev.usage;
  if (!last) {
    Verdict v = judge(route_->escalate, text_, logprobs_);
    if (!v.accepted()) {
      ++escalations_;
      {
        std::lock_guard<std::mutex> lock(gw_.metrics.mu);
        gw_.metrics.escalations[{client_model_, escalation_reason_name(v.reason)}]++;
      }
      sink_->log_field("escalated", std::string(escalation_reason_name(v.reason)) + " at " + model_);
      model_ = targets_[++stage_];
      return run_stage();
    }
  }
  finish_ok();
}

bool Flight::try_fallback(const BackendEvent& ev) {
  if (!ev.before_output) return false;
  if (ev.http_status >= 400 && ev.http_status < 500 && ev.http_status != 429) return false;  // the request is at fault
  while (fallback_next_ < fallbacks_.size()) {
    const std::string& fb = fallbacks_[fallback_next_++];
    if (fb == model_) continue;
    {
      std::lock_guard<std::mutex> lock(gw_.metrics.mu);
      gw_.metrics.fallbacks++;
    }
    sink_->log_field("fallback", model_ + " -> " + fb);
    model_ = fb;
    run_stage();
    return true;
  }
  return false;
}

json Flight::chunk_base() const {
  return {{"id", id_},
          {"object", req_.kind == ApiKind::kChat ? "chat.completion.chunk" : "text_completion"},
          {"created", created_},
          {"model", model_}};
}

void Flight::stream_delta(const BackendEvent& ev) {
  if (!streaming_) {
    streaming_ = true;
    sink_->begin_stream(headers("miss"));
    if (req_.kind == ApiKind::kChat) {
      json c = chunk_base();
      c["choices"] = json::array({{{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}},
                                   {"logprobs", nullptr}, {"finish_reason", nullptr}}});
      sink_->write(sse(dump(c)));
    }
  }
  // A token whose text is held back (an incomplete UTF-8 sequence) still
  // carries its logprobs: a chunk with empty content passes them on.
  const bool logprobs = client_logprobs_ && !ev.logprobs_json.is_null();
  if (ev.text.empty() && ev.tool_calls.is_null() && !logprobs) return;
  json c = chunk_base();
  json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
  if (logprobs) choice["logprobs"] = ev.logprobs_json;
  if (req_.kind == ApiKind::kChat) {
    json delta = json::object();
    if (!ev.text.empty()) delta["content"] = ev.text;
    if (!ev.tool_calls.is_null()) delta["tool_calls"] = ev.tool_calls;
    choice["delta"] = std::move(delta);
  } else {
    choice["text"] = ev.text;
  }
  c["choices"] = json::array({std::move(choice)});
  sink_->write(sse(dump(c)));
}

json Flight::response_json() const {
  json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish_reason_}};
  if (client_logprobs_ && !logprobs_json_.is_null()) choice["logprobs"] = logprobs_json_;
  json r = {{"id", id_}, {"created", created_}, {"model", model_}};
  if (req_.kind == ApiKind::kChat) {
    json msg = {{"role", "assistant"}, {"content", text_}};
    if (!tool_calls_.is_null()) msg["tool_calls"] = tool_calls_;
    choice["message"] = std::move(msg);
    r["object"] = "chat.completion";
  } else {
    choice["text"] = text_;
    r["object"] = "text_completion";
  }
  r["choices"] = json::array({std::move(choice)});
  r["usage"] = usage_json(total_usage_, "miss");
  return r;
}

void Flight::finish_ok() {
  done_ = true;
  json response = response_json();
  log_outcome();
  // Settle and fill the cache before the last byte goes out, so a client
  // that sends the same request (to any instance) after reading this
  // answer gets the hit and sees the spend in /v1/usage.
  settle(disconnected_ ? 499 : 200);
  if (!disconnected_ && finish_reason_ != "error") fill_cache(response);
  if (!disconnected_) {
    if (stream_) {
      if (!streaming_) {  // an answer from a cascade stage: replay it as a stream
        BackendEvent whole;
        whole.text = text_;
        whole.tool_calls = tool_calls_;
        whole.logprobs_json = logprobs_json_;
        stream_delta(whole);
      }
      json c = chunk_base();
      json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish_reason_}};
      if (req_.kind == ApiKind::kChat) choice["delta"] = json::object();
      else choice["text"] = "";
      c["choices"] = json::array({std::move(choice)});
      sink_->write(sse(dump(c)));
      if (include_usage_) {
        json u = chunk_base();
        u["choices"] = json::array();
        u["usage"] = usage_json(total_usage_, "miss");
        sink_->write(sse(dump(u)));
      }
      sink_->write("data: [DONE]\n\n");
      sink_->end_stream();
    } else {
      sink_->respond(200, dump(response), headers("miss"));
    }
  }
}

void Flight::fill_cache(const json& response) {
  if (!exact_key_ && !semantic_q_) return;
  cache::CachedResponse r;
  json stored = response;
  stored["usage"].erase("tern_cache");
  r.body = dump(stored);
  auto chunks = cache::chunks_from_response(stored);
  if (chunks.ok()) r.chunks = std::move(*chunks);
  r.usage.prompt_tokens = total_usage_.prompt_tokens;
  r.usage.completion_tokens = total_usage_.completion_tokens;
  r.usage.cached_tokens = total_usage_.cached_tokens;
  r.model = model_;
  r.route = client_model_;
  r.created_ms = unix_ms();
  r.cost_pico = cost_;
  cache::InsertOptions io;
  io.ttl_ms = cache_cfg_.ttl_ms;
  io.tags = cache_cfg_.tags;
  io.tags.insert(io.tags.end(), features_.tags.begin(), features_.tags.end());
  if (exact_key_) (void)gw_.exact->insert(*exact_key_, r, io);
  if (semantic_q_) (void)gw_.semantic->insert(*semantic_q_, r, io);
}

void Flight::finish_error(int status, const std::string& message, const std::string& type) {
  done_ = true;
  log_outcome();
  settle(status);
  if (!disconnected_) {
    if (streaming_) {
      sink_->write(sse(error_json(message, type)));
      sink_->write("data: [DONE]\n\n");
      sink_->end_stream();
    } else {
      reply_error(status, message, type);
    }
  }
}

void Flight::settle(int status) {
  budget::Outcome o;
  o.request_id = req_.request_id;
  o.model = model_;
  o.route = client_model_;
  o.tokens_in = total_usage_.prompt_tokens;
  o.tokens_out = total_usage_.completion_tokens;
  o.tokens_cached = total_usage_.cached_tokens;
  o.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
  o.cache = exact_key_ || semantic_q_ ? "miss" : "bypass";
  o.escalations = escalations_;
  o.status = status;
  o.cost_override = cost_;
  if (const ModelConfig* m = gw_.cfg.find_model(model_)) o.prices = m->prices;
  if (admission_.reservation.active()) (void)gw_.budgets->settle(admission_.reservation, o);
  else (void)gw_.budgets->record(key_, o, start_ms_);
}

// Before the response goes out: the log line is written when it completes.
void Flight::log_outcome() {
  sink_->log_field("served_by", model_);
  sink_->log_field("cost_usd", budget::format_dollars(cost_, 9));
  if (upstream_ms_ > 0) {  // what the gateway added around the model calls
    double total = std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", total - upstream_ms_);
    sink_->log_field("overhead_ms", buf);
  }
}

ResponseSink::Headers Flight::headers(const std::string& cache) const {
  ResponseSink::Headers h = {{"x-tern-cache", cache}, {"x-tern-route", client_model_}};
  if (!stages_header_.empty()) h.emplace_back("x-tern-compressed", stages_header_);  // content tokens before->after
  return h;
}

void Flight::reply_error(int status, const std::string& message, const std::string& type, int64_t retry_after_ms) {
  ResponseSink::Headers h;
  if (retry_after_ms > 0) h.emplace_back("Retry-After", std::to_string((retry_after_ms + 999) / 1000));
  sink_->log_field("error", type);
  sink_->respond(status, error_json(message, type), std::move(h));
}

}  // namespace

std::string error_json(const std::string& message, const std::string& type, const std::string& code) {
  json e = {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code.empty() ? json(nullptr) : json(code)}};
  return dump(json{{"error", e}});
}

void run_flight(Gateway::Impl& gw, GatewayRequest req, std::shared_ptr<ResponseSink> sink) {
  auto f = std::make_shared<Flight>(gw, std::move(req), std::move(sink));
  f->run();
}

}  // namespace tern::opt
