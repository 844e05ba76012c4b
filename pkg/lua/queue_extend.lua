-- queue_extend.lua: push a held lease's deadline to now + lease.
--
-- KEYS[1] -> the in-flight set: id scored by lease deadline in µs
-- KEYS[2] -> the token hash: id -> the fencing token of its lease, for jobs in flight only
-- ARGV[1] -> now in µs, or "0" to read Redis TIME
-- ARGV[2] -> the job's id
-- ARGV[3] -> the caller's token, in decimal
-- ARGV[4] -> the lease in µs (> 0)
-- returns -> the new deadline in µs, as a decimal string.
--            Error: "LEASELOST <why>" when the job is not in flight under that token.

local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

if redis.call('HGET', KEYS[2], ARGV[2]) ~= ARGV[3] then
  return redis.error_reply('LEASELOST the job is not in flight under this token')
end
local deadline = string.format('%d', now + tonumber(ARGV[4]))
redis.call('ZADD', KEYS[1], deadline, ARGV[2])
return deadline
