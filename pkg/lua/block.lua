-- block.lua: pause a key until a time, never shortening a longer pause.
--
-- KEYS[1] -> the key's limiter hash (see take.lua); field "b" holds the pause's end in µs
-- ARGV[1] -> now in µs, or "0" to read Redis TIME
-- ARGV[2] -> the pause's end in µs
-- returns -> the pause's end in force after the call, in µs (0 when none)

local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local untilus = tonumber(ARGV[2])
local cur = tonumber(redis.call('HGET', KEYS[1], 'b')) or 0
if untilus <= now or untilus <= cur then
  if cur > now then return cur end
  return 0
end
redis.call('HSET', KEYS[1], 'b', string.format('%d', untilus))
-- Keep the hash at least until the pause ends (take.lua extends it as buckets fill).
local ttl = math.ceil((untilus - now) / 1000) + 1000
if ARGV[1] ~= '0' and ttl < 600000 then ttl = 600000 end
local pttl = redis.call('PTTL', KEYS[1])
if pttl < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return untilus
