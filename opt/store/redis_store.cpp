// store/redis_store.cpp — Store on a Redis server (hiredis), shared by any
// number of tern instances. Multi-key steps are Lua scripts (redis_scripts.h);
// single-key reads are plain commands. Connections are pooled; a connection
// that fails is dropped and the next call reconnects.
#include <hiredis/hiredis.h>

#include <nlohmann/json.hpp>

#include <condition_variable>
#include <mutex>
#include <random>

#include "store/redis_scripts.h"
#include "store/store_internal.h"

namespace tern::store::internal {
namespace {

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;

std::string reply_string(const redisReply* r) {
  return r && r->str ? std::string(r->str, r->len) : std::string();
}

// Escapes glob metacharacters for SCAN MATCH.
std::string glob_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

int64_t to_int(const redisReply* r) {
  if (!r) return 0;
  if (r->type == REDIS_REPLY_INTEGER) return r->integer;
  if (r->type == REDIS_REPLY_STRING) return std::strtoll(r->str, nullptr, 10);
  return 0;
}

class RedisStore final : public Store {
 public:
  explicit RedisStore(const StoreConfig& config) : config_(config) {
    const std::string& p = config_.key_prefix;
    kv_ = p + "kv:";
    kt_ = p + "kt:";
    tag_ = p + "tag:";
    acct_ = p + "acct:";
    win_ = p + "win:";
    ledger_key_ = p + "ledger";
    holds_key_ = p + "holds";
    hold_prefix_ = p + "hold:";
    std::random_device rd;
    nonce_ = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }

  Status init() {
    // Connect once up front so that a wrong address fails at startup.
    TERN_ASSIGN_OR_RETURN(Context c, connect());
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(c));
    ++open_;
    return Status::Ok();
  }

  StoreKind kind() const override { return StoreKind::kRedis; }

  Status put(std::string_view key, std::string_view value, int64_t ttl_ms,
             const std::vector<std::string>& tags) override {
    const std::string k = kv_ + std::string(key), t = kt_ + std::string(key);
    std::vector<std::string> argv = {"EVAL", lua::kPut, "2", k, t, std::string(value), std::to_string(ttl_ms), tag_};
    for (const std::string& tg : tags) argv.push_back(tg);
    TERN_ASSIGN_OR_RETURN(Reply r, command(argv));
    return Status::Ok();
  }

  Result<std::optional<std::string>> get(std::string_view key) override {
    TERN_ASSIGN_OR_RETURN(Reply r, command({"GET", kv_ + std::string(key)}));
    if (r->type == REDIS_REPLY_NIL) return std::optional<std::string>();
    return std::optional<std::string>(reply_string(r.get()));
  }

  Result<int64_t> erase(std::string_view key) override {
    return erase_many({kv_ + std::string(key)});
  }

  Result<int64_t> erase_prefix(std::string_view prefix) override {
    int64_t n = 0;
    TERN_RETURN_IF_ERROR(scan_keys_raw(prefix, [&](std::vector<std::string>& keys) -> Status {
      TERN_ASSIGN_OR_RETURN(int64_t m, erase_many(keys));
      n += m;
      return Status::Ok();
    }));
    return n;
  }

  Result<int64_t> erase_tag(std::string_view tag) override {
    const std::string tg(tag);
    TERN_ASSIGN_OR_RETURN(Reply r, command({"EVAL", lua::kEraseTag, "1", tag_ + tg, tag_, tg, kt_, kv_}));
    return to_int(r.get());
  }

  Status scan(std::string_view prefix,
              const std::function<bool(std::string_view, std::string_view)>& fn) override {
    bool go_on = true;
    return scan_keys_raw(prefix, [&](std::vector<std::string>& keys) -> Status {
      if (!go_on) return Status::Ok();
      std::vector<std::string> argv = {"MGET"};
      argv.insert(argv.end(), keys.begin(), keys.end());
      TERN_ASSIGN_OR_RETURN(Reply r, command(argv));
      for (size_t i = 0; i < r->elements && i < keys.size() && go_on; ++i) {
        const redisReply* e = r->element[i];
        if (e->type != REDIS_REPLY_STRING) continue;  // expired since SCAN saw it
        go_on = fn(std::string_view(keys[i]).substr(kv_.size()), std::string_view(e->str, e->len));
      }
      return Status::Ok();
    });
  }

  Status scan_keys(std::string_view prefix, const std::function<bool(std::string_view)>& fn) override {
    bool go_on = true;
    return scan_keys_raw(prefix, [&](std::vector<std::string>& keys) -> Status {
      for (size_t i = 0; i < keys.size() && go_on; ++i) go_on = fn(std::string_view(keys[i]).substr(kv_.size()));
      return Status::Ok();
    });
  }

  Result<ReserveResult> reserve(const std::vector<AccountLimit>& accounts, Picodollars amount) override {
    if (amount < 0) return InvalidArgument("reserve: negative amount");
    std::vector<std::string> argv = {"EVAL", lua::kReserve, std::to_string(accounts.size())};
    for (const AccountLimit& a : accounts) argv.push_back(acct_ + a.account);
    argv.push_back(std::to_string(amount));
    for (const AccountLimit& a : accounts) argv.push_back(std::to_string(a.limit < 0 ? -1 : a.limit));
    TERN_ASSIGN_OR_RETURN(Reply r, command(argv));
    ReserveResult out;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1) return Internal("redis: unexpected reserve reply");
    out.granted = to_int(r->element[0]) == 1;
    if (!out.granted && r->elements >= 4) {
      const size_t i = static_cast<size_t>(to_int(r->element[1])) - 1;
      if (i < accounts.size()) {
        out.refused_account = accounts[i].account;
        out.refused_limit = accounts[i].limit;
      }
      out.refused_state.spent = to_int(r->element[2]);
      out.refused_state.reserved = to_int(r->element[3]);
    }
    return out;
  }

  Status settle(const std::vector<std::string>& accounts, Picodollars reserved_amount, Picodollars actual) override {
    std::vector<std::string> argv = {"EVAL", lua::kSettle, std::to_string(accounts.size())};
    for (const std::string& a : accounts) argv.push_back(acct_ + a);
    argv.push_back(std::to_string(-reserved_amount));
    argv.push_back(std::to_string(actual));
    TERN_ASSIGN_OR_RETURN(Reply r, command(argv));
    return Status::Ok();
  }

  Result<AccountState> account(std::string_view name) override {
    TERN_ASSIGN_OR_RETURN(Reply r, command({"HMGET", acct_ + std::string(name), "spent", "reserved"}));
    AccountState s;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
      s.spent = to_int(r->element[0]);
      s.reserved = to_int(r->element[1]);
    }
    return s;
  }

  Result<WindowResult> window_add(std::string_view name, int64_t window_ms, int64_t now_ms, int64_t amount,
                                  int64_t limit) override {
    if (window_ms <= 0) return InvalidArgument("window_add: window_ms must be > 0");
    TERN_ASSIGN_OR_RETURN(Reply r, window(name, window_ms, now_ms, amount, limit, true));
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) return Internal("redis: unexpected window reply");
    WindowResult w = WindowMath::decide(to_int(r->element[1]), to_int(r->element[2]), now_ms, window_ms, amount, limit);
    w.allowed = to_int(r->element[0]) == 1;  // the script's verdict is the one applied
    return w;
  }

  Status window_adjust(std::string_view name, int64_t window_ms, int64_t now_ms, int64_t amount) override {
    if (window_ms <= 0) return InvalidArgument("window_adjust: window_ms must be > 0");
    TERN_ASSIGN_OR_RETURN(Reply r, window(name, window_ms, now_ms, amount, -1, false));
    return Status::Ok();
  }

  Result<AdmitResult> admit(const std::vector<WindowCharge>& windows, int64_t now_ms,
                            const std::vector<AccountLimit>& accounts, Picodollars amount,
                            const Hold* hold) override {
    if (amount < 0) return InvalidArgument("admit: negative amount");
    std::vector<std::string> argv = {"EVAL", lua::kAdmit, std::to_string(2 * windows.size() + accounts.size())};
    for (const WindowCharge& w : windows) {
      if (w.window_ms <= 0) return InvalidArgument("admit: window_ms must be > 0");
      const int64_t idx = WindowMath::index(now_ms, w.window_ms);
      const std::string base = win_ + w.name + ":";
      argv.push_back(base + std::to_string(idx));
      argv.push_back(base + std::to_string(idx - 1));
    }
    for (const AccountLimit& a : accounts) argv.push_back(acct_ + a.account);
    argv.push_back(std::to_string(windows.size()));
    argv.push_back(std::to_string(amount));
    argv.push_back(std::to_string(now_ms));
    argv.push_back(holds_key_);
    argv.push_back(hold_prefix_);
    argv.push_back(hold ? hold->id : "");
    argv.push_back(hold ? std::to_string(hold->expires_ms) : "0");
    for (const WindowCharge& w : windows) {
      argv.push_back(std::to_string(w.amount));
      argv.push_back(std::to_string(w.limit < 0 ? -1 : w.limit));
      argv.push_back(std::to_string(w.window_ms));
      argv.push_back(std::to_string(now_ms - WindowMath::index(now_ms, w.window_ms) * w.window_ms));
    }
    for (const AccountLimit& a : accounts) argv.push_back(std::to_string(a.limit < 0 ? -1 : a.limit));
    TERN_ASSIGN_OR_RETURN(Reply r, command(argv));
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1) return Internal("redis: unexpected admit reply");
    AdmitResult out;
    if (to_int(r->element[0]) == 1) {
      out.granted = out.reserve.granted = true;
      return out;
    }
    if (r->elements < 5) return Internal("redis: unexpected admit reply");
    const std::string what = reply_string(r->element[1]);
    const size_t i = static_cast<size_t>(to_int(r->element[2])) - 1;
    if (what == "w" && i < windows.size()) {
      out.refused_window = static_cast<int>(i);
      const WindowCharge& w = windows[i];
      out.window = WindowMath::decide(to_int(r->element[3]), to_int(r->element[4]), now_ms, w.window_ms, w.amount, w.limit);
      out.window.allowed = false;
    } else if (what == "a" && i < accounts.size()) {
      out.reserve.refused_account = accounts[i].account;
      out.reserve.refused_limit = accounts[i].limit;
      out.reserve.refused_state.spent = to_int(r->element[3]);
      out.reserve.refused_state.reserved = to_int(r->element[4]);
    } else {
      return Internal("redis: unexpected admit reply");
    }
    return out;
  }

  Status finish(const std::vector<std::string>& accounts, Picodollars reserved_amount, Picodollars actual,
                const std::vector<WindowCharge>& adjustments, int64_t now_ms, const LedgerRow* row,
                const std::string* hold_id) override {
    std::vector<std::string> argv = {"EVAL", lua::kFinish, std::to_string(accounts.size() + adjustments.size() + 1)};
    for (const std::string& a : accounts) argv.push_back(acct_ + a);
    for (const WindowCharge& w : adjustments) {
      if (w.window_ms <= 0) return InvalidArgument("finish: window_ms must be > 0");
      argv.push_back(win_ + w.name + ":" + std::to_string(WindowMath::index(now_ms, w.window_ms)));
    }
    argv.push_back(ledger_key_);
    argv.push_back(std::to_string(accounts.size()));
    argv.push_back(std::to_string(adjustments.size()));
    argv.push_back(std::to_string(-reserved_amount));
    argv.push_back(std::to_string(actual));
    for (const WindowCharge& w : adjustments) {
      argv.push_back(std::to_string(w.amount));
      argv.push_back(std::to_string(w.window_ms));
    }
    argv.push_back(row ? std::to_string(row->ts_ms) : "0");
    argv.push_back(row ? ledger_member(*row) : "");
    argv.push_back(hold_id ? *hold_id : "");
    argv.push_back(holds_key_);
    argv.push_back(hold_prefix_);
    TERN_ASSIGN_OR_RETURN(Reply r, command(argv));
    return Status::Ok();
  }

  std::string ledger_member(const LedgerRow& row) {
    return nlohmann::json::array(
               {row.ts_ms, row.request_id, row.key, row.team, row.model, row.route, row.tokens_in, row.tokens_out,
                row.tokens_cached, row.cost, row.saved, row.latency_ms, row.cache, row.escalations, row.status,
                std::to_string(nonce_) + "-" + std::to_string(seq_.fetch_add(1))})  // unique member
        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

  Status append(const LedgerRow& row) override {
    TERN_ASSIGN_OR_RETURN(Reply r, command({"ZADD", ledger_key_, std::to_string(row.ts_ms), ledger_member(row)}));
    return Status::Ok();
  }

  Result<std::vector<UsageRow>> usage(const UsageQuery& q) override {
    TERN_ASSIGN_OR_RETURN(std::vector<LedgerRow> rows, range(q));
    return aggregate(rows, q);
  }

  Result<std::vector<LedgerRow>> ledger(const UsageQuery& q, int64_t limit) override {
    TERN_ASSIGN_OR_RETURN(std::vector<LedgerRow> rows, range(q));
    std::vector<LedgerRow> out;
    for (auto it = rows.rbegin(); it != rows.rend() && static_cast<int64_t>(out.size()) < limit; ++it)
      if (row_matches(*it, q)) out.push_back(std::move(*it));
    return out;
  }

 private:
  Result<Context> connect() {
    timeval tv{config_.timeout_ms / 1000, (config_.timeout_ms % 1000) * 1000};
    Context c(redisConnectWithTimeout(config_.redis_host.c_str(), config_.redis_port, tv));
    const std::string where = config_.redis_host + ":" + std::to_string(config_.redis_port);
    if (!c) return IoError("redis: cannot allocate a connection to " + where);
    if (c->err) return IoError("redis: cannot connect to " + where + ": " + c->errstr);
    redisSetTimeout(c.get(), tv);
    if (!config_.redis_password.empty()) {
      TERN_ASSIGN_OR_RETURN(Reply r, raw(c.get(), {"AUTH", config_.redis_password}));
    }
    if (config_.redis_db != 0) {
      TERN_ASSIGN_OR_RETURN(Reply r, raw(c.get(), {"SELECT", std::to_string(config_.redis_db)}));
    }
    return c;
  }

  static Result<Reply> raw(redisContext* c, const std::vector<std::string>& argv) {
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    ptrs.reserve(argv.size());
    lens.reserve(argv.size());
    for (const std::string& a : argv) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
    Reply r(static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), ptrs.data(), lens.data())));
    if (!r) return IoError(std::string("redis: ") + (c->err ? c->errstr : "no reply"));
    if (r->type == REDIS_REPLY_ERROR) return IoError("redis: " + reply_string(r.get()));
    return r;
  }

  // Runs one command on a pooled connection.
  Result<Reply> command(const std::vector<std::string>& argv) {
    Context c;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !idle_.empty() || open_ < config_.pool_size; });
      if (!idle_.empty()) {
        c = std::move(idle_.back());
        idle_.pop_back();
      } else {
        ++open_;
      }
    }
    if (!c) {
      auto fresh = connect();
      if (!fresh.ok()) {
        give_back(nullptr);
        return fresh.status();
      }
      c = std::move(fresh).value();
    }
    Result<Reply> r = raw(c.get(), argv);
    give_back(c->err ? nullptr : std::move(c));  // a broken connection is dropped
    return r;
  }

  void give_back(Context c) {
    {
      std::lock_guard lock(mu_);
      if (c) idle_.push_back(std::move(c));
      else --open_;
    }
    cv_.notify_one();
  }

  Result<int64_t> erase_many(const std::vector<std::string>& keys) {
    if (keys.empty()) return int64_t{0};
    std::vector<std::string> argv = {"EVAL", lua::kEraseMany, std::to_string(keys.size())};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.push_back(tag_);
    argv.push_back(kt_);
    argv.push_back(kv_);
    TERN_ASSIGN_OR_RETURN(Reply r, command(argv));
    return to_int(r.get());
  }

  // Calls fn with batches of full kv keys starting with kv_ + prefix.
  Status scan_keys_raw(std::string_view prefix, const std::function<Status(std::vector<std::string>&)>& fn) {
    const std::string pattern = glob_escape(kv_ + std::string(prefix)) + "*";
    std::string cursor = "0";
    do {
      TERN_ASSIGN_OR_RETURN(Reply r, command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"}));
      if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) return Internal("redis: unexpected SCAN reply");
      cursor = reply_string(r->element[0]);
      std::vector<std::string> keys;
      const redisReply* list = r->element[1];
      for (size_t i = 0; i < list->elements; ++i) keys.push_back(reply_string(list->element[i]));
      if (!keys.empty()) TERN_RETURN_IF_ERROR(fn(keys));
    } while (cursor != "0");
    return Status::Ok();
  }

  Result<Reply> window(std::string_view name, int64_t window_ms, int64_t now_ms, int64_t amount, int64_t limit,
                       bool check) {
    const int64_t idx = WindowMath::index(now_ms, window_ms);
    const std::string base = win_ + std::string(name) + ":";
    return command({"EVAL", lua::kWindow, "2", base + std::to_string(idx), base + std::to_string(idx - 1),
                    std::to_string(amount), std::to_string(limit), std::to_string(window_ms),
                    std::to_string(now_ms - idx * window_ms), check ? "1" : "0"});
  }

  // Ledger rows with from <= ts < to, oldest first.
  Result<std::vector<LedgerRow>> range(const UsageQuery& q) {
    TERN_ASSIGN_OR_RETURN(Reply r, command({"ZRANGEBYSCORE", ledger_key_, std::to_string(q.from_ms),
                                            "(" + std::to_string(q.to_ms)}));
    std::vector<LedgerRow> rows;
    for (size_t i = 0; i < r->elements; ++i) {
      auto j = nlohmann::json::parse(reply_string(r->element[i]), nullptr, false);
      if (!j.is_array() || j.size() < 15) continue;  // not written by this version
      try {
        LedgerRow row;
        row.ts_ms = j[0].get<int64_t>();
        row.request_id = j[1].get<std::string>();
        row.key = j[2].get<std::string>();
        row.team = j[3].get<std::string>();
        row.model = j[4].get<std::string>();
        row.route = j[5].get<std::string>();
        row.tokens_in = j[6].get<int64_t>();
        row.tokens_out = j[7].get<int64_t>();
        row.tokens_cached = j[8].get<int64_t>();
        row.cost = j[9].get<int64_t>();
        row.saved = j[10].get<int64_t>();
        row.latency_ms = j[11].get<double>();
        row.cache = j[12].get<std::string>();
        row.escalations = j[13].get<int32_t>();
        row.status = j[14].get<int32_t>();
        if (row_matches(row, q)) rows.push_back(std::move(row));
      } catch (const nlohmann::json::exception&) {
        continue;
      }
    }
    return rows;
  }

  StoreConfig config_;
  std::string kv_, kt_, tag_, acct_, win_, ledger_key_, holds_key_, hold_prefix_;
  uint64_t nonce_ = 0;
  std::atomic<uint64_t> seq_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Context> idle_;
  int open_ = 0;  // connections idle or in use
};

}  // namespace

Result<std::unique_ptr<Store>> open_redis_store(const StoreConfig& config) {
  auto s = std::make_unique<RedisStore>(config);
  TERN_RETURN_IF_ERROR(s->init());
  return std::unique_ptr<Store>(std::move(s));
}

}  // namespace tern::store::internal
