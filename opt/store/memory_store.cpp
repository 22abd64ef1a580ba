// store/memory_store.cpp — Store in process memory: one mutex over ordered
// maps. For tests and single-process use; nothing survives the process.
#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include "store/store_internal.h"

namespace tern::store::internal {
namespace {

class MemoryStore final : public Store {
 public:
  explicit MemoryStore(const StoreConfig& config)
      : now_(config.now_ms ? config.now_ms : std::function<int64_t()>(system_now_ms)) {}

  StoreKind kind() const override { return StoreKind::kMemory; }

  Status put(std::string_view key, std::string_view value, int64_t ttl_ms,
             const std::vector<std::string>& tags) override {
    std::lock_guard lock(mu_);
    const std::string k(key);
    remove_locked(k);
    Entry& e = entries_[k];
    e.value.assign(value);
    e.expires_ms = ttl_ms > 0 ? now_() + ttl_ms : 0;
    e.tags = tags;
    for (const std::string& t : tags) tags_[t].insert(k);
    return Status::Ok();
  }

  Result<std::optional<std::string>> get(std::string_view key) override {
    std::lock_guard lock(mu_);
    auto it = entries_.find(std::string(key));
    if (it == entries_.end()) return std::optional<std::string>();
    if (expired(it->second)) {
      remove_locked(it->first);
      return std::optional<std::string>();
    }
    return std::optional<std::string>(it->second.value);
  }

  Result<int64_t> erase(std::string_view key) override {
    std::lock_guard lock(mu_);
    return remove_locked(std::string(key));
  }

  Result<int64_t> erase_prefix(std::string_view prefix) override {
    std::lock_guard lock(mu_);
    std::vector<std::string> victims;
    for (auto it = entries_.lower_bound(std::string(prefix)); it != entries_.end(); ++it) {
      if (it->first.compare(0, prefix.size(), prefix) != 0) break;
      victims.push_back(it->first);
    }
    int64_t n = 0;
    for (const std::string& k : victims) n += remove_locked(k);
    return n;
  }

  Result<int64_t> erase_tag(std::string_view tag) override {
    std::lock_guard lock(mu_);
    auto it = tags_.find(std::string(tag));
    if (it == tags_.end()) return int64_t{0};
    const std::set<std::string> victims = it->second;
    int64_t n = 0;
    for (const std::string& k : victims) n += remove_locked(k);
    return n;
  }

  Status scan(std::string_view prefix,
              const std::function<bool(std::string_view, std::string_view)>& fn) override {
    // Copy under the lock so fn may call back into the store.
    std::vector<std::pair<std::string, std::string>> items;
    {
      std::lock_guard lock(mu_);
      for (auto it = entries_.lower_bound(std::string(prefix)); it != entries_.end(); ++it) {
        if (it->first.compare(0, prefix.size(), prefix) != 0) break;
        if (!expired(it->second)) items.emplace_back(it->first, it->second.value);
      }
    }
    for (const auto& [k, v] : items)
      if (!fn(k, v)) break;
    return Status::Ok();
  }

  Status scan_keys(std::string_view prefix, const std::function<bool(std::string_view)>& fn) override {
    std::vector<std::string> keys;
    {
      std::lock_guard lock(mu_);
      for (auto it = entries_.lower_bound(std::string(prefix)); it != entries_.end(); ++it) {
        if (it->first.compare(0, prefix.size(), prefix) != 0) break;
        if (!expired(it->second)) keys.push_back(it->first);
      }
    }
    for (const std::string& k : keys)
      if (!fn(k)) break;
    return Status::Ok();
  }

  Result<ReserveResult> reserve(const std::vector<AccountLimit>& accounts, Picodollars amount) override {
    if (amount < 0) return InvalidArgument("reserve: negative amount");
    std::lock_guard lock(mu_);
    ReserveResult r;
    for (const AccountLimit& a : accounts) {
      const AccountState& s = accounts_[a.account];
      if (a.limit >= 0 && s.spent + s.reserved + amount > a.limit) {
        r.refused_account = a.account;
        r.refused_state = s;
        r.refused_limit = a.limit;
        return r;
      }
    }
    for (const AccountLimit& a : accounts) accounts_[a.account].reserved += amount;
    r.granted = true;
    return r;
  }

  Status settle(const std::vector<std::string>& accounts, Picodollars reserved_amount,
                Picodollars actual) override {
    std::lock_guard lock(mu_);
    for (const std::string& a : accounts) {
      AccountState& s = accounts_[a];
      s.reserved = std::max<Picodollars>(0, s.reserved - reserved_amount);
      s.spent += actual;
    }
    return Status::Ok();
  }

  Result<AccountState> account(std::string_view name) override {
    std::lock_guard lock(mu_);
    auto it = accounts_.find(std::string(name));
    return it == accounts_.end() ? AccountState{} : it->second;
  }

  Result<WindowResult> window_add(std::string_view name, int64_t window_ms, int64_t now_ms, int64_t amount,
                                  int64_t limit) override {
    if (window_ms <= 0) return InvalidArgument("window_add: window_ms must be > 0");
    std::lock_guard lock(mu_);
    Window& w = windows_[std::string(name)];
    roll(w, WindowMath::index(now_ms, window_ms));
    WindowResult r = WindowMath::decide(w.cur, w.prev, now_ms, window_ms, amount, limit);
    if (r.allowed) w.cur += amount;
    return r;
  }

  Status window_adjust(std::string_view name, int64_t window_ms, int64_t now_ms, int64_t amount) override {
    if (window_ms <= 0) return InvalidArgument("window_adjust: window_ms must be > 0");
    std::lock_guard lock(mu_);
    Window& w = windows_[std::string(name)];
    roll(w, WindowMath::index(now_ms, window_ms));
    w.cur += amount;
    return Status::Ok();
  }

  Result<AdmitResult> admit(const std::vector<WindowCharge>& windows, int64_t now_ms,
                            const std::vector<AccountLimit>& accounts, Picodollars amount,
                            const Hold* hold) override {
    if (amount < 0) return InvalidArgument("admit: negative amount");
    for (const WindowCharge& w : windows)
      if (w.window_ms <= 0) return InvalidArgument("admit: window_ms must be > 0");
    std::lock_guard lock(mu_);
    for (auto it = holds_.begin(); it != holds_.end();) {  // expired leases
      if (it->second.expires_ms > now_ms) {
        ++it;
        continue;
      }
      for (const std::string& a : it->second.accounts) {
        AccountState& st = accounts_[a];
        st.reserved = std::max<Picodollars>(0, st.reserved - it->second.amount);
      }
      it = holds_.erase(it);
    }
    AdmitResult r;
    for (size_t i = 0; i < windows.size(); ++i) {
      const WindowCharge& wc = windows[i];
      Window& w = windows_[wc.name];
      roll(w, WindowMath::index(now_ms, wc.window_ms));
      WindowResult v = WindowMath::decide(w.cur, w.prev, now_ms, wc.window_ms, wc.amount, wc.limit);
      if (!v.allowed) {
        r.refused_window = static_cast<int>(i);
        r.window = v;
        return r;
      }
    }
    for (const AccountLimit& a : accounts) {
      const AccountState& st = accounts_[a.account];
      if (a.limit >= 0 && st.spent + st.reserved + amount > a.limit) {
        r.reserve.refused_account = a.account;
        r.reserve.refused_state = st;
        r.reserve.refused_limit = a.limit;
        return r;
      }
    }
    for (const WindowCharge& wc : windows) windows_[wc.name].cur += wc.amount;
    for (const AccountLimit& a : accounts) accounts_[a.account].reserved += amount;
    if (hold) {
      HoldRec& h = holds_[hold->id];
      h.amount = amount;
      h.expires_ms = hold->expires_ms;
      for (const AccountLimit& a : accounts) h.accounts.push_back(a.account);
    }
    r.granted = r.reserve.granted = true;
    return r;
  }

  Status finish(const std::vector<std::string>& accounts, Picodollars reserved_amount, Picodollars actual,
                const std::vector<WindowCharge>& adjustments, int64_t now_ms, const LedgerRow* row,
                const std::string* hold_id) override {
    for (const WindowCharge& w : adjustments)
      if (w.window_ms <= 0) return InvalidArgument("finish: window_ms must be > 0");
    std::lock_guard lock(mu_);
    if (hold_id && holds_.erase(*hold_id) == 0) reserved_amount = 0;  // released by expiry already
    for (const std::string& a : accounts) {
      AccountState& st = accounts_[a];
      st.reserved = std::max<Picodollars>(0, st.reserved - reserved_amount);
      st.spent += actual;
    }
    for (const WindowCharge& wc : adjustments) {
      Window& w = windows_[wc.name];
      roll(w, WindowMath::index(now_ms, wc.window_ms));
      w.cur += wc.amount;
    }
    if (row) ledger_.push_back(*row);
    return Status::Ok();
  }

  Status append(const LedgerRow& row) override {
    std::lock_guard lock(mu_);
    ledger_.push_back(row);
    return Status::Ok();
  }

  Result<std::vector<UsageRow>> usage(const UsageQuery& q) override {
    std::lock_guard lock(mu_);
    return aggregate(ledger_, q);
  }

  Result<std::vector<LedgerRow>> ledger(const UsageQuery& q, int64_t limit) override {
    std::lock_guard lock(mu_);
    std::vector<LedgerRow> out;
    for (auto it = ledger_.rbegin(); it != ledger_.rend(); ++it)
      if (row_matches(*it, q)) out.push_back(*it);
    std::stable_sort(out.begin(), out.end(),
                     [](const LedgerRow& a, const LedgerRow& b) { return a.ts_ms > b.ts_ms; });
    if (static_cast<int64_t>(out.size()) > std::max<int64_t>(limit, 0)) out.resize(std::max<int64_t>(limit, 0));
    return out;
  }

 private:
  struct Entry {
    std::string value;
    int64_t expires_ms = 0;
    std::vector<std::string> tags;
  };
  struct Window {
    int64_t index = 0, cur = 0, prev = 0;
  };
  struct HoldRec {
    Picodollars amount = 0;
    int64_t expires_ms = 0;
    std::vector<std::string> accounts;
  };

  bool expired(const Entry& e) const { return e.expires_ms != 0 && e.expires_ms <= now_(); }

  // Removes key and its tag memberships; returns 1 if it was live.
  int64_t remove_locked(const std::string& key) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return 0;
    const int64_t live = expired(it->second) ? 0 : 1;
    for (const std::string& t : it->second.tags) {
      auto tit = tags_.find(t);
      if (tit == tags_.end()) continue;
      tit->second.erase(key);
      if (tit->second.empty()) tags_.erase(tit);
    }
    entries_.erase(it);
    return live;
  }

  static void roll(Window& w, int64_t index) {
    if (index == w.index) return;
    w.prev = index == w.index + 1 ? w.cur : 0;
    w.cur = 0;
    w.index = index;
  }

  std::function<int64_t()> now_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;
  std::unordered_map<std::string, std::set<std::string>> tags_;
  std::unordered_map<std::string, AccountState> accounts_;
  std::unordered_map<std::string, Window> windows_;
  std::vector<LedgerRow> ledger_;
  std::map<std::string, HoldRec> holds_;
};

}  // namespace

Result<std::unique_ptr<Store>> open_memory_store(const StoreConfig& config) {
  return std::unique_ptr<Store>(std::make_unique<MemoryStore>(config));
}

}  // namespace tern::store::internal
