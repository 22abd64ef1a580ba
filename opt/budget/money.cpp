// budget/money.cpp — exact dollar amounts in picodollars, and request costs.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>

#include "budget/budget.h"

namespace tern::budget {

Result<Picodollars> parse_dollars(std::string_view text) {
  const std::string orig(text);
  auto bad = [&](const char* why) { return InvalidArgument("invalid dollar amount '" + orig + "': " + why); };
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (!text.empty() && text.front() == '$') text.remove_prefix(1);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return bad("empty");
  if (text.front() == '-') return bad("negative");
  std::string digits;  // mantissa digits without the point
  int frac = 0;        // digits after the point
  bool point = false;
  size_t i = 0;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c >= '0' && c <= '9') {
      digits += c;
      if (point) ++frac;
    } else if (c == '.' && !point) {
      point = true;
    } else if (c == '_' || c == ',') {
      continue;  // digit group separators: "1,000" / "1_000"
    } else {
      break;
    }
  }
  if (digits.empty()) return bad("no digits");
  int exp = 0;
  if (i < text.size()) {
    if (text[i] != 'e' && text[i] != 'E') return bad("unexpected character");
    ++i;
    bool neg = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) neg = text[i++] == '-';
    if (i == text.size()) return bad("no exponent digits");
    for (; i < text.size(); ++i) {
      if (text[i] < '0' || text[i] > '9') return bad("unexpected character in the exponent");
      exp = exp * 10 + (text[i] - '0');
      if (exp > 40) return bad("exponent out of range");
    }
    if (neg) exp = -exp;
  }
  int shift = 12 + exp - frac;  // value = digits * 10^shift picodollars
  while (shift < 0) {
    if (digits.back() != '0') return bad("more precise than a picodollar (1e-12)");
    digits.pop_back();
    ++shift;
    if (digits.empty()) return Picodollars{0};
  }
  __int128 v = 0;
  for (char c : digits) {
    v = v * 10 + (c - '0');
    if (v > INT64_MAX) return bad("too large");
  }
  for (int s = 0; s < shift; ++s) {
    v *= 10;
    if (v > INT64_MAX) return bad("too large (the limit is about $9.2 million)");
  }
  return static_cast<Picodollars>(v);
}

std::string format_dollars(Picodollars amount, int decimals) {
  if (decimals < 0) decimals = 0;
  if (decimals > 12) decimals = 12;
  const bool neg = amount < 0;
  unsigned __int128 a = neg ? static_cast<unsigned __int128>(-static_cast<__int128>(amount)) : amount;
  unsigned __int128 scale = 1;
  for (int i = 0; i < 12 - decimals; ++i) scale *= 10;
  a = (a + scale / 2) / scale;  // round half up, in units of 10^-decimals dollars
  unsigned __int128 unit = 1;
  for (int i = 0; i < decimals; ++i) unit *= 10;
  const auto whole = static_cast<unsigned long long>(a / unit);
  const auto frac = static_cast<unsigned long long>(a % unit);
  std::string out = (neg ? "-" : "") + std::to_string(whole);
  if (decimals > 0) {
    std::string f = std::to_string(frac);
    out += "." + std::string(static_cast<size_t>(decimals) - f.size(), '0') + f;
  }
  return out;
}

Picodollars dollars_from_double(double dollars) {
  if (!std::isfinite(dollars)) return dollars > 0 ? INT64_MAX : 0;
  const double p = dollars * 1e12;
  if (p >= 9.2e18) return INT64_MAX;
  if (p <= -9.2e18) return INT64_MIN;
  return static_cast<Picodollars>(std::llround(p));
}

Picodollars cost_of(const Prices& prices, int64_t tokens_in, int64_t tokens_out, int64_t tokens_cached) {
  tokens_in = std::max<int64_t>(tokens_in, 0);
  tokens_out = std::max<int64_t>(tokens_out, 0);
  tokens_cached = std::clamp<int64_t>(tokens_cached, 0, tokens_in);
  const Picodollars cached_price = prices.cached < 0 ? prices.input : prices.cached;
  const __int128 per_million = static_cast<__int128>(tokens_in - tokens_cached) * prices.input +
                               static_cast<__int128>(tokens_cached) * cached_price +
                               static_cast<__int128>(tokens_out) * prices.output;
  const __int128 cost = (per_million + 999'999) / 1'000'000;  // round up: never undercharge
  return cost > INT64_MAX ? INT64_MAX : static_cast<Picodollars>(cost);
}

Result<Period> parse_period(std::string_view name) {
  if (name == "total" || name.empty()) return Period::kTotal;
  if (name == "daily") return Period::kDaily;
  if (name == "monthly") return Period::kMonthly;
  return InvalidArgument("unknown budget period '" + std::string(name) + "' (expected total, daily or monthly)");
}

}  // namespace tern::budget
