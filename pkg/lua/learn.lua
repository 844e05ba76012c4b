-- learn.lua: set a key's learned paces from what a server said (remaining quota over the time to
-- its reset), fleet-wide; take.lua honours them.
--
-- KEYS[1] -> the key's limiter hash (see take.lua); field "L" holds the learned state as
--            thirteen numbers separated by spaces: the request pace (interval µs, burst, until
--            µs or 0, TAT µs), the unit pace (the same four), the request pace's recovering rate
--            and step (per µs), the last cut (µs, 0 none), takes admitted since it, and cuts
-- ARGV[1] -> now in µs, or "0" to read Redis TIME
-- ARGV[2] -> the request pace's interval in µs (0 leaves the request pace alone)
-- ARGV[3] -> its burst
-- ARGV[4] -> its end in µs
-- ARGV[5] -> the unit pace's interval in µs (0 leaves it alone)
-- ARGV[6] -> its burst
-- ARGV[7] -> its end in µs
-- returns -> 1
--
-- A replaced pace keeps its TAT, so that what was just spent still counts; a pace whose end is
-- not after now is ignored. The hash lives at least a second past the later end.

local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = t[1] * 1000000 + t[2]
end
local vals = redis.call('HMGET', KEYS[1], 'L', 'x')
local L = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
if vals[1] then
  L = {}
  for w in string.gmatch(vals[1], '%S+') do L[#L + 1] = tonumber(w) end
end
local last = 0
for j = 0, 4, 4 do
  local iv, burst, untilus = tonumber(ARGV[2 + j * 3 / 4]), tonumber(ARGV[3 + j * 3 / 4]), tonumber(ARGV[4 + j * 3 / 4])
  if iv > 0 and untilus > now then
    local was = L[j + 1] > 0 and (L[j + 3] == 0 or now < L[j + 3])
    if not was then L[j + 4] = 0 end
    L[j + 1], L[j + 2], L[j + 3] = iv, burst, untilus
    if untilus > last then last = untilus end
  end
end
if last == 0 then return 1 end
local expires = tonumber(vals[2]) or 0
local kv = {'L', string.format('%d %d %d %d %d %d %d %d %.17g %.17g %d %d %d', unpack(L))}
local ttl = 0
if expires < last + 1000000 then
  ttl = math.ceil((last - now) / 1000) + 2000
  if ARGV[1] ~= '0' and ttl < 600000 then ttl = 600000 end
  kv[3], kv[4] = 'x', now + ttl * 1000
end
redis.call('HSET', KEYS[1], unpack(kv))
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
