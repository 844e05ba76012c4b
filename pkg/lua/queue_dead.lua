-- queue_dead.lua: list the dead-letter set, or move a dead job back to ready.
--
-- KEYS[1] -> the dead set: id scored by the order of burial, oldest first
-- KEYS[2] -> the meta hash: id -> "<priority>|<seq>|<attempt>|<enqueued_us>"
-- KEYS[3] -> the payload hash
-- KEYS[4] -> the last-error hash
-- KEYS[5] -> the ready set (see queue_enqueue.lua)
-- KEYS[6] -> the depth hash: priority -> ready jobs of that priority
-- KEYS[7] -> the wake list
-- KEYS[8] -> requeue: the job's result hash (deleted); list: passed, and untouched
-- ARGV[1] -> "list" or "requeue"
-- ARGV[2] -> list: at most how many jobs (≥ 1); requeue: the job's id
-- ARGV[3] -> how many wake markers the wake list keeps at most
-- returns -> list: {id, priority, payload, attempt, enqueued_us, last_error, ...}, six decimal
--            strings or byte strings per job, oldest first; requeue: 0.
--            Error: "NOTFOUND <why>" when requeue names no dead job.

local function meta(id)
  return string.match(redis.call('HGET', KEYS[2], id), '^(%d+)|(%d+)|(%d+)|(-?%d+)$')
end

if ARGV[1] == 'list' then
  local out = {}
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)) do
    local p, _, a, e = meta(id)
    out[#out + 1] = id
    out[#out + 1] = p
    out[#out + 1] = redis.call('HGET', KEYS[3], id) or ''
    out[#out + 1] = a
    out[#out + 1] = e
    out[#out + 1] = redis.call('HGET', KEYS[4], id) or ''
  end
  return out
end

if ARGV[1] ~= 'requeue' then
  return redis.error_reply('ERR unknown operation ' .. ARGV[1])
end
local id = ARGV[2]
if redis.call('ZREM', KEYS[1], id) == 0 then
  return redis.error_reply('NOTFOUND no such dead job')
end
local p, s, _, e = meta(id)
-- Attempts start again; the reason it was buried stays as its last error.
redis.call('HSET', KEYS[2], id, p .. '|' .. s .. '|0|' .. e)
redis.call('DEL', KEYS[8])
redis.call('ZADD', KEYS[5], string.format('%d', -tonumber(p)), string.format('1%016d:', tonumber(s)) .. id)
redis.call('HINCRBY', KEYS[6], p, 1)
redis.call('LPUSH', KEYS[7], '1')
redis.call('LTRIM', KEYS[7], 0, tonumber(ARGV[3]) - 1)
return 0
