-- take.lua: GCRA over every limit of one key, all or nothing, for one or more takes in order.
--
-- KEYS[1] -> the key's limiter hash: field "b" is the pause (µs) set by block.lua; for each
--            limit, fields "<requests>:<per_us>:<burst>:t" and ":r" hold its theoretical arrival
--            time in whole µs and the fraction of a µs in units of 1/requests.
-- ARGV[1] -> now in µs, or "0" to read Redis TIME (the one clock of the fleet)
-- ARGV[2] -> L, the number of limits
-- ARGV[3 .. 2+3L] -> per limit: requests, per_us, burst (validated by the caller; burst ≥ 1)
-- ARGV[3+3L] -> "1" to refuse every take after the first refusal (a waiting line's order),
--               "0" to decide each take on its own, in order, as successive calls would
-- ARGV[4+3L ..] -> the costs, one per take (each ≥ 0 and ≤ every burst)
-- returns -> for each take, four integers: allowed (1/0), remaining tokens, retry_after_us
--            (0 when allowed), reset_after_us
--
-- The hash expires once every bucket would be full again (an expiry is extended, never shortened,
-- so limits taken by other calls keep their state). Under a clock override (tests) the
-- expiry is at least ten minutes of real time, since the override's time need not pass at all.

local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local nl = tonumber(ARGV[2])
local ordered = ARGV[3 + 3 * nl] == '1'
local first_cost = 4 + 3 * nl

-- floor division and remainder that stay exact for integers below 2^53
local function divmod(a, b)
  local q = math.floor(a / b)
  local r = a - q * b
  if r < 0 then q, r = q - 1, r + b elseif r >= b then q, r = q + 1, r - b end
  return q, r
end

local function ceil_div(a, b)
  local q, r = divmod(a, b)
  if r > 0 then q = q + 1 end
  return q
end

local fields = {'b'}
local lim = {}
for i = 1, nl do
  local r, p, b = tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2])
  local id = ARGV[3 * i] .. ':' .. ARGV[3 * i + 1] .. ':' .. ARGV[3 * i + 2]
  lim[i] = {r = r, p = p, cap = b * p, tf = id .. ':t', rf = id .. ':r'}
  fields[#fields + 1] = lim[i].tf
  fields[#fields + 1] = lim[i].rf
end
local vals = redis.call('HMGET', KEYS[1], unpack(fields))
local blocked = tonumber(vals[1]) or 0
for i = 1, nl do
  lim[i].tat = tonumber(vals[2 * i]) or 0
  lim[i].rem = tonumber(vals[2 * i + 1]) or 0
end

local out = {}
local changed = false
local refused_wait = nil
for c = first_cost, #ARGV do
  local n = tonumber(ARGV[c])
  local ok, wait = true, 0
  for i = 1, nl do
    local l = lim[i]
    local bt, br = l.tat, l.rem
    if bt < now then bt, br = now, 0 end
    l.bt, l.br = bt, br
    local q, r = divmod(n * l.p, l.r)
    local nt, nr = bt + q, br + r
    if nr >= l.r then nt, nr = nt + 1, nr - l.r end
    local ahead = (nt - now) * l.r + nr
    if ahead <= l.cap then
      l.nt, l.nr, l.ahead = nt, nr, ahead
    else
      ok = false
      local lwait = ceil_div(ahead - l.cap, l.r)
      if lwait > wait then wait = lwait end
    end
  end
  if blocked > now then
    ok = false
    if blocked - now > wait then wait = blocked - now end
  end
  if ordered and refused_wait then
    ok = false
    if refused_wait > wait then wait = refused_wait end
  end
  local remaining, reset = -1, 0
  for i = 1, nl do
    local l = lim[i]
    local rem, rst
    if ok then
      rem, rst = (divmod(l.cap - l.ahead, l.p)), ceil_div(l.ahead, l.r)
    else
      local held = (l.bt - now) * l.r + l.br
      rem, rst = math.max(0, (divmod(l.cap - held, l.p))), ceil_div(held, l.r)
    end
    if remaining < 0 or rem < remaining then remaining = rem end
    if rst > reset then reset = rst end
  end
  if blocked > now then remaining = 0 end
  if ok then
    for i = 1, nl do
      local l = lim[i]
      l.tat, l.rem = l.nt, l.nr
    end
    changed = true
  else
    if wait == 0 then wait = 1 end
    refused_wait = refused_wait or wait
  end
  local o = #out
  out[o + 1] = ok and 1 or 0
  out[o + 2] = remaining
  out[o + 3] = wait
  out[o + 4] = reset
end

if changed then
  local kv = {}
  local keep = 0
  for i = 1, nl do
    local l = lim[i]
    kv[#kv + 1] = l.tf
    kv[#kv + 1] = string.format('%d', l.tat)
    kv[#kv + 1] = l.rf
    kv[#kv + 1] = string.format('%d', l.rem)
    local ahead = l.tat - now + 1
    if ahead > keep then keep = ahead end
  end
  redis.call('HSET', KEYS[1], unpack(kv))
  if blocked - now > keep then keep = blocked - now end
  -- Idle keys expire once every bucket is full again: forgetting them then changes nothing.
  -- Never shorten the expiry: a take under other limits (or a pause) may need the hash longer
  -- than the limits of this call do.
  local ttl = ceil_div(keep, 1000) + 1000
  if ARGV[1] ~= '0' and ttl < 600000 then ttl = 600000 end
  if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
end
return out
