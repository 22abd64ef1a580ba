// budget/budget.h — virtual API keys, teams, dollar budgets, RPM/TPM limits,
// cost accounting and the request ledger, on top of a Store.
//
//   tern::budget::BudgetConfig cfg;
//   cfg.teams.push_back({.id = "research", .budget = *tern::budget::parse_dollars("50")});
//   cfg.keys.push_back({.id = "alice", .secret = "sk-tern-alice", .team = "research",
//                       .budget = *tern::budget::parse_dollars("5"), .rpm = 60, .tpm = 100000});
//   tern::budget::Budgets budgets(*store, cfg);
//   const tern::budget::VirtualKey* key = budgets.authenticate(bearer_token);   // nullptr: 401
//   tern::budget::Prices p{.input = *tern::budget::parse_dollars("0.15"),     // per 1M tokens
//                          .output = *tern::budget::parse_dollars("0.60")};
//   auto adm = budgets.admit(*key, {.model = "gpt-4o-mini", .prices = p,
//                                   .prompt_tokens = 900, .max_output_tokens = 256});
//   if (!adm.ok()) -> 500 (store failure);  if (!adm->admitted()) -> adm->denial.http_status (402/429)
//   ... call the model ...
//   budgets.settle(adm->reservation, {.tokens_in = 900, .tokens_out = 120, ...});  // ledger row too
//   // A Reservation destroyed without settle() is released (a failed call costs nothing).
//
// Reservation semantics: admit() reserves the request's worst-case cost
// (prompt tokens at the input price + max_output_tokens at the output price)
// atomically on every account the key charges (the key's and its team's, for
// the current budget period) and only if each stays within its budget
// counting other in-flight reservations. settle() replaces the reservation by
// the actual cost. Because the reservation is an upper bound, concurrent
// requests — in one process or in several instances sharing a Redis or SQLite
// store — can never drive recorded spend over a budget. (If the actual cost
// exceeds the reservation because the caller underestimated, the excess is
// still charged and recorded; admit() then refuses further requests.)
//
// Crashes: every reservation is a lease (BudgetConfig::reservation_lease_ms);
// one whose process died before settling is given back by a later admit().
//
// Rate limits: RPM counts admitted requests; TPM counts tokens (the prompt
// at admission, corrected to prompt + completion at settlement), both over a
// sliding minute, per key and per team. A limit of 0 means unlimited.
//
// Periods: a budget applies to all time (kTotal) or resets each UTC day or
// month (kDaily, kMonthly): the account name carries the period start, e.g.
// "key:alice@2026-11".
//
// Thread safety: all methods may be called concurrently. Errors: Status for
// store failures only; over-budget and rate limits are Denials, not errors.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/store.h"
#include "tern/status.h"

namespace tern::budget {

using store::Picodollars;
constexpr Picodollars kPicoPerDollar = 1'000'000'000'000;

// Exact decimal dollars ("5", "0.15", "1e-3", "$2.50") -> picodollars.
// InvalidArgument for anything else, negatives, or more than 12 decimals.
Result<Picodollars> parse_dollars(std::string_view text);
// Picodollars -> dollars, rounded to `decimals` places, e.g. "0.000123".
std::string format_dollars(Picodollars amount, int decimals = 6);
// A double number of dollars (YAML float) rounded to the nearest picodollar.
Picodollars dollars_from_double(double dollars);

// Prices per one million tokens, in picodollars (i.e. parse_dollars of the
// dollars-per-million figure).
struct Prices {
  Picodollars input = 0;
  Picodollars output = 0;
  Picodollars cached = -1;    // cached prompt tokens; < 0: same as input
};

// cost = ((tokens_in - tokens_cached) * input + tokens_cached * cached + tokens_out * output) / 1e6.
// Exact whenever each price has at most six decimals in dollars per million
// tokens (every published price); otherwise the total rounds up to the next
// picodollar. Negative token counts count as 0.
Picodollars cost_of(const Prices& prices, int64_t tokens_in, int64_t tokens_out, int64_t tokens_cached);

enum class Period { kTotal, kDaily, kMonthly };
Result<Period> parse_period(std::string_view name);   // "total", "daily", "monthly"

struct Team {
  std::string id;
  Picodollars budget = -1;    // < 0: unlimited
  Period period = Period::kTotal;
  int64_t rpm = 0;            // 0: unlimited
  int64_t tpm = 0;
};

struct VirtualKey {
  std::string id;             // appears in the ledger; never the secret
  std::string secret;         // the bearer token clients send
  std::string team;           // may be empty (no team budget)
  Picodollars budget = -1;    // < 0: unlimited
  Period period = Period::kTotal;
  int64_t rpm = 0;
  int64_t tpm = 0;
  std::vector<std::string> models;   // allowed models; empty: any
};

struct BudgetConfig {
  std::vector<Team> teams;
  std::vector<VirtualKey> keys;
  // Clock (Unix ms); empty: the system clock. Tests inject a fake one.
  std::function<int64_t()> now_ms;
  // A reservation not settled or released within this time (its process
  // died or hung) is given back by the next admit() of any instance. Longer
  // than any request may run: a request that outlives its lease is still
  // charged, but its budget room was already handed to others.
  int64_t reservation_lease_ms = 3600 * 1000;
};

struct AdmitRequest {
  std::string model;
  Prices prices;
  int64_t prompt_tokens = 0;        // estimate (or exact count) of the prompt
  int64_t max_output_tokens = 0;    // the request's max_tokens (the caller caps it when absent)
};

struct Denial {
  int http_status = 0;              // 402 (budget), 429 (rate limit), 403 (model not allowed)
  std::string type;                 // OpenAI error type: "insufficient_quota", "rate_limit_exceeded", "permission_denied"
  std::string message;              // one line, e.g. "budget exceeded for team research: $49.99 of $50.00 spent"
  int64_t retry_after_ms = 0;       // 429 only
};

class Budgets;

// A held reservation. Move-only; its destructor releases it unless settled.
// It must not outlive the Budgets that granted it.
class Reservation {
 public:
  Reservation() = default;
  Reservation(Reservation&& other) noexcept;
  Reservation& operator=(Reservation&& other) noexcept;
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  ~Reservation();

  bool active() const { return owner_ != nullptr; }
  Picodollars amount() const { return amount_; }
  const std::string& key_id() const { return key_id_; }
  const std::string& team() const { return team_; }
  int64_t admitted_ms() const { return admitted_ms_; }

 private:
  friend class Budgets;
  Budgets* owner_ = nullptr;
  std::vector<std::string> accounts_;
  std::vector<std::string> windows_tpm_;   // TPM window names charged at admission
  Picodollars amount_ = 0;
  int64_t prompt_tokens_ = 0;
  std::string key_id_, team_;
  std::string hold_id_;                    // the store's lease on this reservation
  int64_t admitted_ms_ = 0;
};

struct Admission {
  std::optional<Denial> denial;     // set: refused, nothing held
  Reservation reservation;          // active when admitted
  bool admitted() const { return !denial.has_value(); }
};

// What actually happened; settle() turns it into a ledger row.
struct Outcome {
  std::string request_id;
  std::string model;                // the model that served the request
  std::string route;
  Prices prices;                    // of that model
  int64_t tokens_in = 0, tokens_out = 0, tokens_cached = 0;
  double latency_ms = 0;
  std::string cache = "miss";       // "miss", "exact", "semantic", "bypass"
  Picodollars saved = 0;            // cache hits: the original call's cost
  int32_t escalations = 0;
  int32_t status = 200;
  bool charge = true;               // false: record the row at cost 0 (cache hits are free)
  // Added for the gateway (issue #8 part A): a cascade calls several models
  // with different prices, so it passes the summed cost here. >= 0: charged
  // instead of cost_of(prices, tokens); < 0: computed from prices and tokens.
  Picodollars cost_override = -1;
};

class Budgets {
 public:
  Budgets(store::Store& store, BudgetConfig config);

  // The key whose secret this is, or nullptr. Constant-time in the secret's
  // content (a hash lookup), so it does not leak prefixes through timing.
  const VirtualKey* authenticate(std::string_view secret) const;
  const VirtualKey* find_key(std::string_view id) const;
  const Team* find_team(std::string_view id) const;

  // Checks the model allow-list, RPM and TPM (key, team), then reserves the
  // worst-case cost on the key's and team's budget accounts.
  Result<Admission> admit(const VirtualKey& key, const AdmitRequest& request);
  // Charges the actual cost (released reservation + spend), corrects TPM and
  // appends the ledger row. Returns the cost charged. The reservation becomes
  // inactive even when the store fails.
  Result<Picodollars> settle(Reservation& reservation, const Outcome& outcome);
  // Gives the reservation back without spending (the call failed before any cost).
  Status release(Reservation& reservation);

  // Appends a ledger row for a request that was never admitted (e.g. 402/429
  // answers) or has no key (auth disabled): cost 0 unless outcome.charge.
  Status record(const VirtualKey* key, const Outcome& outcome, int64_t ts_ms);

  // Spent and reserved on a key's / team's current-period account.
  Result<store::AccountState> key_state(const VirtualKey& key);
  Result<store::AccountState> team_state(std::string_view team);

  Result<std::vector<store::UsageRow>> usage(const store::UsageQuery& query) { return store_.usage(query); }

  // Account names, public for tests and the admin endpoint.
  std::string key_account(const VirtualKey& key, int64_t now_ms) const;
  std::string team_account(const Team& team, int64_t now_ms) const;

  int64_t now_ms() const;

 private:
  friend class Reservation;
  void release_quietly(Reservation& r);

  store::Store& store_;
  BudgetConfig config_;
  std::unordered_map<std::string, size_t> by_secret_, by_id_, teams_by_id_;
};

}  // namespace tern::budget
