// store/redis_scripts.h — the Lua scripts that make RedisStore's multi-key
// steps atomic (Redis runs a script without interleaving other commands).
// Key layout (P = StoreConfig::key_prefix):
//   P kv:<key>       the entry's value (string, PX ttl)
//   P kt:<key>       set of the entry's tags (same ttl)
//   P tag:<tag>      set of full entry keys carrying the tag (ttl >= its entries')
//   P acct:<name>    hash {spent, reserved}
//   P win:<name>:<i> window i's count (expires after two windows)
//   P ledger         sorted set of JSON rows scored by ts_ms
//   P holds          sorted set of reservation ids scored by lease expiry
//   P hold:<id>      hash {amount, accounts (full keys, newline-separated)}
// Single-instance (or primary/replica) Redis only: the scripts touch keys
// derived at run time, which Redis Cluster does not allow.
#pragma once

namespace tern::store::internal::lua {

// KEYS[1] kv key, KEYS[2] kt key; ARGV[1] value, ARGV[2] ttl_ms, ARGV[3] tag
// key prefix, ARGV[4..] tags.
constexpr const char* kPut = R"lua(
local ttl = tonumber(ARGV[2])
for _, t in ipairs(redis.call('SMEMBERS', KEYS[2])) do redis.call('SREM', ARGV[3] .. t, KEYS[1]) end
redis.call('DEL', KEYS[2])
if ttl > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl) else redis.call('SET', KEYS[1], ARGV[1]) end
for i = 4, #ARGV do
  local tk = ARGV[3] .. ARGV[i]
  local cur = redis.call('PTTL', tk)
  redis.call('SADD', tk, KEYS[1])
  redis.call('SADD', KEYS[2], ARGV[i])
  if ttl <= 0 then redis.call('PERSIST', tk)
  elseif cur == -2 or (cur >= 0 and cur < ttl) then redis.call('PEXPIRE', tk, ttl) end
end
if #ARGV >= 4 and ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
)lua";

// KEYS: kv keys to delete; ARGV[1] tag key prefix, ARGV[2] kt prefix,
// ARGV[3] kv prefix. Returns how many entries existed.
constexpr const char* kEraseMany = R"lua(
local n = 0
for _, k in ipairs(KEYS) do
  local kt = ARGV[2] .. string.sub(k, #ARGV[3] + 1)
  for _, t in ipairs(redis.call('SMEMBERS', kt)) do redis.call('SREM', ARGV[1] .. t, k) end
  redis.call('DEL', kt)
  n = n + redis.call('DEL', k)
end
return n
)lua";

// KEYS[1] tag set; ARGV[1] tag key prefix, ARGV[2] the tag, ARGV[3] kt
// prefix, ARGV[4] kv prefix.
constexpr const char* kEraseTag = R"lua(
local n = 0
for _, k in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local kt = ARGV[3] .. string.sub(k, #ARGV[4] + 1)
  if redis.call('SISMEMBER', kt, ARGV[2]) == 1 then
    for _, t in ipairs(redis.call('SMEMBERS', kt)) do
      if t ~= ARGV[2] then redis.call('SREM', ARGV[1] .. t, k) end
    end
    redis.call('DEL', kt)
    n = n + redis.call('DEL', k)
  end
end
redis.call('DEL', KEYS[1])
return n
)lua";

// Exact comparison of int64 sums given as decimal strings: Lua numbers are
// doubles, so values are split into (high, low) parts of 9 decimal digits.
// KEYS: account hashes; ARGV[1] amount, ARGV[1 + i] limit of KEYS[i].
// Returns {1} or {0, i, spent, reserved}.
constexpr const char* kReserve = R"lua(
local function split(s)
  s = tostring(s or '0')
  if #s <= 9 then return 0, tonumber(s) end
  return tonumber(string.sub(s, 1, -10)), tonumber(string.sub(s, -9))
end
local ah, al = split(ARGV[1])
for i, k in ipairs(KEYS) do
  local lim = ARGV[i + 1]
  if string.sub(lim, 1, 1) ~= '-' then
    local v = redis.call('HMGET', k, 'spent', 'reserved')
    local sh, sl = split(v[1])
    local rh, rl = split(v[2])
    local lo = sl + rl + al
    local hi = sh + rh + ah + math.floor(lo / 1e9)
    lo = lo % 1e9
    local lh, ll = split(lim)
    if hi > lh or (hi == lh and lo > ll) then return {0, i, v[1] or '0', v[2] or '0'} end
  end
end
for _, k in ipairs(KEYS) do redis.call('HINCRBY', k, 'reserved', ARGV[1]) end
return {1}
)lua";

// KEYS: account hashes; ARGV[1] -reserved_amount, ARGV[2] actual.
constexpr const char* kSettle = R"lua(
for _, k in ipairs(KEYS) do
  if redis.call('HINCRBY', k, 'reserved', ARGV[1]) < 0 then redis.call('HSET', k, 'reserved', 0) end
  redis.call('HINCRBY', k, 'spent', ARGV[2])
end
return 1
)lua";

// KEYS[1] current window, KEYS[2] previous; ARGV[1] amount, ARGV[2] limit
// (< 0 unlimited), ARGV[3] window_ms, ARGV[4] elapsed ms in the current
// window, ARGV[5] 1 = check, 0 = add unconditionally. Returns {allowed, cur, prev}
// with cur and prev before the add.
constexpr const char* kWindow = R"lua(
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
local amount, limit, w, el = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local est = cur + prev * (w - el) / w
if ARGV[5] == '1' and limit >= 0 and est + amount > limit then return {0, cur, prev} end
redis.call('INCRBY', KEYS[1], amount)
redis.call('PEXPIRE', KEYS[1], 2 * w + 1000)
return {1, cur, prev}
)lua";

// admit(): expired holds released, then windows and accounts, all or nothing.
// KEYS: per window its current and previous key (2n), then the account hashes.
// ARGV[1] n windows, ARGV[2] amount reserved on each account, ARGV[3] now_ms,
// ARGV[4] holds sorted set, ARGV[5] hold hash prefix, ARGV[6] hold id ('' =
// none), ARGV[7] hold expiry; then per window amount, limit (< 0 unlimited),
// window_ms, elapsed ms (4n); then per account its limit ('-…' = unlimited).
// Returns {1}, {0, 'w', i, cur, prev} or {0, 'a', i, spent, reserved}.
constexpr const char* kAdmit = R"lua(
local function split(s)
  s = tostring(s or '0')
  if #s <= 9 then return 0, tonumber(s) end
  return tonumber(string.sub(s, 1, -10)), tonumber(string.sub(s, -9))
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', ARGV[4], '-inf', ARGV[3])) do
  local h = redis.call('HMGET', ARGV[5] .. id, 'amount', 'accounts')
  if h[1] and h[1] ~= '0' then
    for acct in string.gmatch(h[2] or '', '[^\n]+') do
      if redis.call('HINCRBY', acct, 'reserved', '-' .. h[1]) < 0 then redis.call('HSET', acct, 'reserved', 0) end
    end
  end
  redis.call('DEL', ARGV[5] .. id)
  redis.call('ZREM', ARGV[4], id)
end
local n = tonumber(ARGV[1])
for i = 1, n do
  local cur = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local prev = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  local b = 7 + 4 * (i - 1)
  local amount, limit, w, el = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  if limit >= 0 and cur + prev * (w - el) / w + amount > limit then return {0, 'w', i, cur, prev} end
end
local ah, al = split(ARGV[2])
local na = #KEYS - 2 * n
for j = 1, na do
  local lim = ARGV[7 + 4 * n + j]
  if string.sub(lim, 1, 1) ~= '-' then
    local v = redis.call('HMGET', KEYS[2 * n + j], 'spent', 'reserved')
    local sh, sl = split(v[1])
    local rh, rl = split(v[2])
    local lo = sl + rl + al
    local hi = sh + rh + ah + math.floor(lo / 1e9)
    lo = lo % 1e9
    local lh, ll = split(lim)
    if hi > lh or (hi == lh and lo > ll) then return {0, 'a', j, v[1] or '0', v[2] or '0'} end
  end
end
for i = 1, n do
  local b = 7 + 4 * (i - 1)
  redis.call('INCRBY', KEYS[2 * i - 1], ARGV[b + 1])
  redis.call('PEXPIRE', KEYS[2 * i - 1], 2 * tonumber(ARGV[b + 3]) + 1000)
end
local held = {}
for j = 1, na do
  redis.call('HINCRBY', KEYS[2 * n + j], 'reserved', ARGV[2])
  held[#held + 1] = KEYS[2 * n + j]
end
if ARGV[6] ~= '' then
  redis.call('HSET', ARGV[5] .. ARGV[6], 'amount', ARGV[2], 'accounts', table.concat(held, '\n'))
  redis.call('ZADD', ARGV[4], ARGV[7], ARGV[6])
end
return {1}
)lua";

// finish(): settle + window adjustments + ledger row.
// KEYS: the account hashes (na), the windows' current keys (nw), the ledger.
// ARGV[1] na, ARGV[2] nw, ARGV[3] -reserved_amount, ARGV[4] actual, then per
// window amount and window_ms (2 nw), then the row's score and member ('' =
// no row), the hold id ('' = none), the holds sorted set, the hold hash prefix.
// With a hold id, reserved is given back only if the hold still exists.
constexpr const char* kFinish = R"lua(
local na, nw = tonumber(ARGV[1]), tonumber(ARGV[2])
local m = 4 + 2 * nw
local give = true
if ARGV[m + 3] ~= '' then
  give = redis.call('DEL', ARGV[m + 5] .. ARGV[m + 3]) == 1
  redis.call('ZREM', ARGV[m + 4], ARGV[m + 3])
end
for j = 1, na do
  if give and redis.call('HINCRBY', KEYS[j], 'reserved', ARGV[3]) < 0 then redis.call('HSET', KEYS[j], 'reserved', 0) end
  redis.call('HINCRBY', KEYS[j], 'spent', ARGV[4])
end
for i = 1, nw do
  local k = KEYS[na + i]
  redis.call('INCRBY', k, ARGV[4 + 2 * i - 1])
  redis.call('PEXPIRE', k, 2 * tonumber(ARGV[4 + 2 * i]) + 1000)
end
if ARGV[m + 2] ~= '' then redis.call('ZADD', KEYS[na + nw + 1], ARGV[m + 1], ARGV[m + 2]) end
return 1
)lua";

}  // namespace tern::store::internal::lua
