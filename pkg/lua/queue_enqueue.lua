-- queue_enqueue.lua: add a job to a queue, or return the job an idempotency key already names.
--
-- KEYS[1] -> the ready set: score -priority, member <"0" reaped | "1"><seq, 16 digits>:<id>
-- KEYS[2] -> the meta hash: id -> "<priority>|<seq>|<attempt>|<enqueued_us>" for every job held
--            (ready, delayed, in flight or dead)
-- KEYS[3] -> the payload hash: id -> the payload's bytes
-- KEYS[4] -> the delayed set: id scored by due time in µs
-- KEYS[5] -> the in-flight set: id scored by lease deadline in µs
-- KEYS[6] -> the depth hash: priority -> ready jobs of that priority
-- KEYS[7] -> the counter hash: fields "seq", "token", "dead"
-- KEYS[8] -> the wake list that idle workers BLPOP
-- KEYS[9] -> the idempotency key's string "<expires_us>:<id>" (passed, and untouched, when
--            the job has no idempotency key)
-- ARGV[1] -> now in µs, or "0" to read Redis TIME
-- ARGV[2] -> the job's id, or "" to assign one: the sequence number in base 36, "-", ARGV[3]
-- ARGV[3] -> a random suffix for an assigned id
-- ARGV[4] -> priority (0 to store.MaxPriority, validated by the caller)
-- ARGV[5] -> delay in µs (0: ready at once)
-- ARGV[6] -> "1" when KEYS[9] is the job's idempotency key, "0" otherwise
-- ARGV[7] -> the idempotency key's TTL in µs
-- ARGV[8] -> MaxLen: the jobs (ready, delayed, in flight) the queue may hold
-- ARGV[9] -> the payload (MaxPayload is checked by the caller)
-- ARGV[10] -> how many wake markers the wake list keeps at most
-- returns -> {id, existed}: existed is 1 when the idempotency key named a live job's id, and
--            then nothing was added.
--            Errors: "QUEUEFULL <held>" when the queue holds MaxLen jobs; "DUPID <id>" when a
--            job with that id is held already.

local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local use_idem = ARGV[6] == '1'
if use_idem then
  local v = redis.call('GET', KEYS[9])
  if v then
    local exp, id = string.match(v, '^(-?%d+):(.*)$')
    if exp and tonumber(exp) > now then
      return {id, 1}
    end
  end
end

local held = redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[4]) + redis.call('ZCARD', KEYS[5])
if held >= tonumber(ARGV[8]) then
  return redis.error_reply('QUEUEFULL ' .. string.format('%d', held))
end

local seq = (tonumber(redis.call('HGET', KEYS[7], 'seq')) or 0) + 1
local id = ARGV[2]
if id == '' then
  local digits = '0123456789abcdefghijklmnopqrstuvwxyz'
  local n, s = seq, ''
  repeat
    local d = n % 36
    s = string.sub(digits, d + 1, d + 1) .. s
    n = (n - d) / 36
  until n == 0
  id = s .. '-' .. ARGV[3]
end
if redis.call('HEXISTS', KEYS[2], id) == 1 then
  return redis.error_reply('DUPID job id already in use')
end
redis.call('HSET', KEYS[7], 'seq', string.format('%d', seq))

local prio = tonumber(ARGV[4])
redis.call('HSET', KEYS[2], id, string.format('%d|%d|0|%d', prio, seq, now))
redis.call('HSET', KEYS[3], id, ARGV[9])
local delay = tonumber(ARGV[5])
if delay > 0 then
  redis.call('ZADD', KEYS[4], string.format('%d', now + delay), id)
else
  redis.call('ZADD', KEYS[1], string.format('%d', -prio), string.format('1%016d:', seq) .. id)
  redis.call('HINCRBY', KEYS[6], ARGV[4], 1)
end

if use_idem then
  local ttl = tonumber(ARGV[7])
  -- Under a clock override (tests) the key lives at least ten minutes of real time: the
  -- stored expiry, read against the override's time, decides; PX only clears the key away.
  local px = math.floor((ttl + 999) / 1000)
  if ARGV[1] ~= '0' and px < 600000 then px = 600000 end
  redis.call('SET', KEYS[9], string.format('%d:', now + ttl) .. id, 'PX', px)
end

redis.call('LPUSH', KEYS[8], '1')
redis.call('LTRIM', KEYS[8], 0, tonumber(ARGV[10]) - 1)
return {id, 0}
