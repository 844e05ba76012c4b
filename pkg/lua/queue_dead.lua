-- queue_dead.lua: list the dead-letter set, or move a dead job back to ready.
--
-- KEYS[1] -> the dead set: id scored by the order of burial, oldest first
-- KEYS[2] -> the meta hash (see queue_enqueue.lua): a dead job's last error is its burial reason
-- KEYS[3] -> the payload hash (see queue_enqueue.lua)
-- KEYS[4] -> the ready set (see queue_enqueue.lua)
-- KEYS[5] -> the wake list (see queue_enqueue.lua)
-- KEYS[6] -> requeue: the job's result string (deleted); list: passed, and untouched
-- KEYS[7] -> the delayed set (see queue_enqueue.lua); list: untouched
-- KEYS[8] -> the in-flight set (see queue_enqueue.lua); list: untouched
-- ARGV[1] -> "list" or "requeue"
-- ARGV[2] -> list: at most how many jobs (≥ 1); requeue: the job's id
-- ARGV[3] -> requeue: MaxLen, the jobs (ready, delayed, in flight) the queue may hold
-- returns -> list: {id, meta, payload, ...}, three strings per job, oldest first: meta in the
--            layout of queue_enqueue.lua, payload the payload if the entry does not hold it
--            ("" otherwise); requeue: 0.
--            Error: "NOTFOUND <why>" when requeue names no dead job; "QUEUEFULL <held>" when
--            the queue holds MaxLen jobs (the job stays dead).

-- current: see queue_dequeue.lua.
local function current(m)
  if string.byte(m, 31) == 124 then
    return m
  end
  local p, s, a, e = string.match(m, '^(%d+)|(%d+)|(%d+)|(-?%d+)')
  return string.format('%010d|-------------------|x|', tonumber(a)) .. p .. '|' ..
    string.format('%016d', tonumber(s)) .. '|' .. e .. '|0|'
end

if ARGV[1] == 'list' then
  local out = {}
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], '0', string.format('%d', tonumber(ARGV[2]) - 1))) do
    local m = current(redis.call('HGET', KEYS[2], id))
    out[#out + 1] = id
    out[#out + 1] = m
    if string.byte(m, 32) == 120 then -- "x"
      out[#out + 1] = redis.call('HGET', KEYS[3], id) or ''
    else
      out[#out + 1] = ''
    end
  end
  return out
end

if ARGV[1] ~= 'requeue' then
  return redis.error_reply('ERR unknown operation ' .. ARGV[1])
end
local id = ARGV[2]
if not redis.call('ZSCORE', KEYS[1], id) then
  return redis.error_reply('NOTFOUND no such dead job')
end
local held = redis.call('ZCARD', KEYS[4]) + redis.call('ZCARD', KEYS[7]) + redis.call('ZCARD', KEYS[8])
if held >= tonumber(ARGV[3]) then
  return redis.error_reply('QUEUEFULL ' .. string.format('%d', held))
end
redis.call('ZREM', KEYS[1], id)
local m = current(redis.call('HGET', KEYS[2], id))
local p, s = string.match(m, '^(%d+)|(%d+)|', 34)
-- Attempts start again; the reason it was buried stays as its last error.
redis.call('HSET', KEYS[2], id, '0000000000|-------------------' .. string.sub(m, 31))
redis.call('DEL', KEYS[6])
redis.call('ZADD', KEYS[4], p == '0' and '0' or '-' .. p, '1' .. s .. ':' .. id)
if redis.call('LLEN', KEYS[5]) < 16 then
  redis.call('LPUSH', KEYS[5], '1')
end
return 0
