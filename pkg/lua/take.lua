-- take.lua: GCRA over every limit of one key, all or nothing, for one or more takes in order.
--
-- KEYS[1] -> the key's limiter hash: field "b" is the pause (µs) set by block.lua, field "x" the
--            hash's expiry (µs) as last set by this script or block.lua, field "L" the learned
--            paces (see learn.lua: honoured here, charged, and recovered); each limit keeps its
--            theoretical arrival time in whole µs, and the fraction of a µs in units of
--            1/requests, in two fields named by the caller
-- ARGV[1] -> now in µs, or "0" to read Redis TIME (the one clock of the fleet)
-- ARGV[2] -> L, the number of limits
-- ARGV[3 .. 2+5L] -> per limit: requests, per_us, burst (validated by the caller; burst ≥ 1), and
--            the names of its two fields ("<requests>:<per_us>:<burst>:t" and ":r")
-- ARGV[3+5L] -> "1" to refuse every take after the first refusal (a waiting line's order),
--               "0" to decide each take on its own, in order, as successive calls would
-- ARGV[4+5L ..] -> the costs, one per take (each ≥ 0 and ≤ every burst)
-- returns -> for each take, five integers: allowed (1/0), remaining tokens, retry_after_us
--            (0 when allowed), reset_after_us, and the request pace's interval in µs after the
--            take (0 when no pace is in force)
--
-- The hash expires between one and two seconds after every bucket would be full again and any
-- pause is over. The expiry is moved (to two seconds past that point) only when the one recorded
-- in "x" falls short of one second past it: a busy key costs one PEXPIRE a second, not one a
-- take, and an expiry is never shortened, so limits taken by other calls keep their state. Under
-- a clock override (tests) the expiry is at least ten minutes of real time, since the override's
-- time need not pass at all.
--
-- Every rate-limit decision of the fleet runs this script, so it is kept lean: three calls
-- (TIME, HMGET, HSET), no string building, and the per-limit state in one flat array. Lua
-- numbers reach Redis as exact integers (they stay below 2^53), so no string.format either.

local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = t[1] * 1000000 + t[2]
end
local floor, ceil = math.floor, math.ceil
local nl = tonumber(ARGV[2])
local ordered = ARGV[3 + 5 * nl] == '1'
local first_cost = 4 + 5 * nl

-- floor division and remainder that stay exact for integers below 2^53
local function divmod(a, b)
  local q = floor(a / b)
  local r = a - q * b
  if r < 0 then q, r = q - 1, r + b elseif r >= b then q, r = q + 1, r - b end
  return q, r
end

-- With one limit (the common case) its two field names, the fourth and fifth of its arguments,
-- go straight into the calls, without a table to unpack.
local ft1, fr1 = ARGV[5 * 1 + 1], ARGV[5 * 1 + 2]
local vals
if nl == 1 then
  vals = redis.call('HMGET', KEYS[1], 'b', 'x', 'L', ft1, fr1)
else
  local f = {'b', 'x', 'L'}
  for i = 1, nl do f[2 * i + 2], f[2 * i + 3] = ARGV[5 * i + 1], ARGV[5 * i + 2] end
  vals = redis.call('HMGET', KEYS[1], unpack(f))
end
local blocked = tonumber(vals[1]) or 0
local expires = tonumber(vals[2]) or 0

-- The learned paces, when a server said something (the field's layout is learn.lua's): L[1..4]
-- the request pace (interval µs, burst, until µs or 0, TAT), L[5..8] the unit pace, then the
-- recovering rate and its step (per µs), the last cut (µs), takes admitted since, and cuts.
local L, PT, active = nil, nil, nil
if vals[3] then
  L, PT = {}, {0, 0, 0, 0, 0, 0, 0, 0}
  for w in string.gmatch(vals[3], '%S+') do L[#L + 1] = tonumber(w) end
  -- whether the pace at L[j+1..j+4] is in force (made only for a key that has paces)
  active = function(j) return L[j + 1] > 0 and (L[j + 3] == 0 or now < L[j + 3]) end
end

-- S holds ten numbers per limit from s = 10(i-1): rate, period, capacity, TAT, fraction, then per
-- take the bucket's base (TAT, fraction), the new TAT and fraction if admitted, and its lead.
local S = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
for i = 1, nl do
  local a, s = 5 * i - 2, 10 * (i - 1)
  local r, p = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  S[s + 1], S[s + 2], S[s + 3] = r, p, tonumber(ARGV[a + 2]) * p
  S[s + 4], S[s + 5] = tonumber(vals[2 * i + 2]) or 0, tonumber(vals[2 * i + 3]) or 0
end

local out, o = {}, 0
local changed = false
local refused_wait = nil
-- The common case, one limit and no pace or pause, is the loop below on locals: the same steps
-- and the same figures, without the per-limit tables, and the cost's share of the period
-- computed once for a run of equal costs.
if nl == 1 and not L and blocked <= now then
  local r, p, cap, tat, fr = S[1], S[2], S[3], S[4], S[5]
  local lastn, q, qr = -1, 0, 0
  for c = first_cost, #ARGV do
    local n = tonumber(ARGV[c])
    if n ~= lastn then lastn, q, qr = n, divmod(n * p, r) end
    local bt, br = tat, fr
    if bt < now then bt, br = now, 0 end
    local nt, nr = bt + q, br + qr
    if nr >= r then nt, nr = nt + 1, nr - r end
    local ahead = (nt - now) * r + nr
    local ok, wait, held = true, 0, ahead
    if ahead > cap then
      ok = false
      local lw, m = divmod(ahead - cap, r)
      if m > 0 then lw = lw + 1 end
      wait = lw
    end
    if ordered and refused_wait then
      ok = false
      if refused_wait > wait then wait = refused_wait end
    end
    if not ok then held = (bt - now) * r + br end
    -- divmod, inlined: remaining = floor((cap - held) / p), reset = ceil(held / r)
    local remaining = floor((cap - held) / p)
    local m = cap - held - remaining * p
    if m < 0 then remaining = remaining - 1 elseif m >= p then remaining = remaining + 1 end
    if remaining < 0 then remaining = 0 end
    local reset = floor(held / r)
    m = held - reset * r
    if m < 0 then reset, m = reset - 1, m + r elseif m >= r then reset, m = reset + 1, m - r end
    if m > 0 then reset = reset + 1 end
    if ok then
      tat, fr, changed = nt, nr, true
    else
      if wait == 0 then wait = 1 end
      refused_wait = refused_wait or wait
    end
    out[o + 1], out[o + 2], out[o + 3], out[o + 4], out[o + 5] = ok and 1 or 0, remaining, wait, reset, 0
    o = o + 5
  end
  S[4], S[5] = tat, fr
else
  for c = first_cost, #ARGV do
    local n = tonumber(ARGV[c])
    local ok, wait = true, 0
    for s = 0, 10 * nl - 1, 10 do
      local r, p = S[s + 1], S[s + 2]
      local bt, br = S[s + 4], S[s + 5]
      if bt < now then bt, br = now, 0 end
      S[s + 6], S[s + 7] = bt, br
      local q, rr = divmod(n * p, r)
      local nt, nr = bt + q, br + rr
      if nr >= r then nt, nr = nt + 1, nr - r end
      local ahead = (nt - now) * r + nr
      if ahead <= S[s + 3] then
        S[s + 8], S[s + 9], S[s + 10] = nt, nr, ahead
      else
        ok = false
        local lw, m = divmod(ahead - S[s + 3], r)
        if m > 0 then lw = lw + 1 end
        if lw > wait then wait = lw end
      end
    end
    -- The paces: plain GCRA in whole µs, the request pace charged one per take, the unit pace
    -- the take's cost; the tokens they leave count in remaining.
    local prem = -1
    if L then
      for j = 0, 4, 4 do
        if active(j) then
          local iv, c = L[j + 1], n
          if j == 0 and n > 0 then c = 1 end
          if c > L[j + 2] then c = L[j + 2] end -- never more than the burst: a pace never refuses for good
          local base = L[j + 4]
          if base < now then base = now end
          local tat = base + c * iv
          local room = L[j + 2] * iv - (tat - now)
          if room < 0 then
            ok = false
            if -room > wait then wait = -room end
            room = L[j + 2] * iv - (base - now)
          end
          PT[j + 4] = tat
          local rem = floor(room / iv)
          if rem < 0 then rem = 0 end
          if prem < 0 or rem < prem then prem = rem end
        end
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
    local remaining, reset = prem, 0
    for s = 0, 10 * nl - 1, 10 do
      local r, p = S[s + 1], S[s + 2]
      local held
      if ok then held = S[s + 10] else held = (S[s + 6] - now) * r + S[s + 7] end
      local rem = divmod(S[s + 3] - held, p)
      if rem < 0 then rem = 0 end
      local rst, m = divmod(held, r)
      if m > 0 then rst = rst + 1 end
      if remaining < 0 or rem < remaining then remaining = rem end
      if rst > reset then reset = rst end
    end
    if blocked > now then remaining = 0 end
    if ok then
      for s = 0, 10 * nl - 1, 10 do
        S[s + 4], S[s + 5] = S[s + 8], S[s + 9]
      end
      changed = true
      if L then
        if active(0) then
          L[4] = PT[4]
          if L[3] == 0 and L[10] > 0 and n > 0 then
            -- Additive recovery, ended once back at the strictest configured limit.
            L[9] = L[9] + L[10]
            local ceiling = 0
            for s = 0, 10 * nl - 1, 10 do
              local iv = ceil(S[s + 2] / S[s + 1])
              if iv > ceiling then ceiling = iv end
            end
            if L[9] * ceiling >= 1 - 1e-9 then
              L[1], L[2], L[4] = 0, 0, 0
            else
              L[1] = ceil(1 / L[9])
            end
          end
        end
        if active(4) then L[8] = PT[8] end
        if L[11] > 0 and n > 0 then L[12] = L[12] + 1 end -- a take of nothing is a read
      end
    else
      if wait == 0 then wait = 1 end
      refused_wait = refused_wait or wait
    end
    local paced = 0
    if L and active(0) then paced = L[1] end
    out[o + 1], out[o + 2], out[o + 3], out[o + 4], out[o + 5] = ok and 1 or 0, remaining, wait, reset, paced
    o = o + 5
  end
end

if changed then
  local keep = blocked - now
  for s = 0, 10 * nl - 1, 10 do
    local ahead = S[s + 4] - now + 1
    if ahead > keep then keep = ahead end
  end
  if L then
    -- The learned state lasts while a pace is in force and a minute past the last cut.
    for _, t in ipairs({L[3], L[4], L[7], L[8], L[11] + 60000000}) do
      if t - now > keep then keep = t - now end
    end
  end
  local ttl = 0
  if expires < now + keep + 1000000 then
    local q, m = divmod(keep, 1000)
    if m > 0 then q = q + 1 end
    ttl = q + 2000
    if ARGV[1] ~= '0' and ttl < 600000 then ttl = 600000 end
  end
  if nl == 1 and not L then
    if ttl > 0 then
      redis.call('HSET', KEYS[1], ft1, S[4], fr1, S[5], 'x', now + ttl * 1000)
      redis.call('PEXPIRE', KEYS[1], ttl)
    else
      redis.call('HSET', KEYS[1], ft1, S[4], fr1, S[5])
    end
  else
    local kv = {}
    for i = 1, nl do
      local s = 10 * (i - 1)
      kv[4 * i - 3], kv[4 * i - 2], kv[4 * i - 1], kv[4 * i] = ARGV[5 * i + 1], S[s + 4], ARGV[5 * i + 2], S[s + 5]
    end
    if ttl > 0 then kv[#kv + 1], kv[#kv + 2] = 'x', now + ttl * 1000 end
    if L then
      kv[#kv + 1], kv[#kv + 2] = 'L', string.format('%d %d %d %d %d %d %d %d %.17g %.17g %d %d %d', unpack(L))
    end
    redis.call('HSET', KEYS[1], unpack(kv))
    if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
  end
end
return out
