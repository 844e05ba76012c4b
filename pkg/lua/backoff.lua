-- backoff.lua: a rejection whose response carried no quota: cut the key's request pace and pause
-- the key, fleet-wide, once per episode: rejections that come back while the key is paused are
-- no news (store.Backoff documents the rule).
--
-- KEYS[1] -> the key's limiter hash (see take.lua; "L" as learn.lua describes it, "b" the pause)
-- ARGV[1] -> now in µs, or "0" to read Redis TIME
-- ARGV[2] -> the multiplicative decrease, in (0, 1)
-- ARGV[3] -> the strictest configured limit's interval in µs
-- ARGV[4] -> the additive increase per admitted take, as a share of the rate the cut sets
-- ARGV[5] -> the pause after a cut made far above the admitted rate, µs
-- ARGV[6] -> the server's Retry-After in µs, or -1
-- ARGV[7] -> "1" to hold the rate instead of cutting it (the server said when to come back)
-- ARGV[8] -> the refused request's round trip in µs, 0 when unknown: the key's first cut or hold
--            comes back no faster than one request per four of them (store.ProbeRoundTrips), and
--            grows (store.ProbeGrowth) until the next refusal
-- returns -> the request pace's interval µs, burst, until µs; the unit pace's three; the pause's
--            end µs (0 when none); cuts

local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = t[1] * 1000000 + t[2]
end
local factor, ceiling, recover = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local pause, retry = tonumber(ARGV[5]), tonumber(ARGV[6])
local vals = redis.call('HMGET', KEYS[1], 'L', 'b', 'x')
local L = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
if vals[1] then
  L = {}
  for w in string.gmatch(vals[1], '%S+') do L[#L + 1] = tonumber(w) end
end
local blocked = tonumber(vals[2]) or 0
local function active(j) return L[j + 1] > 0 and (L[j + 3] == 0 or now < L[j + 3]) end

local wait = -1
local rtt = tonumber(ARGV[8]) or 0
local probed = 0 -- one request per four round trips (store.ProbeRoundTrips), per µs
if rtt > 0 then probed = 1 / (4 * rtt) end
local probe = false -- the first cut or hold, slowed to the round trip's pace
-- A refusal while the key is paused, or of a request sent before the last cut, is no news.
if blocked <= now and not (rtt > 0 and now - rtt < L[11]) then
  local cur = 1 / ceiling
  if active(0) then cur = 1 / L[1] end
  local far, first = L[11] == 0, L[11] == 0
  probe = first and rtt > 0 and cur > probed
  if probe then cur = probed end
  if L[11] > 0 then
    local admitted = L[12] / (now - L[11])
    if ARGV[7] == '1' then
      if 2 * admitted < cur then cur = 2 * admitted end
    elseif cur > 2 * admitted then
      -- Far above what got through: the admitted rate, except that a key whose rate came from
      -- such a measurement already goes no lower than half of it (see store.Backoff).
      if L[13] >= 2 then
        cur = math.max(admitted, cur / 2)
      else
        cur = admitted
      end
      far = true
    end
  end
  if ARGV[7] == '1' then factor = 1 end
  -- The admitted rate is already what got through: not cut again.
  local rate = factor * cur
  if far and not first then rate = cur end
  if rate <= 0 then -- nothing admitted since the last cut: slower than the pace in force
    local iv = 0
    if active(0) then iv = L[1] end
    if ceiling > iv then iv = ceiling end
    rate = factor / iv
  end
  L[9], L[10] = rate, recover * rate
  -- A probe far below the ceiling grows by a tenth of its rate per admitted take
  -- (store.ProbeGrowth) until the next refusal measures the server, or it is back at the ceiling.
  probe = probe and rate * ceiling <= 0.1
  if probe then L[10] = 0.1 * rate end
  L[1], L[2], L[3] = math.ceil(1 / rate), 1, 0
  L[11], L[12], L[13] = now, 0, L[13] + 1
  wait = L[1]
  if far then wait = pause end
elseif L[13] == 1 and rtt > 0 and L[9] > 0 and active(0) then
  -- Still the first episode: a refusal that came back sooner tells of a shorter round trip, and
  -- the first cut comes back at one request per four of the shortest.
  local f, cur = factor, 1 / ceiling
  if ARGV[7] == '1' then f = 1 end
  if cur > probed then cur = probed end
  if f * cur > L[9] then
    L[9] = f * cur
    L[1] = math.ceil(1 / L[9])
  end
end
if retry >= 0 then wait = retry end
if wait >= 0 and now + wait > blocked then blocked = now + wait end
if ARGV[7] == '1' and L[11] == now and not probe then
  -- A held rate does not recover: it is what the server let through, and it lapses a minute
  -- after the pause unless the server refuses again.
  L[10] = 0
  L[3] = math.max(blocked, now) + 60000000
end

local kv = {'L', string.format('%d %d %d %d %d %d %d %d %.17g %.17g %d %d %d', unpack(L)), 'b', blocked}
-- The state lasts a minute past the cut, and a second past the pause.
local last = math.max(L[11] + 60000000, blocked)
local ttl = 0
if (tonumber(vals[3]) or 0) < last + 1000000 then
  ttl = math.ceil((last - now) / 1000) + 2000
  if ARGV[1] ~= '0' and ttl < 600000 then ttl = 600000 end
  kv[5], kv[6] = 'x', now + ttl * 1000
end
redis.call('HSET', KEYS[1], unpack(kv))
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end

local out = {0, 0, 0, 0, 0, 0, 0, L[13]}
for j = 0, 4, 4 do
  if active(j) then out[j * 3 / 4 + 1], out[j * 3 / 4 + 2], out[j * 3 / 4 + 3] = L[j + 1], L[j + 2], L[j + 3] end
end
if blocked > now then out[7] = blocked end
return out
