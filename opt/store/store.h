// store/store.h — shared state for the optimization layer: cache entries,
// budget accounts, rate-limit windows and the request ledger.
//
// One interface, three implementations:
//   kMemory  in-process maps; for tests and single-process throwaway use.
//   kSqlite  the default: one embedded file (WAL), survives restarts; several
//            processes on one host may share the file.
//   kRedis   several tern instances share cache, budgets and ledger through
//            one redis-server (hiredis; atomic steps are Lua scripts).
//
//   tern::store::StoreConfig cfg;                 // kind = kSqlite, path = "tern-state.db"
//   auto store = tern::store::open_store(cfg);     // Result<std::unique_ptr<Store>>
//   if (!store.ok()) { /* store.status().message() */ }
//   (*store)->put("cache:k", "value", /*ttl_ms=*/60000, {"tag-a"});
//   auto v = (*store)->get("cache:k");            // Result<std::optional<std::string>>
//
// Thread safety: every method of every implementation may be called from any
// number of threads at once (SQLite and Redis keep a small connection pool).
// Errors: methods return a Status (kIoError for a store that is unreachable
// or failing, kInvalidArgument for bad arguments); they never throw.
//
// Key space: every key, tag, account and window name given to a Store is
// prefixed with StoreConfig::key_prefix inside the backing store, so several
// deployments can share one Redis database. Keys are arbitrary bytes except
// that the prefix operations treat them as byte strings (no globbing).
//
// Time: TTLs, windows and ledger timestamps are Unix milliseconds. Callers
// pass "now" where it matters (windows, ledger rows); TTL expiry uses
// StoreConfig::now_ms for kMemory/kSqlite and the Redis server's clock for
// kRedis.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tern/status.h"

namespace tern::store {

// Money is an integer count of picodollars (1e-12 USD): a price of P dollars
// per million tokens is P * 1e6 picodollars per token, so every cost computed
// from per-million prices with up to six decimals is exact. int64 holds up to
// about 9.2 million dollars. See budget/budget.h for parsing and formatting.
using Picodollars = int64_t;

enum class StoreKind { kMemory, kSqlite, kRedis };
const char* store_kind_name(StoreKind kind);               // "memory", "sqlite", "redis"
Result<StoreKind> parse_store_kind(std::string_view name); // the same names

struct StoreConfig {
  StoreKind kind = StoreKind::kSqlite;
  std::string path = "tern-state.db";   // kSqlite: database file (created if missing)
  std::string redis_host = "127.0.0.1"; // kRedis
  int redis_port = 6379;
  int redis_db = 0;                     // SELECT after connecting
  std::string redis_password;           // AUTH when not empty
  int timeout_ms = 2000;                // connect/command timeout (Redis), busy timeout (SQLite)
  int pool_size = 4;                    // connections kept open (SQLite, Redis)
  std::string key_prefix = "tern:";     // namespaces every key inside the backing store
  // Clock for TTL expiry in kMemory/kSqlite (tests inject a fake one).
  // Empty: the system clock.
  std::function<int64_t()> now_ms;
};

// ---- budget accounts --------------------------------------------------------
// An account is a named pair of counters (spent, reserved), created at zero on
// first use. Budgets stay policy-free here: budget/budget.h decides which
// accounts a request charges (its key, its team, per period) and their limits.

struct AccountLimit {
  std::string account;        // e.g. "key:alice@2026-11" (budget.h builds these)
  Picodollars limit = 0;      // < 0: unlimited (still tracked)
};

struct AccountState {
  Picodollars spent = 0;      // reconciled cost
  Picodollars reserved = 0;   // held by reservations in flight
};

struct ReserveResult {
  bool granted = false;
  // When refused: the first account that would exceed its limit and its
  // state at that moment.
  std::string refused_account;
  AccountState refused_state;
  Picodollars refused_limit = 0;
};

// ---- rate windows -------------------------------------------------------------
// A sliding window counter (the two-window approximation): the estimate at
// time t is current + previous * (1 - elapsed_in_current / window). Used for
// requests per minute and tokens per minute.

struct WindowResult {
  bool allowed = false;
  double estimate = 0;        // the window's estimated total, after the add when allowed
  int64_t retry_after_ms = 0; // when refused: until the estimate would admit `amount`
};

// ---- combined steps (one transaction / one script each) ----------------------
// What a request does before and after a model call, in one atomic step each,
// so that the budget path costs two store round trips, not six.

struct WindowCharge {
  std::string name;
  int64_t window_ms = 60000;
  int64_t amount = 0;
  int64_t limit = -1;          // < 0: unlimited (counted, never refuses)
};

// A lease on a reservation: if the process holding it dies before finish(),
// a later admit() (by any instance) releases it once expires_ms has passed.
struct Hold {
  std::string id;              // unique per reservation
  int64_t expires_ms = 0;      // Unix ms, on the callers' clock
};

struct AdmitResult {
  bool granted = false;
  int refused_window = -1;     // index into windows when a window refused
  WindowResult window;         // that window's verdict (estimate, retry_after_ms)
  ReserveResult reserve;       // the accounts' verdict (when no window refused)
};

// ---- ledger ------------------------------------------------------------------

struct LedgerRow {
  int64_t ts_ms = 0;           // request start, Unix ms
  std::string request_id;
  std::string key;             // virtual key id (not the secret)
  std::string team;
  std::string model;           // the model that served it (after routing/escalation)
  std::string route;
  int64_t tokens_in = 0;       // prompt tokens, cached ones included (OpenAI's convention)
  int64_t tokens_out = 0;
  int64_t tokens_cached = 0;   // prompt tokens billed at the cached price
  Picodollars cost = 0;
  Picodollars saved = 0;       // cost avoided (cache hit: the full cost of the original call)
  double latency_ms = 0;
  std::string cache;           // "miss", "exact", "semantic", "bypass"
  int32_t escalations = 0;     // cascade steps above the first model
  int32_t status = 200;        // HTTP status returned to the client
};

enum class UsageGroup : uint32_t {
  kNone = 0, kKey = 1, kTeam = 2, kModel = 4, kRoute = 8, kDay = 16, kHour = 32,
};
inline UsageGroup operator|(UsageGroup a, UsageGroup b) {
  return static_cast<UsageGroup>(static_cast<uint32_t>(a) | static_cast<uint32_t>(b));
}
inline bool has_group(UsageGroup set, UsageGroup g) {
  return (static_cast<uint32_t>(set) & static_cast<uint32_t>(g)) != 0;
}

struct UsageQuery {
  std::string key, team, model, route;  // filters; empty = any
  int64_t from_ms = 0;                  // inclusive
  int64_t to_ms = INT64_MAX;            // exclusive
  UsageGroup group_by = UsageGroup::kNone;
};

struct UsageRow {
  // Group values (empty when not grouped by that field). period_start_ms is
  // the UTC day/hour start when grouped by kDay/kHour, else 0.
  std::string key, team, model, route;
  int64_t period_start_ms = 0;
  int64_t requests = 0;
  int64_t tokens_in = 0, tokens_out = 0, tokens_cached = 0;
  Picodollars cost = 0, saved = 0;
  int64_t cache_exact = 0, cache_semantic = 0;  // requests served from each cache
  int64_t escalated = 0;                        // requests with escalations > 0
  int64_t errors = 0;                           // status >= 400
  double latency_ms_sum = 0;
};

class Store {
 public:
  virtual ~Store() = default;
  virtual StoreKind kind() const = 0;

  // ---- key/value entries with TTL and tags ----
  // Stores value under key, replacing any previous entry (and its tags).
  // ttl_ms <= 0: no expiry. Tags let erase_tag() find the entry later.
  virtual Status put(std::string_view key, std::string_view value, int64_t ttl_ms,
                     const std::vector<std::string>& tags = {}) = 0;
  // nullopt when absent or expired.
  virtual Result<std::optional<std::string>> get(std::string_view key) = 0;
  // Each returns how many live entries it removed.
  virtual Result<int64_t> erase(std::string_view key) = 0;
  virtual Result<int64_t> erase_prefix(std::string_view prefix) = 0;
  virtual Result<int64_t> erase_tag(std::string_view tag) = 0;
  // Calls fn(key, value) for each live entry whose key starts with prefix,
  // in no particular order; stops early when fn returns false. Entries put or
  // erased during the scan may or may not be seen.
  virtual Status scan(std::string_view prefix,
                      const std::function<bool(std::string_view key, std::string_view value)>& fn) = 0;
  // The same without reading values (cheap: for finding entries not seen yet).
  virtual Status scan_keys(std::string_view prefix, const std::function<bool(std::string_view key)>& fn) = 0;

  // ---- budget accounts ----
  // Atomically (across threads, processes and, for Redis, instances): if for
  // every account spent + reserved + amount <= limit (or limit < 0), adds
  // amount to each account's reserved and grants; otherwise changes nothing
  // and reports the first account that refused. amount >= 0.
  virtual Result<ReserveResult> reserve(const std::vector<AccountLimit>& accounts, Picodollars amount) = 0;
  // Atomically, for each account: reserved -= reserved_amount (floored at 0),
  // spent += actual. Reconciling with actual = 0 releases a reservation.
  virtual Status settle(const std::vector<std::string>& accounts, Picodollars reserved_amount,
                        Picodollars actual) = 0;
  virtual Result<AccountState> account(std::string_view account) = 0;

  // ---- rate windows ----
  // Atomically: if the sliding estimate of `name` plus amount stays <= limit
  // (limit < 0: unlimited), adds amount to the current window and allows.
  // window_ms > 0. now_ms is the caller's clock (one clock per deployment).
  virtual Result<WindowResult> window_add(std::string_view name, int64_t window_ms, int64_t now_ms,
                                          int64_t amount, int64_t limit) = 0;
  // Adds amount (may be negative: a correction after the fact) without a check.
  virtual Status window_adjust(std::string_view name, int64_t window_ms, int64_t now_ms, int64_t amount) = 0;

  // ---- combined steps ----
  // Atomically: first releases every hold whose lease expired by now_ms
  // (its amount leaves its accounts' reserved); then, if every window admits
  // its amount (in order) and every account has room for amount, adds each
  // window's amount, reserves amount on each account, records hold (when not
  // null) and grants. Otherwise (apart from the expired holds) changes nothing
  // and reports the first window, or else the first account, that refused.
  virtual Result<AdmitResult> admit(const std::vector<WindowCharge>& windows, int64_t now_ms,
                                    const std::vector<AccountLimit>& accounts, Picodollars amount,
                                    const Hold* hold) = 0;
  // Atomically: settle(accounts, reserved_amount, actual), window_adjust()
  // of each adjustment (limits ignored) and, when row is set, append(*row).
  // With hold_id, reserved_amount is given back only if that hold is still
  // recorded (it is then deleted): a hold already released by expiry is not
  // subtracted twice.
  virtual Status finish(const std::vector<std::string>& accounts, Picodollars reserved_amount, Picodollars actual,
                        const std::vector<WindowCharge>& adjustments, int64_t now_ms, const LedgerRow* row,
                        const std::string* hold_id) = 0;

  // ---- ledger ----
  virtual Status append(const LedgerRow& row) = 0;
  // Aggregates rows matching q, one UsageRow per group (one row in all when
  // q.group_by == kNone; an empty result when nothing matched and grouped).
  virtual Result<std::vector<UsageRow>> usage(const UsageQuery& q) = 0;
  // The matching rows themselves, newest first, at most limit of them.
  virtual Result<std::vector<LedgerRow>> ledger(const UsageQuery& q, int64_t limit) = 0;
};

// Opens (and for SQLite creates/migrates) the configured store. Fails with a
// one-line Status when the file cannot be opened or Redis cannot be reached.
Result<std::unique_ptr<Store>> open_store(const StoreConfig& config);

}  // namespace tern::store
