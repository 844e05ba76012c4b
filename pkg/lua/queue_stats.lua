-- queue_stats.lua: a queue's shape at one instant.
--
-- KEYS[1] -> the depth hash: priority -> ready jobs of that priority
-- KEYS[2] -> the in-flight set
-- KEYS[3] -> the delayed set
-- KEYS[4] -> the dead set
-- returns -> {in_flight, delayed, dead, priority, count, priority, count, ...}: the counts of
--            the three sets, then the depth hash's fields and values (decimal strings)

local out = {redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4])}
for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do
  out[#out + 1] = v
end
return out
