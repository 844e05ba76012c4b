-- queue_reap.lua: return jobs whose lease has run out to the front of their priority.
--
-- KEYS[1] -> the ready set (see queue_enqueue.lua); reaped jobs get the member prefix "0",
--            ahead of every job of their priority that was not reaped
-- KEYS[2] -> the meta hash (see queue_enqueue.lua); a reaped job's token is cleared
-- KEYS[3] -> the in-flight set: id scored by lease deadline in µs
-- KEYS[4] -> the wake list (see queue_enqueue.lua)
-- ARGV[1] -> now in µs, or "0" to read Redis TIME
-- ARGV[2] -> the most leases one call returns, earliest deadline first
-- returns -> how many leases were returned to the queue

local nows = ARGV[1]
if nows == '0' then
  local t = redis.call('TIME')
  nows = t[1] .. string.sub('00000' .. t[2], -6)
end

-- current: see queue_dequeue.lua.
local function current(m)
  if string.byte(m, 31) == 124 then
    return m
  end
  local p, s, a, e = string.match(m, '^(%d+)|(%d+)|(%d+)|(-?%d+)')
  return string.format('%010d|-------------------|x|', tonumber(a)) .. p .. '|' ..
    string.format('%016d', tonumber(s)) .. '|' .. e .. '|0|'
end

local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', nows, 'LIMIT', '0', ARGV[2])
local n = #expired
if n == 0 then
  return 0
end
local metas = redis.call('HMGET', KEYS[2], unpack(expired))
local add, set = {}, {}
for k, id in ipairs(expired) do
  local m = current(metas[k])
  local p, s = string.match(m, '^(%d+)|(%d+)|', 34)
  add[2 * k - 1] = p == '0' and '0' or '-' .. p
  add[2 * k] = '0' .. s .. ':' .. id
  set[2 * k - 1] = id
  set[2 * k] = string.sub(m, 1, 11) .. '-------------------' .. string.sub(m, 31)
end
redis.call('ZREM', KEYS[3], unpack(expired))
redis.call('HSET', KEYS[2], unpack(set))
redis.call('ZADD', KEYS[1], unpack(add))

-- One marker per job returned, so that as many idle workers wake; the list keeps 16 at most.
local markers = {}
for k = 1, math.min(n, 16) do
  markers[k] = '1'
end
redis.call('LPUSH', KEYS[4], unpack(markers))
redis.call('LTRIM', KEYS[4], '0', '15')
return n
