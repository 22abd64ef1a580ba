// Internals of the gateway shared by gateway.cpp (setup, admin, usage,
// metrics) and flight.cpp (one request through the pipeline).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "budget/budget.h"
#include "cache/exact_cache.h"
#include "compact/state_store.h"
#include "cache/semantic_cache.h"
#include "gateway/gateway.h"
#include "compress/scorer.h"
#include "route/router.h"
#include "store/store.h"

namespace tern::opt {

using budget::Picodollars;

// Counters behind /metrics (see Gateway::prometheus for the names).
struct GatewayMetrics {
  mutable std::mutex mu;
  std::map<std::string, int64_t> requests;              // by route
  std::map<std::string, int64_t> cache;                 // "exact", "semantic", "miss", "bypass"
  std::map<std::pair<std::string, std::string>, int64_t> escalations;  // (route, reason)
  std::map<std::string, int64_t> cascades;              // requests that ran a multi-stage cascade, by route
  std::map<std::string, Picodollars> cost;              // by model
  std::map<std::string, int64_t> upstream_errors;       // by model
  std::map<int, int64_t> denied;                        // by HTTP status (401/402/403/429)
  Picodollars saved = 0;
  int64_t fallbacks = 0;

  void add(std::map<std::string, int64_t>& m, const std::string& k, int64_t n = 1) {
    std::lock_guard<std::mutex> lock(mu);
    m[k] += n;
  }
};

struct Gateway::Impl {
  GatewayConfig cfg;
  GatewayOptions options;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<budget::Budgets> budgets;
  std::unique_ptr<cache::ExactCache> exact;
  std::unique_ptr<Engine> embed_engine;   // cache.embedder kind local
  std::shared_ptr<cache::Embedder> embedder;
  std::unique_ptr<Engine> stage_engine;   // compress_model given as a GGUF path
  std::unique_ptr<compress::TokenScorer> stage_scorer;  // scores the toon/compress stages; null: none
  std::unique_ptr<boost::asio::thread_pool> stage_pool;  // runs the stages off the connections' threads
  compact::StateStore compact_states{1024};              // conversations' compactions (compact stage)
  std::unique_ptr<cache::SemanticCache> semantic;
  boost::asio::io_context io;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  std::map<std::string, std::shared_ptr<Backend>> backends;
  std::map<std::string, std::unique_ptr<Router>> routers;  // by route name
  GatewayMetrics metrics;

  bool auth_required() const { return !cfg.budgets.keys.empty(); }
  bool is_admin(const std::string& bearer) const;
  // The cache namespace of a key: its team, else its id; "public" without keys.
  static std::string namespace_of(const budget::VirtualKey* key);
};

// Starts one request (flight.cpp).
void run_flight(Gateway::Impl& gw, GatewayRequest req, std::shared_ptr<ResponseSink> sink);

// OpenAI-shaped error body.
std::string error_json(const std::string& message, const std::string& type, const std::string& code = "");

}  // namespace tern::opt
