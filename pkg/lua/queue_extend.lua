-- queue_extend.lua: push a held lease's deadline to now + lease.
--
-- KEYS[1] -> the in-flight set: id scored by lease deadline in µs
-- KEYS[2] -> the meta hash (see queue_enqueue.lua): the token of a job in flight
-- ARGV[1] -> now in µs, or "0" to read Redis TIME
-- ARGV[2] -> the job's id
-- ARGV[3] -> the caller's token, 19 digits (as the meta hash holds it)
-- ARGV[4] -> the lease in µs (> 0)
-- returns -> the new deadline in µs, as a decimal string.
--            Error: "LEASELOST <why>" when the job is not in flight under that token.

local nows = ARGV[1]
if nows == '0' then
  local t = redis.call('TIME')
  nows = t[1] .. string.sub('00000' .. t[2], -6)
end

local m = redis.call('HGET', KEYS[2], ARGV[2])
if not m or string.sub(m, 12, 30) ~= ARGV[3] then
  return redis.error_reply('LEASELOST the job is not in flight under this token')
end
local deadline = string.format('%d', tonumber(nows) + tonumber(ARGV[4]))
redis.call('ZADD', KEYS[1], deadline, ARGV[2])
return deadline
