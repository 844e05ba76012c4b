-- queue_stats.lua: a queue's shape at one instant.
--
-- KEYS[1] -> the ready set (see queue_enqueue.lua): score -priority
-- KEYS[2] -> the in-flight set
-- KEYS[3] -> the delayed set
-- KEYS[4] -> the dead set
-- returns -> {in_flight, delayed, dead, priority, count, priority, count, ...}: the counts of
--            the three sets, then each priority that has ready jobs, highest first, and how
--            many (decimal strings)

local out = {redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4])}
-- The ready set is counted one priority at a time: two steps for each priority present.
local from = '-inf'
while true do
  local top = redis.call('ZRANGEBYSCORE', KEYS[1], from, '+inf', 'WITHSCORES', 'LIMIT', '0', '1')
  if #top == 0 then
    break
  end
  local score = top[2]
  out[#out + 1] = string.format('%d', -tonumber(score))
  out[#out + 1] = redis.call('ZCOUNT', KEYS[1], score, score)
  from = '(' .. score
end
return out
