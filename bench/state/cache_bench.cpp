// cache_bench — exact-cache hit throughput and latency per store kind.
//
//   cache_bench [--kinds memory,sqlite,redis] [--entries 1000] [--seconds 2]
//               [--threads 1,2] [--redis-port N]
//
// Fills the cache with --entries chat responses (about 3 KB each: body and
// streamed chunks), then each thread repeatedly takes a random parsed request
// and does what a gateway does on a hit: make_cache_key (canonical JSON +
// SHA-256) and ExactCache::lookup (store read + decode). Reports hits/s and
// per-hit latency percentiles. Without --redis-port a private redis-server
// is started on a loopback port (and stopped at the end).
//
// A second table measures the budget bookkeeping of one request that reaches
// a model: Budgets::admit (RPM and TPM windows + reservation) then
// Budgets::settle (charge, TPM correction, ledger row), per store kind.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <sstream>
#include <thread>

#include "budget/budget.h"
#include "cache/exact_cache.h"
#include "opt/redis_server.h"

using namespace tern;
using namespace tern::cache;

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string t;
  while (std::getline(ss, t, ',')) out.push_back(t);
  return out;
}

Json request(int i) {
  return {{"model", "gpt-4o-mini"},
          {"temperature", 0},
          {"max_tokens", 256},
          {"messages", Json::array({{{"role", "system"}, {"content", "You are a helpful assistant. Answer briefly."}},
                                    {{"role", "user"}, {"content", "Question " + std::to_string(i) +
                                                                       ": how do I configure the service for "
                                                                       "high availability across two regions?"}}})}};
}

CachedResponse response(int i) {
  std::string text;
  for (int k = 0; k < 24; ++k) text += "Step " + std::to_string(k) + " for question " + std::to_string(i) + ". ";
  Json body = {{"id", "chatcmpl-" + std::to_string(i)},
               {"object", "chat.completion"},
               {"created", 1700000000},
               {"model", "gpt-4o-mini"},
               {"choices", Json::array({{{"index", 0},
                                         {"message", {{"role", "assistant"}, {"content", text}}},
                                         {"logprobs", nullptr},
                                         {"finish_reason", "stop"}}})},
               {"usage", {{"prompt_tokens", 40}, {"completion_tokens", 200}, {"total_tokens", 240}}}};
  CachedResponse r;
  r.body = body.dump();
  r.chunks = chunks_from_response(body).value();
  r.usage = {40, 200, 0};
  r.model = "gpt-4o-mini";
  return r;
}

// Runs admit + settle in a loop on `threads` threads; returns table rows.
std::string bench_budget(store::Store& store, const std::string& kind, const std::vector<int>& thread_counts,
                         double seconds) {
  budget::BudgetConfig cfg;
  budget::Team team;
  team.id = "bench";
  team.rpm = 1'000'000'000;
  team.tpm = 1'000'000'000'000;
  cfg.teams.push_back(team);
  for (int t = 0; t < 16; ++t) {
    budget::VirtualKey k;
    k.id = "k" + std::to_string(t);
    k.secret = "sk-" + k.id;
    k.team = "bench";
    k.budget = 1000 * budget::kPicoPerDollar;
    k.rpm = 1'000'000'000;
    k.tpm = 1'000'000'000'000;
    cfg.keys.push_back(k);
  }
  budget::Budgets budgets(store, cfg);
  budget::Prices prices;
  prices.input = budget::parse_dollars("0.15").value();
  prices.output = budget::parse_dollars("0.60").value();
  std::string out;
  for (int threads : thread_counts) {
    std::atomic<bool> stop{false};
    std::atomic<int64_t> failures{0};
    std::vector<std::vector<float>> lat(static_cast<size_t>(threads));
    std::vector<std::thread> pool;
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const budget::VirtualKey& key = *budgets.find_key("k" + std::to_string(t % 16));
        auto& mine = lat[static_cast<size_t>(t)];
        while (!stop.load(std::memory_order_relaxed)) {
          const auto a = std::chrono::steady_clock::now();
          budget::AdmitRequest req;
          req.model = "m";
          req.prices = prices;
          req.prompt_tokens = 500;
          req.max_output_tokens = 256;
          auto adm = budgets.admit(key, req);
          bool ok = adm.ok() && adm->admitted();
          if (ok) {
            budget::Outcome o;
            o.model = "m";
            o.prices = prices;
            o.tokens_in = 500;
            o.tokens_out = 100;
            ok = budgets.settle(adm->reservation, o).ok();
          }
          const auto b = std::chrono::steady_clock::now();
          if (!ok) ++failures;
          mine.push_back(std::chrono::duration<float, std::micro>(b - a).count());
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& th : pool) th.join();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::vector<float> all;
    for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) { return all.empty() ? 0.f : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))]; };
    char row[256];
    std::snprintf(row, sizeof(row), "| %s | %d | %.0f | %.1f | %.1f | %.1f |\n", kind.c_str(), threads,
                  all.size() / elapsed, pct(0.5), pct(0.99), pct(0.999));
    out += row;
    if (failures) std::fprintf(stderr, "%s: %lld budget calls failed\n", kind.c_str(), static_cast<long long>(failures.load()));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> kinds = {"memory", "sqlite", "redis"};
  std::vector<int> thread_counts = {1, 2};
  int entries = 1000, redis_port = 0;
  double seconds = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--kinds") kinds = split(v);
    else if (a == "--entries") entries = std::stoi(v);
    else if (a == "--seconds") seconds = std::stod(v);
    else if (a == "--threads") {
      thread_counts.clear();
      for (const auto& t : split(v)) thread_counts.push_back(std::stoi(t));
    } else if (a == "--redis-port") redis_port = std::stoi(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  std::unique_ptr<test::RedisServer> redis;
  std::vector<std::string> budget_rows;
  std::vector<Json> requests;
  for (int i = 0; i < entries; ++i) requests.push_back(request(i));
  const size_t entry_bytes = encode_entry(response(0)).size();

  std::printf("exact-cache hits: make_cache_key + lookup, %d entries of %zu bytes, %.1f s per row, %u hardware threads\n\n",
              entries, entry_bytes, seconds, std::thread::hardware_concurrency());
  std::printf("| store | threads | hits/s | p50 us | p99 us | p99.9 us |\n|---|---:|---:|---:|---:|---:|\n");
  for (const std::string& kind : kinds) {
    store::StoreConfig cfg;
    auto k = store::parse_store_kind(kind);
    if (!k.ok()) {
      std::fprintf(stderr, "%s\n", k.status().message().c_str());
      return 2;
    }
    cfg.kind = *k;
    const std::string path = std::filesystem::temp_directory_path() / ("cache_bench_" + std::to_string(getpid()) + ".db");
    cfg.path = path;
    cfg.key_prefix = "bench:" + std::to_string(getpid()) + ":";
    if (cfg.kind == store::StoreKind::kRedis) {
      if (!redis_port) {
        std::string why;
        redis = test::RedisServer::start(&why);
        if (!redis) {
          std::fprintf(stderr, "skipping redis: %s\n", why.c_str());
          continue;
        }
        redis_port = redis->port();
      }
      cfg.redis_port = redis_port;
    }
    auto store = store::open_store(cfg);
    if (!store.ok()) {
      std::fprintf(stderr, "%s: %s\n", kind.c_str(), store.status().message().c_str());
      return 1;
    }
    ExactCache cache(**store, {});
    for (int i = 0; i < entries; ++i) {
      Status st = cache.insert(make_cache_key("bench", requests[i]).value(), response(i));
      if (!st.ok()) {
        std::fprintf(stderr, "insert: %s\n", st.message().c_str());
        return 1;
      }
    }
    for (int threads : thread_counts) {
      std::atomic<bool> stop{false};
      std::atomic<int64_t> misses{0};
      std::vector<std::vector<float>> lat(static_cast<size_t>(threads));
      std::vector<std::thread> pool;
      const auto t0 = std::chrono::steady_clock::now();
      for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
          std::mt19937 rng(static_cast<unsigned>(t + 1));
          auto& mine = lat[static_cast<size_t>(t)];
          mine.reserve(1 << 20);
          while (!stop.load(std::memory_order_relaxed)) {
            const Json& req = requests[rng() % requests.size()];
            const auto a = std::chrono::steady_clock::now();
            auto key = make_cache_key("bench", req);
            auto hit = cache.lookup(key.value());
            const auto b = std::chrono::steady_clock::now();
            if (!hit.ok() || !hit->has_value()) ++misses;
            mine.push_back(std::chrono::duration<float, std::micro>(b - a).count());
          }
        });
      }
      std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
      stop = true;
      for (auto& th : pool) th.join();
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::vector<float> all;
      for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
      std::sort(all.begin(), all.end());
      auto pct = [&](double p) { return all.empty() ? 0.f : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))]; };
      std::printf("| %s | %d | %.0f | %.1f | %.1f | %.1f |\n", kind.c_str(), threads, all.size() / elapsed, pct(0.5),
                  pct(0.99), pct(0.999));
      if (misses) std::fprintf(stderr, "%s: %lld lookups missed\n", kind.c_str(), static_cast<long long>(misses.load()));
    }
    budget_rows.push_back(bench_budget(**store, kind, thread_counts, seconds));
    store.value().reset();
    if (cfg.kind == store::StoreKind::kSqlite)
      for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(path + s);
  }
  std::printf("\nbudget bookkeeping per model call: admit (RPM, TPM, reservation) + settle (charge, TPM, ledger row)\n\n");
  std::printf("| store | threads | calls/s | p50 us | p99 us | p99.9 us |\n|---|---:|---:|---:|---:|---:|\n");
  for (const std::string& rows : budget_rows) std::printf("%s", rows.c_str());
  return 0;
}
