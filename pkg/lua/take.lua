-- take.lua: GCRA over every limit of a key, all or nothing, for one or more takes in order, on one
-- key or several (the takes of many keys that one process makes at once, in one call).
--
-- KEYS[1] -> a key's limiter hash: field "b" is the pause (µs) set by block.lua, field "x" the
--            hash's expiry (µs) as last set by this script or block.lua, field "L" the learned
--            paces (see learn.lua: honoured here, charged, and recovered); each limit keeps its
--            theoretical arrival time in whole µs, and the fraction of a µs in units of
--            1/requests, in two fields named by the caller. KEYS[2] and on, when given, are
--            further keys, each decided as a call of its own would decide it, in order (a key
--            may come twice, under two sets of limits)
-- ARGV[1] -> now in µs, or "0" to read Redis TIME (the one clock of the fleet)
-- ARGV[2 ..] -> one block for each key, in the order of KEYS:
--            L, the number of limits;
--            per limit: requests, per_us, burst (validated by the caller; burst ≥ 1), and the
--            names of its two fields ("<requests>:<per_us>:<burst>:t" and ":r");
--            "1" to refuse every take after the first refusal (a waiting line's order), "0" to
--            decide each take on its own, in order, as successive calls would;
--            T, the number of takes; then T costs (each ≥ 0 and ≤ every burst)
-- returns -> for each take, key after key, five integers: allowed (1/0), remaining tokens,
--            retry_after_us (0 when allowed), reset_after_us, and the request pace's interval in
--            µs after the take (0 when no pace is in force)
--
-- A hash expires between one and two seconds after every bucket would be full again and any
-- pause is over. The expiry is moved (to two seconds past that point) only when the one recorded
-- in "x" falls short of one second past it: a busy key costs one PEXPIRE a second, not one a
-- take, and an expiry is never shortened, so limits taken by other calls keep their state. Under
-- a clock override (tests) the expiry is at least ten minutes of real time, since the override's
-- time need not pass at all.
--
-- Every rate-limit decision of the fleet runs this script, so it is kept lean: three calls a key
-- (TIME once, HMGET, HSET), no string building, and the per-limit state in one flat array. Lua
-- numbers reach Redis as exact integers (they stay below 2^53), so no string.format either.

local now = tonumber(ARGV[1])
local override = now ~= 0
if not override then
  local t = redis.call('TIME')
  now = t[1] * 1000000 + t[2]
end
local floor, ceil = math.floor, math.ceil

-- The slots, by name. Each layout is made of blocks, a block named by its base (the index just
-- before its first slot): slot X of the block at b is b + X. Lua 5.1 takes a local as an index
-- or an operand of + exactly as it takes a literal, so the names cost nothing in the loops; only
-- active, a closure, reads its two offsets as upvalues.
--
-- ARGV: now, then a key's block from b: the number of limits at b, then LIMIT_ARGS a limit,
-- limit i's from a = b + LIMIT_ARGS * (i - 1), then the ordered flag, the number of takes and
-- the costs.
local LIMIT_ARGS = 5
local A_REQUESTS, A_PER, A_BURST, A_TAT_FIELD, A_FRAC_FIELD = 1, 2, 3, 4, 5
-- HMGET's fields, and so its reply: the pause "b", the expiry "x" and the learned state "L", then
-- LIMIT_FIELDS a limit (its TAT's, its fraction's), limit i's from
-- v = FIELDS_AT + LIMIT_FIELDS * (i - 1).
local V_PAUSE, V_EXPIRY, V_LEARNED = 1, 2, 3
local FIELDS_AT, LIMIT_FIELDS = 3, 2
local F_TAT, F_FRAC = 1, 2
-- S, the state of the limits: STATE numbers a limit, limit i's from s = STATE * (i - 1). Five
-- are the limit's: its rate (requests), period (µs), capacity (burst * period) and the TAT and
-- fraction it holds. Five are the take's: the base it starts from (the held TAT and fraction,
-- or now and 0 when they are past), the TAT and fraction it would leave, and its lead then,
-- (TAT - now) in units of 1/rate µs: what the bucket would hold.
local STATE = 10
local RATE, PERIOD, CAP, TAT, FRAC = 1, 2, 3, 4, 5
local BASE_TAT, BASE_FRAC, NEW_TAT, NEW_FRAC, NEW_LEAD = 6, 7, 8, 9, 10
-- L, the learned state (learn.lua's layout): two paces of PACE numbers, the request pace's from
-- REQUEST and the unit pace's from UNIT, each its interval (µs), burst, end (µs, or 0 for none)
-- and TAT (µs); then the request pace's recovering rate and its step (per µs), the last cut
-- (µs, 0 for none), the takes admitted since it, and the number of cuts (which this script only
-- writes back).
local PACE, REQUEST, UNIT = 4, 0, 4
local P_IV, P_BURST, P_UNTIL, P_TAT = 1, 2, 3, 4
local REQ_IV, REQ_BURST = REQUEST + P_IV, REQUEST + P_BURST
local REQ_UNTIL, REQ_TAT = REQUEST + P_UNTIL, REQUEST + P_TAT
local UNIT_UNTIL, UNIT_TAT = UNIT + P_UNTIL, UNIT + P_TAT
local RECOVER_RATE, RECOVER_STEP, LAST_CUT, SINCE_CUT = 9, 10, 11, 12

-- floor division and remainder that stay exact for integers below 2^53
local function divmod(a, b)
  local q = floor(a / b)
  local r = a - q * b
  if r < 0 then q, r = q - 1, r + b elseif r >= b then q, r = q + 1, r - b end
  return q, r
end

local out, o = {}, 0

-- take decides the takes of KEYS[k], whose block of arguments starts at ARGV[b], adds their
-- answers to out, and returns where the next key's block starts.
local function take(k, b)
  local nl = tonumber(ARGV[b])
  local ordered_at = b + LIMIT_ARGS * nl + 1
  local ordered = ARGV[ordered_at] == '1'
  local first_cost = ordered_at + 2
  local last_cost = ordered_at + 1 + tonumber(ARGV[ordered_at + 1])

  -- With one limit (the common case) its two field names go straight into the calls, without a
  -- table to unpack.
  local ft1, fr1 = ARGV[b + A_TAT_FIELD], ARGV[b + A_FRAC_FIELD]
  local vals
  if nl == 1 then
    vals = redis.call('HMGET', KEYS[k], 'b', 'x', 'L', ft1, fr1)
  else
    local f = {'b', 'x', 'L'}
    for i = 1, nl do
      local a, v = b + LIMIT_ARGS * (i - 1), FIELDS_AT + LIMIT_FIELDS * (i - 1)
      f[v + F_TAT], f[v + F_FRAC] = ARGV[a + A_TAT_FIELD], ARGV[a + A_FRAC_FIELD]
    end
    vals = redis.call('HMGET', KEYS[k], unpack(f))
  end
  local blocked = tonumber(vals[V_PAUSE]) or 0
  local expires = tonumber(vals[V_EXPIRY]) or 0

  -- The learned paces, when a server said something. PT holds the TAT each pace would have after
  -- the take, at the pace's own P_TAT.
  local L, PT, active = nil, nil, nil
  if vals[V_LEARNED] then
    L, PT = {}, {0, 0, 0, 0, 0, 0, 0, 0}
    for w in string.gmatch(vals[V_LEARNED], '%S+') do L[#L + 1] = tonumber(w) end
    -- whether the pace from j (REQUEST or UNIT) is in force (made only for a key that has paces)
    active = function(j) return L[j + P_IV] > 0 and (L[j + P_UNTIL] == 0 or now < L[j + P_UNTIL]) end
  end

  -- S starts sized for one limit.
  local S = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
  for i = 1, nl do
    local a, v = b + LIMIT_ARGS * (i - 1), FIELDS_AT + LIMIT_FIELDS * (i - 1)
    local s = STATE * (i - 1)
    local r, p = tonumber(ARGV[a + A_REQUESTS]), tonumber(ARGV[a + A_PER])
    S[s + RATE], S[s + PERIOD], S[s + CAP] = r, p, tonumber(ARGV[a + A_BURST]) * p
    S[s + TAT], S[s + FRAC] = tonumber(vals[v + F_TAT]) or 0, tonumber(vals[v + F_FRAC]) or 0
  end

  local changed = false
  local refused_wait = nil
  -- The common case, one limit and no pace or pause, is the loop below on locals: the same steps
  -- and the same figures, without the per-limit tables, and the cost's share of the period
  -- computed once for a run of equal costs.
  if nl == 1 and not L and blocked <= now then
    local r, p, cap, tat, fr = S[RATE], S[PERIOD], S[CAP], S[TAT], S[FRAC]
    local lastn, q, qr = -1, 0, 0
    for c = first_cost, last_cost do
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
    S[TAT], S[FRAC] = tat, fr
  else
    for c = first_cost, last_cost do
      local n = tonumber(ARGV[c])
      local ok, wait = true, 0
      for s = 0, STATE * nl - 1, STATE do
        local r, p = S[s + RATE], S[s + PERIOD]
        local bt, br = S[s + TAT], S[s + FRAC]
        if bt < now then bt, br = now, 0 end
        S[s + BASE_TAT], S[s + BASE_FRAC] = bt, br
        local q, rr = divmod(n * p, r)
        local nt, nr = bt + q, br + rr
        if nr >= r then nt, nr = nt + 1, nr - r end
        local ahead = (nt - now) * r + nr
        if ahead <= S[s + CAP] then
          S[s + NEW_TAT], S[s + NEW_FRAC], S[s + NEW_LEAD] = nt, nr, ahead
        else
          ok = false
          local lw, m = divmod(ahead - S[s + CAP], r)
          if m > 0 then lw = lw + 1 end
          if lw > wait then wait = lw end
        end
      end
      -- The paces: plain GCRA in whole µs, the request pace charged one per take, the unit pace
      -- the take's cost; the tokens they leave count in remaining.
      local prem = -1
      if L then
        for j = REQUEST, UNIT, PACE do
          if active(j) then
            local iv, c = L[j + P_IV], n
            if j == REQUEST and n > 0 then c = 1 end
            -- never more than the burst: a pace never refuses for good
            if c > L[j + P_BURST] then c = L[j + P_BURST] end
            local base = L[j + P_TAT]
            if base < now then base = now end
            local tat = base + c * iv
            local room = L[j + P_BURST] * iv - (tat - now)
            if room < 0 then
              ok = false
              if -room > wait then wait = -room end
              room = L[j + P_BURST] * iv - (base - now)
            end
            PT[j + P_TAT] = tat
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
      for s = 0, STATE * nl - 1, STATE do
        local r, p = S[s + RATE], S[s + PERIOD]
        local held
        if ok then
          held = S[s + NEW_LEAD]
        else
          held = (S[s + BASE_TAT] - now) * r + S[s + BASE_FRAC]
        end
        local rem = divmod(S[s + CAP] - held, p)
        if rem < 0 then rem = 0 end
        local rst, m = divmod(held, r)
        if m > 0 then rst = rst + 1 end
        if remaining < 0 or rem < remaining then remaining = rem end
        if rst > reset then reset = rst end
      end
      if blocked > now then remaining = 0 end
      if ok then
        for s = 0, STATE * nl - 1, STATE do
          S[s + TAT], S[s + FRAC] = S[s + NEW_TAT], S[s + NEW_FRAC]
        end
        changed = true
        if L then
          if active(REQUEST) then
            L[REQ_TAT] = PT[REQ_TAT]
            if L[REQ_UNTIL] == 0 and L[RECOVER_STEP] > 0 and n > 0 then
              -- Additive recovery, ended once back at the strictest configured limit.
              L[RECOVER_RATE] = L[RECOVER_RATE] + L[RECOVER_STEP]
              local ceiling = 0
              for s = 0, STATE * nl - 1, STATE do
                local iv = ceil(S[s + PERIOD] / S[s + RATE])
                if iv > ceiling then ceiling = iv end
              end
              if L[RECOVER_RATE] * ceiling >= 1 - 1e-9 then
                L[REQ_IV], L[REQ_BURST], L[REQ_TAT] = 0, 0, 0
              else
                L[REQ_IV] = ceil(1 / L[RECOVER_RATE])
              end
            end
          end
          if active(UNIT) then L[UNIT_TAT] = PT[UNIT_TAT] end
          -- takes since the last cut; a take of nothing is a read
          if L[LAST_CUT] > 0 and n > 0 then L[SINCE_CUT] = L[SINCE_CUT] + 1 end
        end
      else
        if wait == 0 then wait = 1 end
        refused_wait = refused_wait or wait
      end
      local paced = 0
      if L and active(REQUEST) then paced = L[REQ_IV] end
      out[o + 1], out[o + 2], out[o + 3], out[o + 4], out[o + 5] = ok and 1 or 0, remaining, wait, reset, paced
      o = o + 5
    end
  end

  if changed then
    local keep = blocked - now
    for s = 0, STATE * nl - 1, STATE do
      local ahead = S[s + TAT] - now + 1
      if ahead > keep then keep = ahead end
    end
    if L then
      -- The learned state lasts while a pace is in force and a minute past the last cut.
      local ends = {L[REQ_UNTIL], L[REQ_TAT], L[UNIT_UNTIL], L[UNIT_TAT], L[LAST_CUT] + 60000000}
      for _, t in ipairs(ends) do
        if t - now > keep then keep = t - now end
      end
    end
    local ttl = 0
    if expires < now + keep + 1000000 then
      local q, m = divmod(keep, 1000)
      if m > 0 then q = q + 1 end
      ttl = q + 2000
      if override and ttl < 600000 then ttl = 600000 end
    end
    if nl == 1 and not L then
      if ttl > 0 then
        redis.call('HSET', KEYS[k], ft1, S[TAT], fr1, S[FRAC], 'x', now + ttl * 1000)
        redis.call('PEXPIRE', KEYS[k], ttl)
      else
        redis.call('HSET', KEYS[k], ft1, S[TAT], fr1, S[FRAC])
      end
    else
      local kv = {}
      for i = 1, nl do
        local a, s = b + LIMIT_ARGS * (i - 1), STATE * (i - 1)
        kv[4 * i - 3], kv[4 * i - 2] = ARGV[a + A_TAT_FIELD], S[s + TAT]
        kv[4 * i - 1], kv[4 * i] = ARGV[a + A_FRAC_FIELD], S[s + FRAC]
      end
      if ttl > 0 then kv[#kv + 1], kv[#kv + 2] = 'x', now + ttl * 1000 end
      if L then
        kv[#kv + 1], kv[#kv + 2] = 'L', string.format('%d %d %d %d %d %d %d %d %.17g %.17g %d %d %d', unpack(L))
      end
      redis.call('HSET', KEYS[k], unpack(kv))
      if ttl > 0 then redis.call('PEXPIRE', KEYS[k], ttl) end
    end
  end
  return last_cost + 1
end

local b = 2
for k = 1, #KEYS do b = take(k, b) end
return out
