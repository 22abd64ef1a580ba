// budget/budget.cpp — Budgets: authentication, admission (model allow-list,
// RPM/TPM windows, budget reservation), settlement and the ledger.
#include "budget/budget.h"

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <random>
#include <thread>

namespace tern::budget {
namespace {

constexpr int64_t kMinute = 60000;

int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string secret_digest(std::string_view secret) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(secret.data(), secret.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(md), len);
}

std::string period_suffix(Period p, int64_t now_ms) {
  if (p == Period::kTotal) return "";
  const time_t t = static_cast<time_t>(now_ms / 1000);
  tm utc{};
  gmtime_r(&t, &utc);
  char buf[32];
  if (p == Period::kDaily) std::strftime(buf, sizeof(buf), "@%Y-%m-%d", &utc);
  else std::strftime(buf, sizeof(buf), "@%Y-%m", &utc);
  return buf;
}

// The ledger row's fields that come from the request's outcome.
void fill_outcome(store::LedgerRow& row, const Outcome& o, Picodollars cost) {
  row.model = o.model;
  row.route = o.route;
  row.tokens_in = o.tokens_in;
  row.tokens_out = o.tokens_out;
  row.tokens_cached = o.tokens_cached;
  row.cost = cost;
  row.saved = o.saved;
  row.latency_ms = o.latency_ms;
  row.cache = o.cache;
  row.escalations = o.escalations;
  row.status = o.status;
}

// 128 random bits in hex: reservation ids must not collide across instances.
std::string new_hold_id() {
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   (static_cast<uint64_t>(std::hash<std::thread::id>{}(std::this_thread::get_id())) << 1));
  static const char* hex = "0123456789abcdef";
  std::string id;
  for (int w = 0; w < 2; ++w) {
    uint64_t v = rng();
    for (int i = 0; i < 16; ++i, v >>= 4) id += hex[v & 15];
  }
  return id;
}

}  // namespace

// ---- Reservation ----------------------------------------------------------------

Reservation::Reservation(Reservation&& o) noexcept { *this = std::move(o); }

Reservation& Reservation::operator=(Reservation&& o) noexcept {
  if (this != &o) {
    if (owner_) owner_->release_quietly(*this);
    owner_ = o.owner_;
    accounts_ = std::move(o.accounts_);
    windows_tpm_ = std::move(o.windows_tpm_);
    amount_ = o.amount_;
    prompt_tokens_ = o.prompt_tokens_;
    key_id_ = std::move(o.key_id_);
    team_ = std::move(o.team_);
    hold_id_ = std::move(o.hold_id_);
    admitted_ms_ = o.admitted_ms_;
    o.owner_ = nullptr;
  }
  return *this;
}

Reservation::~Reservation() {
  if (owner_) owner_->release_quietly(*this);
}

// ---- Budgets ------------------------------------------------------------------------

Budgets::Budgets(store::Store& store, BudgetConfig config) : store_(store), config_(std::move(config)) {
  for (size_t i = 0; i < config_.teams.size(); ++i) teams_by_id_[config_.teams[i].id] = i;
  for (size_t i = 0; i < config_.keys.size(); ++i) {
    by_id_[config_.keys[i].id] = i;
    if (!config_.keys[i].secret.empty()) by_secret_[secret_digest(config_.keys[i].secret)] = i;
  }
}

int64_t Budgets::now_ms() const { return config_.now_ms ? config_.now_ms() : system_now_ms(); }

const VirtualKey* Budgets::authenticate(std::string_view secret) const {
  if (secret.empty()) return nullptr;
  auto it = by_secret_.find(secret_digest(secret));
  return it == by_secret_.end() ? nullptr : &config_.keys[it->second];
}

const VirtualKey* Budgets::find_key(std::string_view id) const {
  auto it = by_id_.find(std::string(id));
  return it == by_id_.end() ? nullptr : &config_.keys[it->second];
}

const Team* Budgets::find_team(std::string_view id) const {
  auto it = teams_by_id_.find(std::string(id));
  return it == teams_by_id_.end() ? nullptr : &config_.teams[it->second];
}

std::string Budgets::key_account(const VirtualKey& key, int64_t now) const {
  return "key:" + key.id + period_suffix(key.period, now);
}

std::string Budgets::team_account(const Team& team, int64_t now) const {
  return "team:" + team.id + period_suffix(team.period, now);
}

Result<Admission> Budgets::admit(const VirtualKey& key, const AdmitRequest& req) {
  Admission adm;
  if (!key.models.empty() && std::find(key.models.begin(), key.models.end(), req.model) == key.models.end()) {
    adm.denial = Denial{403, "permission_denied", "key " + key.id + " may not use model " + req.model, 0};
    return adm;
  }
  const int64_t now = now_ms();
  const Team* team = key.team.empty() ? nullptr : find_team(key.team);
  const int64_t prompt = std::max<int64_t>(req.prompt_tokens, 0);

  // Rate windows (key, then team) and the worst-case cost on the key's and
  // the team's budget accounts, checked and taken in one atomic store step:
  // a refused request changes nothing.
  struct Limit {
    const char* what;
    std::string who;
  };
  std::vector<store::WindowCharge> windows;
  std::vector<Limit> about;
  auto window = [&](const std::string& name, int64_t amount, int64_t limit, const char* what, const std::string& who) {
    if (limit <= 0) return;  // unlimited: not counted
    store::WindowCharge w;
    w.name = name;
    w.window_ms = kMinute;
    w.amount = amount;
    w.limit = limit;
    windows.push_back(std::move(w));
    about.push_back({what, who});
  };
  window("rpm:key:" + key.id, 1, key.rpm, "requests-per-minute", "key " + key.id);
  window("tpm:key:" + key.id, prompt, key.tpm, "tokens-per-minute", "key " + key.id);
  if (team) {
    window("rpm:team:" + team->id, 1, team->rpm, "requests-per-minute", "team " + team->id);
    window("tpm:team:" + team->id, prompt, team->tpm, "tokens-per-minute", "team " + team->id);
  }
  Prices worst = req.prices;
  if (worst.cached > worst.input) worst.input = worst.cached;
  const Picodollars amount = cost_of(worst, prompt, std::max<int64_t>(req.max_output_tokens, 0), 0);
  std::vector<store::AccountLimit> accounts = {{key_account(key, now), key.budget}};
  if (team) accounts.push_back({team_account(*team, now), team->budget});

  store::Hold hold;
  hold.id = new_hold_id();
  hold.expires_ms = now + config_.reservation_lease_ms;
  TERN_ASSIGN_OR_RETURN(store::AdmitResult r, store_.admit(windows, now, accounts, amount, &hold));
  if (r.refused_window >= 0) {
    const size_t i = static_cast<size_t>(r.refused_window);
    adm.denial = Denial{429, "rate_limit_exceeded",
                        std::string(about[i].what) + " limit of " + std::to_string(windows[i].limit) + " reached for " +
                            about[i].who,
                        r.window.retry_after_ms};
    return adm;
  }
  if (!r.granted) {
    const store::ReserveResult& rr = r.reserve;
    const bool is_key = rr.refused_account == accounts[0].account;
    const std::string who = is_key ? "key " + key.id : "team " + key.team;
    adm.denial = Denial{402, "insufficient_quota",
                        "budget exceeded for " + who + ": $" + format_dollars(rr.refused_state.spent) + " spent + $" +
                            format_dollars(rr.refused_state.reserved) + " reserved of $" +
                            format_dollars(rr.refused_limit) + "; this request may cost up to $" +
                            format_dollars(amount),
                        0};
    return adm;
  }
  Reservation& res = adm.reservation;
  res.owner_ = this;
  for (const auto& a : accounts) res.accounts_.push_back(a.account);
  for (const store::WindowCharge& w : windows)
    if (w.name.rfind("tpm:", 0) == 0) res.windows_tpm_.push_back(w.name);
  res.amount_ = amount;
  res.prompt_tokens_ = prompt;
  res.key_id_ = key.id;
  res.team_ = key.team;
  res.admitted_ms_ = now;
  res.hold_id_ = std::move(hold.id);
  return adm;
}

Result<Picodollars> Budgets::settle(Reservation& res, const Outcome& o) {
  if (!res.active()) return InvalidArgument("settle: the reservation is not active");
  res.owner_ = nullptr;  // from here on the reservation is spent, whatever happens
  const Picodollars cost = !o.charge ? 0 : o.cost_override >= 0 ? o.cost_override : cost_of(o.prices, o.tokens_in, o.tokens_out, o.tokens_cached);
  const int64_t now = now_ms();
  const int64_t correction = std::max<int64_t>(o.tokens_in, 0) + std::max<int64_t>(o.tokens_out, 0) - res.prompt_tokens_;
  std::vector<store::WindowCharge> adjust;
  for (const std::string& w : res.windows_tpm_) {
    if (correction == 0) break;
    store::WindowCharge wc;
    wc.name = w;
    wc.window_ms = kMinute;
    wc.amount = correction;
    adjust.push_back(std::move(wc));
  }
  store::LedgerRow row;
  row.ts_ms = res.admitted_ms_;
  row.request_id = o.request_id;
  row.key = res.key_id_;
  row.team = res.team_;
  fill_outcome(row, o, cost);
  TERN_RETURN_IF_ERROR(store_.finish(res.accounts_, res.amount_, cost, adjust, now, &row, &res.hold_id_));
  return cost;
}

Status Budgets::release(Reservation& res) {
  if (!res.active()) return Status::Ok();
  res.owner_ = nullptr;
  std::vector<store::WindowCharge> adjust;  // the prompt never ran: TPM forgets it
  for (const std::string& w : res.windows_tpm_) {
    if (res.prompt_tokens_ == 0) break;
    store::WindowCharge wc;
    wc.name = w;
    wc.window_ms = kMinute;
    wc.amount = -res.prompt_tokens_;
    adjust.push_back(std::move(wc));
  }
  return store_.finish(res.accounts_, res.amount_, 0, adjust, now_ms(), nullptr, &res.hold_id_);
}

void Budgets::release_quietly(Reservation& res) { (void)release(res); }

Status Budgets::record(const VirtualKey* key, const Outcome& o, int64_t ts_ms) {
  const Picodollars cost = !o.charge ? 0 : o.cost_override >= 0 ? o.cost_override : cost_of(o.prices, o.tokens_in, o.tokens_out, o.tokens_cached);
  store::LedgerRow row;
  row.ts_ms = ts_ms;
  row.request_id = o.request_id;
  if (key) {
    row.key = key->id;
    row.team = key->team;
    if (cost > 0) {
      const int64_t now = now_ms();
      std::vector<std::string> accounts = {key_account(*key, now)};
      if (const Team* t = key->team.empty() ? nullptr : find_team(key->team)) accounts.push_back(team_account(*t, now));
      TERN_RETURN_IF_ERROR(store_.settle(accounts, 0, cost));
    }
  }
  fill_outcome(row, o, cost);
  return store_.append(row);
}

Result<store::AccountState> Budgets::key_state(const VirtualKey& key) {
  return store_.account(key_account(key, now_ms()));
}

Result<store::AccountState> Budgets::team_state(std::string_view team) {
  const Team* t = find_team(team);
  if (!t) return NotFound("unknown team '" + std::string(team) + "'");
  return store_.account(team_account(*t, now_ms()));
}

}  // namespace tern::budget
