-- block.lua: pause a key until a time, never shortening a longer pause.
--
-- KEYS[1] -> the key's limiter hash (see take.lua); field "b" holds the pause's end in µs and
--            field "x" the hash's expiry in µs
-- ARGV[1] -> now in µs, or "0" to read Redis TIME
-- ARGV[2] -> the pause's end in µs; one further than store.MaxDelay from now counts as that far
-- returns -> the pause's end in force after the call, in µs (0 when none)

local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
-- The longest pause, store.MaxDelay in µs, is a literal: Block passes only the time (the
-- conformance suite's Block/BeyondMaxDelay checks that the two agree).
local untilus = math.min(tonumber(ARGV[2]), now + 315360000000000)
local vals = redis.call('HMGET', KEYS[1], 'b', 'x')
local cur = tonumber(vals[1]) or 0
if untilus <= now or untilus <= cur then
  if cur > now then return cur end
  return 0
end
-- Keep the hash at least a second past the pause (take.lua extends it as buckets fill), moving
-- the expiry only forward, as take.lua does.
local expires = tonumber(vals[2]) or 0
if expires < untilus + 1000000 then
  local ttl = math.ceil((untilus - now) / 1000) + 2000
  if ARGV[1] ~= '0' and ttl < 600000 then ttl = 600000 end
  redis.call('HSET', KEYS[1], 'b', untilus, 'x', now + ttl * 1000)
  redis.call('PEXPIRE', KEYS[1], ttl)
else
  redis.call('HSET', KEYS[1], 'b', untilus)
end
return untilus
