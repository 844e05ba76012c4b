-- queue_finish.lua: record that a held job failed: retry or bury it, fenced by its token. (An
-- ack is queue_dequeue.lua's.)
--
-- KEYS[1] -> the meta hash (see queue_enqueue.lua)
-- KEYS[2] -> the payload hash (see queue_enqueue.lua)
-- KEYS[3] -> the in-flight set: id scored by lease deadline in µs
-- KEYS[4] -> the job's result string (see queue_dequeue.lua)
-- KEYS[5] -> the ready set (see queue_enqueue.lua)
-- KEYS[6] -> the delayed set: id scored by due time in µs
-- KEYS[7] -> the dead set: id scored by the order of burial (counter field "dead")
-- KEYS[8] -> the counter hash
-- KEYS[9] -> the wake list (see queue_enqueue.lua)
-- ARGV[1] -> now in µs, or "0" to read Redis TIME
-- ARGV[2] -> "retry" or "bury"
-- ARGV[3] -> the job's id
-- ARGV[4] -> the caller's token, 19 digits (as the meta hash holds it)
-- ARGV[5] -> retry: the last error; bury: the reason
-- ARGV[6] -> retry: when the job is due again, in µs (now or earlier: ready at once); bury: the
--            result's TTL in µs
-- ARGV[7] -> retry: the longest delay in µs (store.MaxDelay): a later due time becomes now plus
--            this; bury: how long Redis keeps the result, in ms
-- ARGV[8] -> bury: MaxDead, the dead jobs kept (the oldest beyond it are forgotten)
-- returns -> 0.
--            Error: "LEASELOST <why>" when the job is not in flight under that token.

local nows = ARGV[1]
if nows == '0' then
  local t = redis.call('TIME')
  nows = t[1] .. string.sub('00000' .. t[2], -6)
end

local op, id, token, msg = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if op ~= 'retry' and op ~= 'bury' then
  return redis.error_reply('ERR unknown operation ' .. op)
end
local m = redis.call('HGET', KEYS[1], id)
-- A meta entry written before tokens moved into it (see queue_dequeue.lua) holds no lease.
if not m or string.sub(m, 12, 30) ~= token then
  return redis.error_reply('LEASELOST the job is not in flight under this token')
end

redis.call('ZREM', KEYS[3], id)
-- Out of flight: no token; the message is the job's last error.
local p, s, e, n, at = string.match(m, '^(%d+)|(%d+)|(-?%d+)|(%d+)|()', 34)
redis.call('HSET', KEYS[1], id, string.sub(m, 1, 11) .. '-------------------' .. string.sub(m, 31, 33) ..
  p .. '|' .. s .. '|' .. e .. '|' .. #msg .. '|' .. msg .. string.sub(m, at + tonumber(n)))

if op == 'retry' then
  local now = tonumber(nows)
  local due = math.min(tonumber(ARGV[6]), now + tonumber(ARGV[7]))
  if due <= now then
    redis.call('ZADD', KEYS[5], p == '0' and '0' or '-' .. p, '1' .. s .. ':' .. id)
  else
    redis.call('ZADD', KEYS[6], string.format('%d', due), id)
  end
  if redis.call('LLEN', KEYS[9]) < 16 then
    redis.call('LPUSH', KEYS[9], '1')
  end
  return 0
end

local order = redis.call('HINCRBY', KEYS[8], 'dead', '1')
redis.call('ZADD', KEYS[7], string.format('%d', order), id)
redis.call('SET', KEYS[4], '1|' .. string.format('%d', tonumber(nows) + tonumber(ARGV[6])) .. '|' ..
  string.sub(m, 1, 10) .. '|' .. token .. '|' .. #msg .. '|' .. msg, 'PX', ARGV[7])
local over = redis.call('ZCARD', KEYS[7]) - tonumber(ARGV[8])
if over > 0 then
  -- The oldest dead jobs go, records and all; their results stay until they expire.
  for _, old in ipairs(redis.call('ZRANGE', KEYS[7], '0', string.format('%d', over - 1))) do
    redis.call('HDEL', KEYS[1], old)
    redis.call('HDEL', KEYS[2], old)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[7], '0', string.format('%d', over - 1))
end
return 0
