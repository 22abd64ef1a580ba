// store/store.cpp — kind names, the factory, and the helpers the Store
// implementations share (window math, ledger aggregation).
#include "store/store.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <tuple>

#include "store/store_internal.h"

namespace tern::store {

const char* store_kind_name(StoreKind kind) {
  switch (kind) {
    case StoreKind::kMemory: return "memory";
    case StoreKind::kSqlite: return "sqlite";
    case StoreKind::kRedis: return "redis";
  }
  return "?";
}

Result<StoreKind> parse_store_kind(std::string_view name) {
  if (name == "memory") return StoreKind::kMemory;
  if (name == "sqlite") return StoreKind::kSqlite;
  if (name == "redis") return StoreKind::kRedis;
  return InvalidArgument("unknown store kind '" + std::string(name) + "' (expected memory, sqlite or redis)");
}

Result<std::unique_ptr<Store>> open_store(const StoreConfig& config) {
  if (config.pool_size < 1) return InvalidArgument("store pool_size must be >= 1");
  if (config.timeout_ms < 1) return InvalidArgument("store timeout_ms must be >= 1");
  switch (config.kind) {
    case StoreKind::kMemory: return internal::open_memory_store(config);
    case StoreKind::kSqlite: return internal::open_sqlite_store(config);
    case StoreKind::kRedis: return internal::open_redis_store(config);
  }
  return InvalidArgument("unknown store kind");
}

namespace internal {

int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double WindowMath::estimate(int64_t cur, int64_t prev, int64_t now_ms, int64_t window_ms) {
  const int64_t elapsed = now_ms - index(now_ms, window_ms) * window_ms;
  return static_cast<double>(cur) +
         static_cast<double>(prev) * static_cast<double>(window_ms - elapsed) / static_cast<double>(window_ms);
}

WindowResult WindowMath::decide(int64_t cur, int64_t prev, int64_t now_ms, int64_t window_ms, int64_t amount,
                                int64_t limit) {
  WindowResult r;
  const double est = estimate(cur, prev, now_ms, window_ms);
  if (limit < 0 || est + static_cast<double>(amount) <= static_cast<double>(limit)) {
    r.allowed = true;
    r.estimate = est + static_cast<double>(amount);
    return r;
  }
  r.estimate = est;
  const int64_t elapsed = now_ms - index(now_ms, window_ms) * window_ms;
  const double room = static_cast<double>(limit - amount);  // what the rest of the window may hold
  if (room < 0) {
    r.retry_after_ms = window_ms;  // never fits; ask again after a window
  } else if (static_cast<double>(cur) <= room && prev > 0) {
    // Within this window once prev's share decays to room - cur.
    const double need = static_cast<double>(window_ms) * (1.0 - (room - static_cast<double>(cur)) / prev);
    r.retry_after_ms = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(need)) - elapsed);
  } else {
    // In the next window, where cur becomes the decaying previous count.
    const double need = cur > 0 ? static_cast<double>(window_ms) * (1.0 - room / static_cast<double>(cur)) : 0;
    r.retry_after_ms = (window_ms - elapsed) + std::max<int64_t>(0, static_cast<int64_t>(std::ceil(need)));
  }
  return r;
}

bool row_matches(const LedgerRow& row, const UsageQuery& q) {
  if (row.ts_ms < q.from_ms || row.ts_ms >= q.to_ms) return false;
  if (!q.key.empty() && row.key != q.key) return false;
  if (!q.team.empty() && row.team != q.team) return false;
  if (!q.model.empty() && row.model != q.model) return false;
  if (!q.route.empty() && row.route != q.route) return false;
  return true;
}

int64_t period_start(int64_t ts_ms, UsageGroup group_by) {
  constexpr int64_t kDay = 86400000, kHour = 3600000;
  auto floor_to = [](int64_t t, int64_t p) { return (t >= 0 ? t / p : (t - p + 1) / p) * p; };
  if (has_group(group_by, UsageGroup::kHour)) return floor_to(ts_ms, kHour);
  if (has_group(group_by, UsageGroup::kDay)) return floor_to(ts_ms, kDay);
  return 0;
}

std::vector<UsageRow> aggregate(const std::vector<LedgerRow>& rows, const UsageQuery& q) {
  using GroupKey = std::tuple<std::string, std::string, std::string, std::string, int64_t>;
  std::map<GroupKey, UsageRow> groups;
  const UsageGroup g = q.group_by;
  for (const LedgerRow& row : rows) {
    if (!row_matches(row, q)) continue;
    GroupKey k{has_group(g, UsageGroup::kKey) ? row.key : "", has_group(g, UsageGroup::kTeam) ? row.team : "",
               has_group(g, UsageGroup::kModel) ? row.model : "", has_group(g, UsageGroup::kRoute) ? row.route : "",
               period_start(row.ts_ms, g)};
    UsageRow& u = groups[k];
    std::tie(u.key, u.team, u.model, u.route, u.period_start_ms) = k;
    u.requests += 1;
    u.tokens_in += row.tokens_in;
    u.tokens_out += row.tokens_out;
    u.tokens_cached += row.tokens_cached;
    u.cost += row.cost;
    u.saved += row.saved;
    u.cache_exact += row.cache == "exact";
    u.cache_semantic += row.cache == "semantic";
    u.escalated += row.escalations > 0;
    u.errors += row.status >= 400;
    u.latency_ms_sum += row.latency_ms;
  }
  std::vector<UsageRow> out;
  out.reserve(groups.size());
  for (auto& [k, u] : groups) out.push_back(std::move(u));
  if (out.empty() && g == UsageGroup::kNone) out.emplace_back();
  return out;
}

std::string prefix_upper_bound(const std::string& prefix) {
  std::string s = prefix;
  while (!s.empty() && static_cast<unsigned char>(s.back()) == 0xFF) s.pop_back();
  if (s.empty()) return "";
  s.back() = static_cast<char>(static_cast<unsigned char>(s.back()) + 1);
  return s;
}

}  // namespace internal
}  // namespace tern::store
