-- breaker.lua: one circuit breaker's transitions, each call one atomic step.
--
-- KEYS[1] -> the breaker's hash, which expires once idle (see save): s state (0 closed, 1 open,
--            2 half-open), g generation, c consecutive failures, t trips since closed, u open
--            until (µs), p probes in flight, ps when the last probe was granted (µs), k probe
--            successes, and the rolling window's slices w<j>i (slice index), w<j>c (calls),
--            w<j>f (failures) for j = 0..9
-- ARGV[1] -> now in µs, or "0" to read Redis TIME
-- ARGV[2] -> the operation: "acquire", "record" or "status"
-- ARGV[3] -> consecutive failures that trip (≤ 0 disables the rule)
-- ARGV[4] -> failure rate that trips, as a decimal (0 disables the rule)
-- ARGV[5] -> window in µs (a multiple of 10)
-- ARGV[6] -> minimum calls in the window before the rate applies
-- ARGV[7] -> open timeout in µs
-- ARGV[8] -> maximum open timeout in µs (0 or ≤ ARGV[7]: no growth)
-- ARGV[9] -> half-open probes in flight at most
-- ARGV[10] -> probe successes that close
-- ARGV[11] -> record: the permit's generation; ARGV[12] -> record: 0 success, 1 failure, 2 ignored
-- returns -> acquire: {allowed, state, generation, retry_after_us, changed}
--            record and status: {state, generation, changed, stale, consecutive, calls,
--            failures, trips, probes, retry_after_us}

local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local op = ARGV[2]
local cf, rate, window = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local min_calls, open_us, max_open = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local max_probes, need = tonumber(ARGV[9]), tonumber(ARGV[10])
local SLICES = 10
local IDLE = 86400000000 -- a day in µs: see save
local slice = window / SLICES

local raw = redis.call('HGETALL', KEYS[1])
local h = {}
for i = 1, #raw, 2 do h[raw[i]] = tonumber(raw[i + 1]) end
local st = {s = h.s or 0, g = h.g or 0, c = h.c or 0, t = h.t or 0, u = h.u or 0,
            p = h.p or 0, ps = h.ps or 0, k = h.k or 0}
local win = {}
for j = 0, SLICES - 1 do
  win[j] = {i = h['w' .. j .. 'i'] or 0, c = h['w' .. j .. 'c'] or 0, f = h['w' .. j .. 'f'] or 0}
end
local dirty = false

local function fmt(x) return string.format('%d', x) end

local function save()
  local kv = {'s', fmt(st.s), 'g', fmt(st.g), 'c', fmt(st.c), 't', fmt(st.t), 'u', fmt(st.u),
              'p', fmt(st.p), 'ps', fmt(st.ps), 'k', fmt(st.k)}
  for j = 0, SLICES - 1 do
    kv[#kv + 1] = 'w' .. j .. 'i'; kv[#kv + 1] = fmt(win[j].i)
    kv[#kv + 1] = 'w' .. j .. 'c'; kv[#kv + 1] = fmt(win[j].c)
    kv[#kv + 1] = 'w' .. j .. 'f'; kv[#kv + 1] = fmt(win[j].f)
  end
  redis.call('HSET', KEYS[1], unpack(kv))
  -- The hash outlives all it remembers (the open period and the longest it may grow to, a
  -- window) by a day: a breaker idle longer than that starts afresh, closed, and its key is gone.
  local keep = math.max(st.u - now, 0) + math.max(open_us, max_open) + window + IDLE
  redis.call('PEXPIRE', KEYS[1], string.format('%d', math.ceil(keep / 1000)))
end

local function clear_window()
  for j = 0, SLICES - 1 do win[j] = {i = 0, c = 0, f = 0} end
end

local function sum()
  local idx = math.floor(now / slice)
  local calls, fails = 0, 0
  for j = 0, SLICES - 1 do
    local s = win[j]
    if s.i <= idx and idx - s.i < SLICES then
      calls, fails = calls + s.c, fails + s.f
    end
  end
  return calls, fails
end

local function count(failed)
  local idx = math.floor(now / slice)
  local s = win[idx % SLICES]
  if s.i ~= idx then
    s = {i = idx, c = 0, f = 0}
    win[idx % SLICES] = s
  end
  s.c = s.c + 1
  if failed then s.f = s.f + 1 end
end

local function open_for(trips)
  local d = open_us
  if max_open <= open_us then return d end
  local i = 1
  while i < trips and d < max_open do
    d = d * 2
    i = i + 1
  end
  if d > max_open then d = max_open end
  return d
end

local function trip()
  st.t = st.t + 1
  st.s, st.g = 1, st.g + 1
  st.u = now + open_for(st.t)
  st.c, st.p, st.k = 0, 0, 0
  clear_window()
end

local function status(changed, stale)
  local calls, fails = sum()
  local retry = 0
  if st.s == 1 and st.u > now then retry = st.u - now end
  return {st.s, st.g, changed and 1 or 0, stale and 1 or 0, st.c, calls, fails, st.t, st.p, retry}
end

if op == 'status' then
  return status(false, false)
end

if op == 'acquire' then
  local changed = false
  if st.s == 0 then
    return {1, 0, st.g, 0, 0}
  end
  if st.s == 1 then
    if now < st.u then
      return {0, 1, st.g, st.u - now, 0}
    end
    st.s, st.g, st.p, st.k = 2, st.g + 1, 0, 0
    changed, dirty = true, true
  end
  if st.p > 0 and now - st.ps >= open_us then
    -- The holders never reported: count them as lost, in a new generation so that a late
    -- report cannot free a slot that a newer probe holds.
    st.p, st.g = 0, st.g + 1
    dirty = true
  end
  if st.p >= max_probes then
    if dirty then save() end
    return {0, 2, st.g, st.ps + open_us - now, 0}
  end
  st.p = st.p + 1
  st.ps = now
  save()
  return {1, 2, st.g, 0, changed and 1 or 0}
end

-- record
local gen, outcome = tonumber(ARGV[11]), tonumber(ARGV[12])
if gen ~= st.g or st.s == 1 then
  return status(false, true)
end
local changed = false
if st.s == 0 then
  if outcome ~= 2 then
    local failed = outcome == 1
    count(failed)
    if failed then st.c = st.c + 1 else st.c = 0 end
    local calls, fails = sum()
    if (cf > 0 and st.c >= cf) or (rate > 0 and calls >= min_calls and fails / calls >= rate) then
      trip()
      changed = true
    end
    save()
  end
elseif st.s == 2 then
  if st.p > 0 then st.p = st.p - 1 end
  if outcome == 1 then
    trip()
    changed = true
  elseif outcome == 0 then
    st.k = st.k + 1
    if st.k >= need then
      st.s, st.g, st.t, st.c, st.p, st.k = 0, st.g + 1, 0, 0, 0, 0
      clear_window()
      changed = true
    end
  end
  save()
end
return status(changed, false)
