// store/sqlite_store.cpp — Store in one SQLite file (WAL).
//
// Concurrency: a pool of connections serves readers in parallel (WAL lets
// them run beside a writer). Writes in this process are serialised by
// write_mu_, so threads never spin on SQLITE_BUSY among themselves; other
// processes (or other SqliteStore objects on the same file) are waited for by
// the busy timeout. Every read-check-write step (reserve, window_add) runs in
// one BEGIN IMMEDIATE transaction, which takes the database's write lock
// before reading: that is what makes reservations atomic across processes.
#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "store/store_internal.h"

namespace tern::store::internal {
namespace {

constexpr const char* kSchema = R"sql(
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS kv (
  key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_ms INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tags (
  tag TEXT NOT NULL, key TEXT NOT NULL REFERENCES kv(key) ON DELETE CASCADE,
  PRIMARY KEY (tag, key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tags_by_key ON tags(key);
CREATE INDEX IF NOT EXISTS kv_by_expiry ON kv(expires_ms) WHERE expires_ms != 0;
CREATE TABLE IF NOT EXISTS accounts (
  name TEXT PRIMARY KEY, spent INTEGER NOT NULL DEFAULT 0, reserved INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS windows (
  name TEXT NOT NULL, idx INTEGER NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (name, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger (
  id INTEGER PRIMARY KEY, scope TEXT NOT NULL, ts_ms INTEGER NOT NULL, request_id TEXT, key TEXT, team TEXT,
  model TEXT, route TEXT, tokens_in INTEGER, tokens_out INTEGER, tokens_cached INTEGER, cost INTEGER,
  saved INTEGER, latency_ms REAL, cache TEXT, escalations INTEGER, status INTEGER);
CREATE INDEX IF NOT EXISTS ledger_by_ts ON ledger(scope, ts_ms);
CREATE TABLE IF NOT EXISTS holds (
  id TEXT PRIMARY KEY, amount INTEGER NOT NULL, accounts TEXT NOT NULL, expires_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS holds_by_expiry ON holds(expires_ms);
)sql";

constexpr const char* kLedgerColumns =
    "ts_ms, request_id, key, team, model, route, tokens_in, tokens_out, tokens_cached, cost, saved, "
    "latency_ms, cache, escalations, status";

std::string sqlite_error(sqlite3* db, const std::string& what) {
  return "sqlite: " + what + ": " + (db ? sqlite3_errmsg(db) : "out of memory");
}

// One connection and its prepared statements (used by one thread at a time).
class Conn {
 public:
  Conn() = default;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn() {
    for (auto& [sql, st] : stmts_) sqlite3_finalize(st);
    if (db_) sqlite3_close_v2(db_);
  }

  Status open(const std::string& path, int timeout_ms) {
    int rc = sqlite3_open_v2(path.c_str(), &db_,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) return IoError(sqlite_error(db_, "cannot open " + path));
    sqlite3_busy_timeout(db_, timeout_ms);
    return exec("PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;");
  }

  Status exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      return IoError("sqlite: " + msg);
    }
    return Status::Ok();
  }

  // A reset statement for sql, prepared once per connection.
  Result<sqlite3_stmt*> stmt(const std::string& sql) {
    auto it = stmts_.find(sql);
    if (it != stmts_.end()) {
      sqlite3_reset(it->second);
      sqlite3_clear_bindings(it->second);
      return it->second;
    }
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
      return IoError(sqlite_error(db_, "prepare"));
    stmts_.emplace(sql, st);
    return st;
  }

  sqlite3* db() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
  std::map<std::string, sqlite3_stmt*> stmts_;
};

void put_arg(sqlite3_stmt* st, int i, std::string_view s) {
  sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
}
void bind_blob(sqlite3_stmt* st, int i, std::string_view s) {
  sqlite3_bind_blob(st, i, s.empty() ? "" : s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
}
void put_arg(sqlite3_stmt* st, int i, int64_t v) { sqlite3_bind_int64(st, i, v); }
void put_arg(sqlite3_stmt* st, int i, double v) { sqlite3_bind_double(st, i, v); }
std::string column_text(sqlite3_stmt* st, int i) {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(st, i));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(st, i))) : std::string();
}

// Runs a statement to completion (no rows expected).
Status run(Conn& c, sqlite3_stmt* st) {
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) return IoError(sqlite_error(c.db(), "step"));
  return Status::Ok();
}

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(const StoreConfig& config)
      : config_(config), now_(config.now_ms ? config.now_ms : std::function<int64_t()>(system_now_ms)) {}

  ~SqliteStore() override {
    {
      std::lock_guard lock(ckpt_mu_);
      stop_ = true;
    }
    ckpt_cv_.notify_all();
    if (checkpointer_.joinable()) checkpointer_.join();
  }

  Status init() {
    for (int i = 0; i < config_.pool_size; ++i) {
      auto c = std::make_unique<Conn>();
      TERN_RETURN_IF_ERROR(c->open(config_.path, config_.timeout_ms));
      if (i == 0) {
        std::lock_guard w(write_mu_);
        TERN_RETURN_IF_ERROR(c->exec(kSchema));
      }
      // Checkpoints (the only step that fsyncs in WAL mode with
      // synchronous=NORMAL) run on a background thread, off the request path.
      TERN_RETURN_IF_ERROR(c->exec("PRAGMA wal_autocheckpoint=0;"));
      idle_.push_back(std::move(c));
    }
    auto ck = std::make_unique<Conn>();
    TERN_RETURN_IF_ERROR(ck->open(config_.path, config_.timeout_ms));
    checkpointer_ = std::thread([this, c = std::move(ck)] {
      std::unique_lock lock(ckpt_mu_);
      while (!stop_) {
        ckpt_cv_.wait_for(lock, std::chrono::milliseconds(250));
        lock.unlock();
        (void)c->exec("PRAGMA wal_checkpoint(PASSIVE);");
        lock.lock();
      }
    });
    return Status::Ok();
  }

  StoreKind kind() const override { return StoreKind::kSqlite; }

  Status put(std::string_view key, std::string_view value, int64_t ttl_ms,
             const std::vector<std::string>& tags) override {
    const std::string k = config_.key_prefix + std::string(key);
    const int64_t expires = ttl_ms > 0 ? now_() + ttl_ms : 0;
    const bool purge = (++puts_ % 512) == 0;
    return write([&](Conn& c) -> Status {
      TERN_ASSIGN_OR_RETURN(sqlite3_stmt * del, c.stmt("DELETE FROM kv WHERE key = ?1"));
      put_arg(del, 1, k);
      TERN_RETURN_IF_ERROR(run(c, del));
      TERN_ASSIGN_OR_RETURN(sqlite3_stmt * ins, c.stmt("INSERT INTO kv(key, value, expires_ms) VALUES(?1, ?2, ?3)"));
      put_arg(ins, 1, k);
      bind_blob(ins, 2, value);
      put_arg(ins, 3, expires);
      TERN_RETURN_IF_ERROR(run(c, ins));
      for (const std::string& t : tags) {
        TERN_ASSIGN_OR_RETURN(sqlite3_stmt * tg, c.stmt("INSERT OR IGNORE INTO tags(tag, key) VALUES(?1, ?2)"));
        put_arg(tg, 1, config_.key_prefix + t);
        put_arg(tg, 2, k);
        TERN_RETURN_IF_ERROR(run(c, tg));
      }
      if (purge) {  // expired entries are skipped by get(); delete them now and then
        TERN_ASSIGN_OR_RETURN(sqlite3_stmt * p, c.stmt("DELETE FROM kv WHERE expires_ms != 0 AND expires_ms <= ?1"));
        put_arg(p, 1, now_());
        TERN_RETURN_IF_ERROR(run(c, p));
      }
      return Status::Ok();
    });
  }

  Result<std::optional<std::string>> get(std::string_view key) override {
    const std::string k = config_.key_prefix + std::string(key);
    std::optional<std::string> out;
    TERN_RETURN_IF_ERROR(read([&](Conn& c) -> Status {
      TERN_ASSIGN_OR_RETURN(sqlite3_stmt * st, c.stmt("SELECT value, expires_ms FROM kv WHERE key = ?1"));
      put_arg(st, 1, k);
      int rc = sqlite3_step(st);
      if (rc == SQLITE_ROW) {
        const int64_t exp = sqlite3_column_int64(st, 1);
        if (exp == 0 || exp > now_()) out = column_text(st, 0);
        rc = sqlite3_step(st);
      }
      sqlite3_reset(st);
      if (rc != SQLITE_DONE) return IoError(sqlite_error(c.db(), "get"));
      return Status::Ok();
    }));
    return out;
  }

  Result<int64_t> erase(std::string_view key) override {
    return delete_returning("DELETE FROM kv WHERE key = ?1 RETURNING expires_ms", config_.key_prefix + std::string(key), "");
  }

  Result<int64_t> erase_prefix(std::string_view prefix) override {
    const std::string lo = config_.key_prefix + std::string(prefix);
    const std::string hi = prefix_upper_bound(lo);
    if (hi.empty()) return delete_returning("DELETE FROM kv WHERE key >= ?1 RETURNING expires_ms", lo, "");
    return delete_returning("DELETE FROM kv WHERE key >= ?1 AND key < ?2 RETURNING expires_ms", lo, hi);
  }

  Result<int64_t> erase_tag(std::string_view tag) override {
    return delete_returning(
        "DELETE FROM kv WHERE key IN (SELECT key FROM tags WHERE tag = ?1) RETURNING expires_ms",
        config_.key_prefix + std::string(tag), "");
  }

  Status scan(std::string_view prefix,
              const std::function<bool(std::string_view, std::string_view)>& fn) override {
    const std::string lo = config_.key_prefix + std::string(prefix);
    const std::string hi = prefix_upper_bound(lo);
    std::vector<std::pair<std::string, std::string>> items;
    TERN_RETURN_IF_ERROR(read([&](Conn& c) -> Status {
      TERN_ASSIGN_OR_RETURN(sqlite3_stmt * st,
                            c.stmt(hi.empty() ? "SELECT key, value, expires_ms FROM kv WHERE key >= ?1"
                                              : "SELECT key, value, expires_ms FROM kv WHERE key >= ?1 AND key < ?2"));
      put_arg(st, 1, lo);
      if (!hi.empty()) put_arg(st, 2, hi);
      const int64_t now = now_();
      int rc;
      while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const int64_t exp = sqlite3_column_int64(st, 2);
        if (exp != 0 && exp <= now) continue;
        items.emplace_back(column_text(st, 0).substr(config_.key_prefix.size()), column_text(st, 1));
      }
      sqlite3_reset(st);
      if (rc != SQLITE_DONE) return IoError(sqlite_error(c.db(), "scan"));
      return Status::Ok();
    }));
    for (const auto& [k, v] : items)
      if (!fn(k, v)) break;
    return Status::Ok();
  }

  Status scan_keys(std::string_view prefix, const std::function<bool(std::string_view)>& fn) override {
    const std::string lo = config_.key_prefix + std::string(prefix);
    const std::string hi = prefix_upper_bound(lo);
    std::vector<std::string> keys;
    TERN_RETURN_IF_ERROR(read([&](Conn& c) -> Status {
      TERN_ASSIGN_OR_RETURN(sqlite3_stmt * st,
                            c.stmt(hi.empty() ? "SELECT key, expires_ms FROM kv WHERE key >= ?1"
                                              : "SELECT key, expires_ms FROM kv WHERE key >= ?1 AND key < ?2"));
      put_arg(st, 1, lo);
      if (!hi.empty()) put_arg(st, 2, hi);
      const int64_t now = now_();
      int rc;
      while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const int64_t exp = sqlite3_column_int64(st, 1);
        if (exp != 0 && exp <= now) continue;
        keys.push_back(column_text(st, 0).substr(config_.key_prefix.size()));
      }
      sqlite3_reset(st);
      if (rc != SQLITE_DONE) return IoError(sqlite_error(c.db(), "scan"));
      return Status::Ok();
    }));
    for (const std::string& k : keys)
      if (!fn(k)) break;
    return Status::Ok();
  }

  Result<ReserveResult> reserve(const std::vector<AccountLimit>& accounts, Picodollars amount) override {
    if (amount < 0) return InvalidArgument("reserve: negative amount");
    ReserveResult r;
    TERN_RETURN_IF_ERROR(write([&](Conn& c) -> Status {
      for (const AccountLimit& a : accounts) {
        TERN_ASSIGN_OR_RETURN(AccountState s, read_account(c, config_.key_prefix + a.account));
        if (a.limit >= 0 && s.spent + s.reserved + amount > a.limit) {
          r.refused_account = a.account;
          r.refused_state = s;
          r.refused_limit = a.limit;
          return Status::Ok();
        }
      }
      for (const AccountLimit& a : accounts)
        TERN_RETURN_IF_ERROR(add_account(c, config_.key_prefix + a.account, 0, amount));
      r.granted = true;
      return Status::Ok();
    }));
    return r;
  }

  Status settle(const std::vector<std::string>& accounts, Picodollars reserved_amount, Picodollars actual) override {
    return write([&](Conn& c) -> Status {
      for (const std::string& a : accounts)
        TERN_RETURN_IF_ERROR(add_account(c, config_.key_prefix + a, actual, -reserved_amount));
      return Status::Ok();
    });
  }

  Result<AccountState> account(std::string_view name) override {
    AccountState s;
    TERN_RETURN_IF_ERROR(read([&](Conn& c) -> Status {
      TERN_ASSIGN_OR_RETURN(s, read_account(c, config_.key_prefix + std::string(name)));
      return Status::Ok();
    }));
    return s;
  }

  Result<WindowResult> window_add(std::string_view name, int64_t window_ms, int64_t now_ms, int64_t amount,
                                  int64_t limit) override {
    if (window_ms <= 0) return InvalidArgument("window_add: window_ms must be > 0");
    WindowResult r;
    TERN_RETURN_IF_ERROR(write([&](Conn& c) -> Status {
      const std::string n = config_.key_prefix + std::string(name);
      const int64_t idx = WindowMath::index(now_ms, window_ms);
      TERN_ASSIGN_OR_RETURN(int64_t cur, window_count(c, n, idx));
      TERN_ASSIGN_OR_RETURN(int64_t prev, window_count(c, n, idx - 1));
      r = WindowMath::decide(cur, prev, now_ms, window_ms, amount, limit);
      if (r.allowed) TERN_RETURN_IF_ERROR(window_bump(c, n, idx, amount));
      return Status::Ok();
    }));
    return r;
  }

  Status window_adjust(std::string_view name, int64_t window_ms, int64_t now_ms, int64_t amount) override {
    if (window_ms <= 0) return InvalidArgument("window_adjust: window_ms must be > 0");
    return write([&](Conn& c) {
      return window_bump(c, config_.key_prefix + std::string(name), WindowMath::index(now_ms, window_ms), amount);
    });
  }

  Result<AdmitResult> admit(const std::vector<WindowCharge>& windows, int64_t now_ms,
                            const std::vector<AccountLimit>& accounts, Picodollars amount,
                            const Hold* hold) override {
    if (amount < 0) return InvalidArgument("admit: negative amount");
    for (const WindowCharge& w : windows)
      if (w.window_ms <= 0) return InvalidArgument("admit: window_ms must be > 0");
    AdmitResult r;
    TERN_RETURN_IF_ERROR(write([&](Conn& c) -> Status {
      TERN_RETURN_IF_ERROR(release_expired_holds(c, now_ms));
      for (size_t i = 0; i < windows.size(); ++i) {
        const WindowCharge& wc = windows[i];
        const std::string n = config_.key_prefix + wc.name;
        const int64_t idx = WindowMath::index(now_ms, wc.window_ms);
        TERN_ASSIGN_OR_RETURN(int64_t cur, window_count(c, n, idx));
        TERN_ASSIGN_OR_RETURN(int64_t prev, window_count(c, n, idx - 1));
        WindowResult v = WindowMath::decide(cur, prev, now_ms, wc.window_ms, wc.amount, wc.limit);
        if (!v.allowed) {
          r.refused_window = static_cast<int>(i);
          r.window = v;
          return Status::Ok();
        }
      }
      for (const AccountLimit& a : accounts) {
        TERN_ASSIGN_OR_RETURN(AccountState st, read_account(c, config_.key_prefix + a.account));
        if (a.limit >= 0 && st.spent + st.reserved + amount > a.limit) {
          r.reserve.refused_account = a.account;
          r.reserve.refused_state = st;
          r.reserve.refused_limit = a.limit;
          return Status::Ok();
        }
      }
      for (const WindowCharge& wc : windows)
        TERN_RETURN_IF_ERROR(window_bump(c, config_.key_prefix + wc.name, WindowMath::index(now_ms, wc.window_ms), wc.amount));
      std::string held;
      for (const AccountLimit& a : accounts) {
        TERN_RETURN_IF_ERROR(add_account(c, config_.key_prefix + a.account, 0, amount));
        held += config_.key_prefix + a.account + '\n';
      }
      if (hold) {
        TERN_ASSIGN_OR_RETURN(sqlite3_stmt * st,
                              c.stmt("INSERT OR REPLACE INTO holds(id, amount, accounts, expires_ms) VALUES(?1, ?2, ?3, ?4)"));
        put_arg(st, 1, config_.key_prefix + hold->id);
        put_arg(st, 2, amount);
        put_arg(st, 3, held);
        put_arg(st, 4, hold->expires_ms);
        TERN_RETURN_IF_ERROR(run(c, st));
      }
      r.granted = r.reserve.granted = true;
      return Status::Ok();
    }));
    return r;
  }

  Status finish(const std::vector<std::string>& accounts, Picodollars reserved_amount, Picodollars actual,
                const std::vector<WindowCharge>& adjustments, int64_t now_ms, const LedgerRow* row,
                const std::string* hold_id) override {
    for (const WindowCharge& w : adjustments)
      if (w.window_ms <= 0) return InvalidArgument("finish: window_ms must be > 0");
    return write([&](Conn& c) -> Status {
      if (hold_id) {
        TERN_ASSIGN_OR_RETURN(sqlite3_stmt * st, c.stmt("DELETE FROM holds WHERE id = ?1"));
        put_arg(st, 1, config_.key_prefix + *hold_id);
        TERN_RETURN_IF_ERROR(run(c, st));
        if (sqlite3_changes(c.db()) == 0) reserved_amount = 0;  // released by expiry already
      }
      for (const std::string& a : accounts)
        TERN_RETURN_IF_ERROR(add_account(c, config_.key_prefix + a, actual, -reserved_amount));
      for (const WindowCharge& wc : adjustments)
        TERN_RETURN_IF_ERROR(window_bump(c, config_.key_prefix + wc.name, WindowMath::index(now_ms, wc.window_ms), wc.amount));
      return row ? insert_row(c, *row) : Status::Ok();
    });
  }

  Status append(const LedgerRow& row) override {
    return write([&](Conn& c) { return insert_row(c, row); });
  }

  Status insert_row(Conn& c, const LedgerRow& row) {
    {
      TERN_ASSIGN_OR_RETURN(sqlite3_stmt * st,
                            c.stmt(std::string("INSERT INTO ledger(scope, ") + kLedgerColumns +
                                   ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"));
      put_arg(st, 1, config_.key_prefix);
      put_arg(st, 2, row.ts_ms);
      put_arg(st, 3, row.request_id);
      put_arg(st, 4, row.key);
      put_arg(st, 5, row.team);
      put_arg(st, 6, row.model);
      put_arg(st, 7, row.route);
      put_arg(st, 8, row.tokens_in);
      put_arg(st, 9, row.tokens_out);
      put_arg(st, 10, row.tokens_cached);
      put_arg(st, 11, row.cost);
      put_arg(st, 12, row.saved);
      put_arg(st, 13, row.latency_ms);
      put_arg(st, 14, row.cache);
      put_arg(st, 15, static_cast<int64_t>(row.escalations));
      put_arg(st, 16, static_cast<int64_t>(row.status));
      return run(c, st);
    }
  }

  Result<std::vector<UsageRow>> usage(const UsageQuery& q) override {
    const UsageGroup g = q.group_by;
    std::string period = "0";
    if (has_group(g, UsageGroup::kHour)) period = "((ts_ms - ((ts_ms % 3600000) + 3600000) % 3600000))";
    else if (has_group(g, UsageGroup::kDay)) period = "((ts_ms - ((ts_ms % 86400000) + 86400000) % 86400000))";
    const std::string cols = std::string(has_group(g, UsageGroup::kKey) ? "key" : "''") + ", " +
                             (has_group(g, UsageGroup::kTeam) ? "team" : "''") + ", " +
                             (has_group(g, UsageGroup::kModel) ? "model" : "''") + ", " +
                             (has_group(g, UsageGroup::kRoute) ? "route" : "''") + ", " + period;
    const std::string sql =
        "SELECT " + cols +
        ", COUNT(*), TOTAL(tokens_in), TOTAL(tokens_out), TOTAL(tokens_cached), SUM(cost), SUM(saved), "
        "SUM(cache = 'exact'), SUM(cache = 'semantic'), SUM(escalations > 0), SUM(status >= 400), TOTAL(latency_ms) "
        "FROM ledger WHERE " + filter_sql() + " GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5";
    std::vector<UsageRow> out;
    TERN_RETURN_IF_ERROR(read([&](Conn& c) -> Status {
      TERN_ASSIGN_OR_RETURN(sqlite3_stmt * st, c.stmt(sql));
      bind_filter(st, q);
      int rc;
      while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        UsageRow u;
        u.key = column_text(st, 0);
        u.team = column_text(st, 1);
        u.model = column_text(st, 2);
        u.route = column_text(st, 3);
        u.period_start_ms = sqlite3_column_int64(st, 4);
        u.requests = sqlite3_column_int64(st, 5);
        u.tokens_in = static_cast<int64_t>(sqlite3_column_double(st, 6));
        u.tokens_out = static_cast<int64_t>(sqlite3_column_double(st, 7));
        u.tokens_cached = static_cast<int64_t>(sqlite3_column_double(st, 8));
        u.cost = sqlite3_column_int64(st, 9);
        u.saved = sqlite3_column_int64(st, 10);
        u.cache_exact = sqlite3_column_int64(st, 11);
        u.cache_semantic = sqlite3_column_int64(st, 12);
        u.escalated = sqlite3_column_int64(st, 13);
        u.errors = sqlite3_column_int64(st, 14);
        u.latency_ms_sum = sqlite3_column_double(st, 15);
        out.push_back(std::move(u));
      }
      sqlite3_reset(st);
      if (rc != SQLITE_DONE) return IoError(sqlite_error(c.db(), "usage"));
      return Status::Ok();
    }));
    if (out.empty() && g == UsageGroup::kNone) out.emplace_back();
    return out;
  }

  Result<std::vector<LedgerRow>> ledger(const UsageQuery& q, int64_t limit) override {
    const std::string sql = std::string("SELECT ") + kLedgerColumns + " FROM ledger WHERE " + filter_sql() +
                            " ORDER BY ts_ms DESC, id DESC LIMIT ?7";
    std::vector<LedgerRow> out;
    TERN_RETURN_IF_ERROR(read([&](Conn& c) -> Status {
      TERN_ASSIGN_OR_RETURN(sqlite3_stmt * st, c.stmt(sql));
      bind_filter(st, q);
      put_arg(st, 7, std::max<int64_t>(limit, 0));
      int rc;
      while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        LedgerRow r;
        r.ts_ms = sqlite3_column_int64(st, 0);
        r.request_id = column_text(st, 1);
        r.key = column_text(st, 2);
        r.team = column_text(st, 3);
        r.model = column_text(st, 4);
        r.route = column_text(st, 5);
        r.tokens_in = sqlite3_column_int64(st, 6);
        r.tokens_out = sqlite3_column_int64(st, 7);
        r.tokens_cached = sqlite3_column_int64(st, 8);
        r.cost = sqlite3_column_int64(st, 9);
        r.saved = sqlite3_column_int64(st, 10);
        r.latency_ms = sqlite3_column_double(st, 11);
        r.cache = column_text(st, 12);
        r.escalations = static_cast<int32_t>(sqlite3_column_int64(st, 13));
        r.status = static_cast<int32_t>(sqlite3_column_int64(st, 14));
        out.push_back(std::move(r));
      }
      sqlite3_reset(st);
      if (rc != SQLITE_DONE) return IoError(sqlite_error(c.db(), "ledger"));
      return Status::Ok();
    }));
    return out;
  }

 private:
  // ?1 scope, ?2 from, ?3 to, ?4 key, ?5 team, ?6 model; route is filtered by ?8.
  static std::string filter_sql() {
    return "scope = ?1 AND ts_ms >= ?2 AND ts_ms < ?3 AND (?4 = '' OR key = ?4) AND (?5 = '' OR team = ?5) "
           "AND (?6 = '' OR model = ?6) AND (?8 = '' OR route = ?8)";
  }
  void bind_filter(sqlite3_stmt* st, const UsageQuery& q) const {
    put_arg(st, 1, config_.key_prefix);
    put_arg(st, 2, q.from_ms);
    put_arg(st, 3, q.to_ms);
    put_arg(st, 4, q.key);
    put_arg(st, 5, q.team);
    put_arg(st, 6, q.model);
    put_arg(st, 8, q.route);
  }

  Result<int64_t> delete_returning(const char* sql, const std::string& a, const std::string& b) {
    int64_t n = 0;
    TERN_RETURN_IF_ERROR(write([&](Conn& c) -> Status {
      TERN_ASSIGN_OR_RETURN(sqlite3_stmt * st, c.stmt(sql));
      put_arg(st, 1, a);
      if (!b.empty()) put_arg(st, 2, b);
      const int64_t now = now_();
      int rc;
      while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const int64_t exp = sqlite3_column_int64(st, 0);
        n += (exp == 0 || exp > now) ? 1 : 0;
      }
      sqlite3_reset(st);
      if (rc != SQLITE_DONE) return IoError(sqlite_error(c.db(), "delete"));
      return Status::Ok();
    }));
    return n;
  }

  // Gives back the reservations of holds whose lease ran out (their process
  // died or hung): they leave their accounts' reserved.
  Status release_expired_holds(Conn& c, int64_t now_ms) {
    TERN_ASSIGN_OR_RETURN(sqlite3_stmt * st,
                          c.stmt("DELETE FROM holds WHERE expires_ms <= ?1 RETURNING amount, accounts"));
    put_arg(st, 1, now_ms);
    std::vector<std::pair<Picodollars, std::string>> expired;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) expired.emplace_back(sqlite3_column_int64(st, 0), column_text(st, 1));
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return IoError(sqlite_error(c.db(), "holds"));
    for (const auto& [amount, list] : expired) {
      size_t start = 0, end;
      while ((end = list.find('\n', start)) != std::string::npos) {
        TERN_RETURN_IF_ERROR(add_account(c, list.substr(start, end - start), 0, -amount));
        start = end + 1;
      }
    }
    return Status::Ok();
  }

  Result<AccountState> read_account(Conn& c, const std::string& name) {
    TERN_ASSIGN_OR_RETURN(sqlite3_stmt * st, c.stmt("SELECT spent, reserved FROM accounts WHERE name = ?1"));
    put_arg(st, 1, name);
    AccountState s;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      s.spent = sqlite3_column_int64(st, 0);
      s.reserved = sqlite3_column_int64(st, 1);
      rc = sqlite3_step(st);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return IoError(sqlite_error(c.db(), "account"));
    return s;
  }

  Status add_account(Conn& c, const std::string& name, Picodollars spent, Picodollars reserved) {
    TERN_ASSIGN_OR_RETURN(sqlite3_stmt * st,
                          c.stmt("INSERT INTO accounts(name, spent, reserved) VALUES(?1, ?2, max(0, ?3)) "
                                 "ON CONFLICT(name) DO UPDATE SET spent = spent + ?2, reserved = max(0, reserved + ?3)"));
    put_arg(st, 1, name);
    put_arg(st, 2, spent);
    put_arg(st, 3, reserved);
    return run(c, st);
  }

  Result<int64_t> window_count(Conn& c, const std::string& name, int64_t idx) {
    TERN_ASSIGN_OR_RETURN(sqlite3_stmt * st, c.stmt("SELECT count FROM windows WHERE name = ?1 AND idx = ?2"));
    put_arg(st, 1, name);
    put_arg(st, 2, idx);
    int64_t n = 0;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      n = sqlite3_column_int64(st, 0);
      rc = sqlite3_step(st);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return IoError(sqlite_error(c.db(), "window"));
    return n;
  }

  Status window_bump(Conn& c, const std::string& name, int64_t idx, int64_t amount) {
    TERN_ASSIGN_OR_RETURN(sqlite3_stmt * st, c.stmt("INSERT INTO windows(name, idx, count) VALUES(?1, ?2, ?3) "
                                                    "ON CONFLICT(name, idx) DO UPDATE SET count = count + ?3"));
    put_arg(st, 1, name);
    put_arg(st, 2, idx);
    put_arg(st, 3, amount);
    TERN_RETURN_IF_ERROR(run(c, st));
    TERN_ASSIGN_OR_RETURN(sqlite3_stmt * old, c.stmt("DELETE FROM windows WHERE name = ?1 AND idx < ?2"));
    put_arg(old, 1, name);
    put_arg(old, 2, idx - 1);
    return run(c, old);
  }

  // Borrow a connection for fn (blocks while all are in use).
  template <typename F>
  Status with_conn(F&& fn) {
    std::unique_ptr<Conn> c;
    {
      std::unique_lock lock(pool_mu_);
      pool_cv_.wait(lock, [&] { return !idle_.empty(); });
      c = std::move(idle_.back());
      idle_.pop_back();
    }
    Status st = fn(*c);
    {
      std::lock_guard lock(pool_mu_);
      idle_.push_back(std::move(c));
    }
    pool_cv_.notify_one();
    return st;
  }

  template <typename F>
  Status read(F&& fn) {
    return with_conn(fn);
  }

  // fn inside BEGIN IMMEDIATE ... COMMIT (ROLLBACK when fn fails).
  template <typename F>
  Status write(F&& fn) {
    std::lock_guard w(write_mu_);
    return with_conn([&](Conn& c) -> Status {
      TERN_RETURN_IF_ERROR(c.exec("BEGIN IMMEDIATE"));
      Status st = fn(c);
      if (st.ok()) st = c.exec("COMMIT");
      if (!st.ok()) (void)c.exec("ROLLBACK");
      return st;
    });
  }

  StoreConfig config_;
  std::function<int64_t()> now_;
  std::mutex write_mu_;
  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<Conn>> idle_;
  std::atomic<uint64_t> puts_{0};
  std::mutex ckpt_mu_;
  std::condition_variable ckpt_cv_;
  bool stop_ = false;
  std::thread checkpointer_;
};

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const StoreConfig& config) {
  if (config.path.empty()) return InvalidArgument("sqlite store: empty path");
  auto s = std::make_unique<SqliteStore>(config);
  TERN_RETURN_IF_ERROR(s->init());
  return std::unique_ptr<Store>(std::move(s));
}

}  // namespace tern::store::internal
