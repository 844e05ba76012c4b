-- queue_finish.lua: record the outcome of a held job: ack, retry or bury, fenced by its token.
--
-- KEYS[1] -> the ready set (see queue_enqueue.lua)
-- KEYS[2] -> the meta hash: id -> "<priority>|<seq>|<attempt>|<enqueued_us>"
-- KEYS[3] -> the payload hash
-- KEYS[4] -> the last-error hash: id -> what the previous attempt reported (absent: "")
-- KEYS[5] -> the delayed set: id scored by due time in µs
-- KEYS[6] -> the in-flight set: id scored by lease deadline in µs
-- KEYS[7] -> the token hash: id -> the fencing token of its lease, for jobs in flight only
-- KEYS[8] -> the depth hash: priority -> ready jobs of that priority
-- KEYS[9] -> the dead set: id scored by the order of burial (counter field "dead")
-- KEYS[10] -> the counter hash
-- KEYS[11] -> the wake list
-- KEYS[12] -> the job's result hash: d dead (0/1), b body, r reason, a attempts, t the token
--             that finished the job, x expiry in µs
-- ARGV[1] -> now in µs, or "0" to read Redis TIME
-- ARGV[2] -> "ack", "retry" or "bury"
-- ARGV[3] -> the job's id
-- ARGV[4] -> the caller's token, in decimal
-- ARGV[5] -> ack: the result body; retry: the last error; bury: the reason
-- ARGV[6] -> retry: when the job is due again, in µs (now or earlier: ready at once)
-- ARGV[7] -> ack and bury: the result's TTL in µs
-- ARGV[8] -> bury: MaxDead, the dead jobs kept (the oldest beyond it are forgotten)
-- ARGV[9] -> how many wake markers the wake list keeps at most
-- returns -> 0 when the outcome was recorded, 1 when an ack repeats the ack that finished
--            the job with the same token (nothing changes).
--            Error: "LEASELOST <why>" when the job is not in flight under that token.

local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local op, id, token = ARGV[2], ARGV[3], ARGV[4]
if redis.call('HGET', KEYS[7], id) ~= token then
  if op == 'ack' then
    local r = redis.call('HMGET', KEYS[12], 't', 'd', 'x')
    if r[1] == token and r[2] == '0' and tonumber(r[3]) > now then
      return 1
    end
  end
  return redis.error_reply('LEASELOST the job is not in flight under this token')
end

redis.call('ZREM', KEYS[6], id)
redis.call('HDEL', KEYS[7], id)
local p, s, a = string.match(redis.call('HGET', KEYS[2], id), '^(%d+)|(%d+)|(%d+)|')

local function set_last_error(msg)
  if msg == '' then
    redis.call('HDEL', KEYS[4], id)
  else
    redis.call('HSET', KEYS[4], id, msg)
  end
end

local function keep_result(dead, body, reason)
  local ttl = tonumber(ARGV[7])
  redis.call('DEL', KEYS[12])
  redis.call('HSET', KEYS[12], 'd', dead, 'b', body, 'r', reason, 'a', a, 't', token,
    'x', string.format('%d', now + ttl))
  -- Under a clock override (tests) the hash lives at least ten minutes of real time: the stored
  -- expiry, read against the override's time, decides; PX only clears the hash away.
  local px = math.floor((ttl + 999) / 1000)
  if ARGV[1] ~= '0' and px < 600000 then px = 600000 end
  redis.call('PEXPIRE', KEYS[12], px)
end

local function wake()
  redis.call('LPUSH', KEYS[11], '1')
  redis.call('LTRIM', KEYS[11], 0, tonumber(ARGV[9]) - 1)
end

if op == 'ack' then
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  keep_result('0', ARGV[5], '')
elseif op == 'retry' then
  set_last_error(ARGV[5])
  local due = tonumber(ARGV[6])
  if due <= now then
    redis.call('ZADD', KEYS[1], string.format('%d', -tonumber(p)), string.format('1%016d:', tonumber(s)) .. id)
    redis.call('HINCRBY', KEYS[8], p, 1)
  else
    redis.call('ZADD', KEYS[5], ARGV[6], id)
  end
  wake()
elseif op == 'bury' then
  set_last_error(ARGV[5])
  local order = redis.call('HINCRBY', KEYS[10], 'dead', 1)
  redis.call('ZADD', KEYS[9], string.format('%d', order), id)
  keep_result('1', '', ARGV[5])
  local over = redis.call('ZCARD', KEYS[9]) - tonumber(ARGV[8])
  if over > 0 then
    -- The oldest dead jobs go, records and all; their results stay until they expire.
    for _, old in ipairs(redis.call('ZRANGE', KEYS[9], 0, over - 1)) do
      redis.call('HDEL', KEYS[2], old)
      redis.call('HDEL', KEYS[3], old)
      redis.call('HDEL', KEYS[4], old)
    end
    redis.call('ZREMRANGEBYRANK', KEYS[9], 0, over - 1)
  end
else
  return redis.error_reply('ERR unknown operation ' .. op)
end
return 0
