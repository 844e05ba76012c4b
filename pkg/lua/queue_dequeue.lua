-- queue_dequeue.lua: promote due delayed jobs, then hand out the best ready job under a lease.
--
-- KEYS[1] -> the ready set (see queue_enqueue.lua)
-- KEYS[2] -> the meta hash: id -> "<priority>|<seq>|<attempt>|<enqueued_us>"
-- KEYS[3] -> the payload hash
-- KEYS[4] -> the last-error hash: id -> what the previous attempt reported (absent: "")
-- KEYS[5] -> the delayed set: id scored by due time in µs
-- KEYS[6] -> the in-flight set: id scored by lease deadline in µs
-- KEYS[7] -> the token hash: id -> the fencing token of its lease, for jobs in flight only
-- KEYS[8] -> the depth hash: priority -> ready jobs of that priority
-- KEYS[9] -> the counter hash: field "token" is the last token issued
-- KEYS[10] -> the wake list
-- ARGV[1] -> now in µs, or "0" to read Redis TIME
-- ARGV[2] -> the lease in µs (> 0)
-- ARGV[3] -> the most delayed jobs one call promotes, earliest due first
-- ARGV[4] -> how many wake markers the wake list keeps at most
-- ARGV[5] -> "1" when earlier calls of this dequeue promoted jobs, "0" otherwise
-- returns -> the integer 1 when the call promoted a full batch and handed out nothing: more
--            delayed jobs may be due, and the caller must call again, so that the job handed
--            out is the best of all the due ones;
--            else {} when nothing is ready, or {id, priority, payload, attempt, enqueued_us,
--            last_error, token, deadline_us}, numbers as decimal strings

local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function meta(id)
  local p, s, a, e = string.match(redis.call('HGET', KEYS[2], id), '^(%d+)|(%d+)|(%d+)|(-?%d+)$')
  return tonumber(p), tonumber(s), tonumber(a), e
end

local batch = tonumber(ARGV[3])
local due = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', string.format('%d', now), 'LIMIT', 0, batch)
for _, id in ipairs(due) do
  local prio, seq = meta(id)
  redis.call('ZREM', KEYS[5], id)
  redis.call('ZADD', KEYS[1], string.format('%d', -prio), string.format('1%016d:', seq) .. id)
  redis.call('HINCRBY', KEYS[8], string.format('%d', prio), 1)
end
if #due == batch then
  return 1
end

local top = redis.call('ZPOPMIN', KEYS[1])
if #top == 0 then
  return {}
end
local id = string.sub(top[1], 19)
local prio, seq, attempt, enq = meta(id)
local field = string.format('%d', prio)
if redis.call('HINCRBY', KEYS[8], field, -1) <= 0 then
  redis.call('HDEL', KEYS[8], field)
end
attempt = attempt + 1
redis.call('HSET', KEYS[2], id, string.format('%d|%d|%d|', prio, seq, attempt) .. enq)
local token = redis.call('HINCRBY', KEYS[9], 'token', 1)
local deadline = now + tonumber(ARGV[2])
redis.call('ZADD', KEYS[6], string.format('%d', deadline), id)
redis.call('HSET', KEYS[7], id, string.format('%d', token))

-- Jobs just promoted may be more than this caller takes: wake another worker for them.
if (#due > 0 or ARGV[5] == '1') and redis.call('ZCARD', KEYS[1]) > 0 then
  redis.call('LPUSH', KEYS[10], '1')
  redis.call('LTRIM', KEYS[10], 0, tonumber(ARGV[4]) - 1)
end

return {id, field, redis.call('HGET', KEYS[3], id) or '', string.format('%d', attempt), enq,
  redis.call('HGET', KEYS[4], id) or '', string.format('%d', token), string.format('%d', deadline)}
