-- queue_reap.lua: return jobs whose lease has run out to the front of their priority.
--
-- KEYS[1] -> the ready set (see queue_enqueue.lua); reaped jobs get the member prefix "0",
--            ahead of every job of their priority that was not reaped
-- KEYS[2] -> the meta hash: id -> "<priority>|<seq>|<attempt>|<enqueued_us>"
-- KEYS[3] -> the in-flight set: id scored by lease deadline in µs
-- KEYS[4] -> the token hash: id -> the fencing token of its lease, for jobs in flight only
-- KEYS[5] -> the depth hash: priority -> ready jobs of that priority
-- KEYS[6] -> the wake list
-- ARGV[1] -> now in µs, or "0" to read Redis TIME
-- ARGV[2] -> the most leases one call returns, earliest deadline first
-- ARGV[3] -> how many wake markers the wake list keeps at most
-- returns -> how many leases were returned to the queue

local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', string.format('%d', now), 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(expired) do
  local p, s = string.match(redis.call('HGET', KEYS[2], id), '^(%d+)|(%d+)|')
  redis.call('ZREM', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  redis.call('ZADD', KEYS[1], string.format('%d', -tonumber(p)), string.format('0%016d:', tonumber(s)) .. id)
  redis.call('HINCRBY', KEYS[5], p, 1)
end

-- One marker per job returned, so that as many idle workers wake.
local n = #expired
if n > 0 then
  local cap = tonumber(ARGV[3])
  for _ = 1, math.min(n, cap) do
    redis.call('LPUSH', KEYS[6], '1')
  end
  redis.call('LTRIM', KEYS[6], 0, cap - 1)
end
return n
